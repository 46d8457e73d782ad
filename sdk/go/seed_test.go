package keyward_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	keyward "github.com/keyward/keyward/sdk/go"
)

// startNode runs a demo node for one test (see runDemoNode); it may send
// webhooks and reach connections on loopback.
func startNode(t *testing.T) (url, token, operator string) {
	t.Helper()
	url, token, operator, stop, err := runDemoNode(t.TempDir(), "--outbound-allow", "127.0.0.1", "--outbound-allow-http")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, token, operator
}

// The README's seed flows, through the SDK's services, against a real
// node: keys made, verified, filtered, paged, changed with merge patches
// under If-Match, rolled and deleted; a create retried with its
// idempotency key; refusals as errors; then stores, profiles and users,
// merchants and their credentials, webhooks on a loopback receiver,
// connections to this node, the operator's tenants and licences (see
// seed_flows_test.go); the audit log walked.
func TestSDKDrivesTheSeedFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a node")
	}
	url, token, operator := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := keyward.NewClient(url, keyward.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	var cpaSecret string // the CPA key's secret, for the connections

	t.Run("keys", func(t *testing.T) {
		stores, err := keyward.Collect(client.Stores.List(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(stores, func(s *keyward.Store) bool { return s.Code == "main" }) {
			t.Fatalf("the demo has no store main: %+v", stores)
		}

		create := func(in keyward.KeyCreate) *keyward.Key {
			t.Helper()
			k, err := client.Keys.Create(ctx, in)
			if err != nil {
				t.Fatalf("create %s: %v", in.Name, err)
			}
			return k
		}
		secretOf := func(k *keyward.Key) string { return *k.Secrets[0].Secret }
		verify := func(secret, method, store string) *keyward.VerifyResponse {
			t.Helper()
			v, err := client.Verify.Method(ctx, secret, method, store)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}

		// An integration that reads orders.
		thq := create(keyward.KeyCreate{Name: "THQ", Description: keyward.String("TranslatorHQ"), Permissions: &keyward.Permissions{"orders": "read", "customers": "none"}})
		if v := verify(secretOf(thq), "orders.list", "main"); v.Code != "VALID" {
			t.Errorf("THQ orders.list: %s", v.Code)
		}
		// A second key of the same name is refused, as an error.
		if _, err := client.Keys.Create(ctx, keyward.KeyCreate{Name: "thq"}); !errors.Is(err, keyward.ErrConflict) {
			t.Errorf("a second THQ: %v, want conflict", err)
		}
		var pe *keyward.ProblemError
		if _, err := client.Keys.Get(ctx, "no-such-key"); !errors.As(err, &pe) || pe.Status != 404 || !keyward.IsCode(err, "not_found") {
			t.Errorf("an unknown key: %v", err)
		}
		// One that lacks write on payments is told which permission is missing.
		re := create(keyward.KeyCreate{Name: "RE", Permissions: &keyward.Permissions{"orders": "write"}})
		v, err := client.Verify.HTTP(ctx, secretOf(re), "POST", "/api/v5/payments", "main")
		if err != nil || v.Code != "INSUFFICIENT_PERMISSION" || v.Missing == nil || v.Missing.Resource != "payments" || v.Missing.Level != "write" {
			t.Errorf("RE POST payments: %v %+v", err, v)
		}
		// One that may only read order statuses, on one store.
		selected := keyward.StoreAccessInputAccess("selected")
		cpa := create(keyward.KeyCreate{Name: "CPA", Permissions: &keyward.Permissions{"orders": "read"},
			Stores: &keyward.StoreAccessInput{Access: &selected, Ids: &[]string{"online"}}, Methods: &[]string{"orders.statuses.list"}})
		for _, c := range []struct{ method, store, want string }{
			{"orders.statuses.list", "online", "VALID"},
			{"orders.list", "online", "METHOD_NOT_ALLOWED"},
			{"orders.statuses.list", "main", "STORE_NOT_ALLOWED"},
		} {
			if v := verify(secretOf(cpa), c.method, c.store); string(v.Code) != c.want {
				t.Errorf("CPA %s on %s: %s, want %s", c.method, c.store, v.Code, c.want)
			}
		}

		// Filtered and paged: a page of one key at a time, walked to the end.
		var names []string
		for k, err := range client.Keys.List(ctx, &keyward.ListKeysParams{Limit: keyward.Int(1)}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, k.Name)
		}
		all, err := keyward.Collect(client.Keys.List(ctx, &keyward.ListKeysParams{Limit: keyward.Int(500)}))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, k := range all {
			want = append(want, k.Name)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) || !slices.Contains(names, "CPA") || !slices.Contains(names, "THQ") {
			t.Errorf("keys a page at a time: %v, all at once: %v", names, want)
		}
		access := keyward.ListKeysParamsAccess("selected")
		var onOnline []string
		for k, err := range client.Keys.List(ctx, &keyward.ListKeysParams{Enabled: keyward.Bool(true), Access: &access, Store: keyward.String("online")}) {
			if err != nil {
				t.Fatal(err)
			}
			onOnline = append(onOnline, k.Name)
		}
		if !slices.Equal(onOnline, []string{"CPA"}) {
			t.Errorf("enabled keys on selected stores including online: %v", onOnline)
		}

		// Disabled under If-Match, applied at once; a stale ETag changes nothing.
		var tag string
		if _, err := client.Keys.Get(ctx, thq.Id, keyward.ETagInto(&tag)); err != nil || tag == "" {
			t.Fatalf("get: %v, ETag %q", err, tag)
		}
		off, err := client.Keys.Update(ctx, thq.Id, keyward.KeyUpdate{Enabled: keyward.Bool(false)}, keyward.WithIfMatch(tag))
		if err != nil || off.Enabled {
			t.Fatalf("disable: %v", err)
		}
		if v := verify(secretOf(thq), "orders.list", "main"); v.Code != "DISABLED" {
			t.Errorf("a disabled key: %s", v.Code)
		}
		if _, err := client.Keys.Update(ctx, thq.Id, keyward.KeyUpdate{Enabled: keyward.Bool(true)}, keyward.WithIfMatch(tag)); !errors.Is(err, keyward.ErrPreconditionFailed) {
			t.Errorf("a stale If-Match: %v", err)
		}
		// null clears: CPA's allowlist goes, so every method orders:read allows.
		cleared, err := client.Keys.Update(ctx, cpa.Id, keyward.KeyUpdate{Methods: keyward.Null[[]string]()})
		if err != nil || !cleared.Methods.IsNull() {
			t.Fatalf("methods null: %v", err)
		}
		if v := verify(secretOf(cpa), "orders.list", "online"); v.Code != "VALID" {
			t.Errorf("CPA after its allowlist was removed: %s", v.Code)
		}
		cpaSecret = secretOf(cpa)

		// A new secret for slot 1, then the key is deleted: its secrets stop.
		if _, err := client.Keys.Roll(ctx, re.Id, keyward.KeyRoll{Slot: 1, Grace: keyward.String("24h")}); err != nil {
			t.Fatalf("roll: %v", err)
		}
		if err := client.Keys.Delete(ctx, re.Id); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if v := verify(secretOf(re), "orders.list", "main"); v.Code != "NOT_FOUND" {
			t.Errorf("a deleted key: %s", v.Code)
		}
		if err := client.Keys.Delete(ctx, re.Id); !errors.Is(err, keyward.ErrNotFound) {
			t.Errorf("deleted twice: %v", err)
		}

		// A create retried with its idempotency key creates one key.
		first, err := client.Keys.Create(ctx, keyward.KeyCreate{Name: "retried"}, keyward.WithIdempotencyKey("seed-flow-retry-1"))
		if err != nil {
			t.Fatalf("create with a key: %v", err)
		}
		again, err := client.Keys.Create(ctx, keyward.KeyCreate{Name: "retried"}, keyward.WithIdempotencyKey("seed-flow-retry-1"))
		if err != nil || again.Id != first.Id || secretOf(again) != secretOf(first) {
			t.Fatalf("the retry: %v", err)
		}
		if _, err := client.Keys.Create(ctx, keyward.KeyCreate{Name: "other"}, keyward.WithIdempotencyKey("seed-flow-retry-1")); !errors.Is(err, keyward.ErrIdempotencyKeyReused) {
			t.Errorf("the key with another body: %v", err)
		}

	})

	t.Run("stores", func(t *testing.T) { storesFlow(ctx, t, client) })
	t.Run("profiles and users", func(t *testing.T) { usersFlow(ctx, t, url, client) })
	t.Run("merchants", func(t *testing.T) { merchantsFlow(ctx, t, url, client) })
	t.Run("webhooks", func(t *testing.T) { webhooksFlow(ctx, t, client) })
	t.Run("connections", func(t *testing.T) { connectionsFlow(ctx, t, url, client, cpaSecret) })
	t.Run("operator", func(t *testing.T) { operatorFlow(ctx, t, url, token, operator) })

	// Who did what: the audit log walked two entries at a time.
	n := 0
	for _, err := range client.Audit.List(ctx, &keyward.ListAuditParams{Limit: keyward.Int(2)}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 20 {
		t.Errorf("%d audit entries, want the flows' changes", n)
	}
}
