package keyward_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	keyward "github.com/keyward/keyward/sdk/go"
)

// startNode runs a demo node for one test (see runDemoNode).
func startNode(t *testing.T) (url, token string) {
	t.Helper()
	url, token, stop, err := runDemoNode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, token
}

func ptr[T any](v T) *T { return &v }

// The README's seed flows, through the SDK, against a real node: keys
// made, verified, filtered, paged, changed with merge patches under
// If-Match, rolled and deleted; a create retried with its idempotency
// key; the audit log walked.
func TestSDKDrivesTheSeedFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a node")
	}
	url, token := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api, err := keyward.NewAPI(url, token)
	if err != nil {
		t.Fatal(err)
	}

	stores, err := api.ListStoresWithResponse(ctx)
	if err != nil || stores.JSON200 == nil {
		t.Fatalf("stores: %v %s", err, stores.Body)
	}
	if !slices.ContainsFunc(stores.JSON200.Data, func(s keyward.Store) bool { return s.Code == "main" }) {
		t.Fatalf("the demo has no store main: %+v", stores.JSON200.Data)
	}

	create := func(in keyward.KeyCreate) keyward.Key {
		t.Helper()
		res, err := api.CreateKeyWithResponse(ctx, nil, in)
		if err != nil || res.JSON201 == nil {
			t.Fatalf("create %s: %v %s", in.Name, err, res.Body)
		}
		return *res.JSON201
	}
	secretOf := func(k keyward.Key) string { return *k.Secrets[0].Secret }
	verify := func(secret, method, store string) *keyward.VerifyResponse {
		t.Helper()
		v, err := api.Verify(ctx, secret, method, store)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// An integration that reads orders.
	thq := create(keyward.KeyCreate{Name: "THQ", Description: ptr("TranslatorHQ"), Permissions: &keyward.Permissions{"orders": "read", "customers": "none"}})
	if v := verify(secretOf(thq), "orders.list", "main"); v.Code != "VALID" {
		t.Errorf("THQ orders.list: %s", v.Code)
	}
	// One that lacks write on payments is told which permission is missing.
	re := create(keyward.KeyCreate{Name: "RE", Permissions: &keyward.Permissions{"orders": "write"}})
	v, err := api.VerifyHTTP(ctx, secretOf(re), "POST", "/api/v5/payments", "main")
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
	for k, err := range api.Keys(ctx, &keyward.ListKeysParams{Limit: ptr(keyward.Limit(1))}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, k.Name)
	}
	all, err := api.ListKeysWithResponse(ctx, &keyward.ListKeysParams{Limit: ptr(keyward.Limit(500))})
	if err != nil || all.JSON200 == nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range all.JSON200.Data {
		want = append(want, k.Name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) || !slices.Contains(names, "CPA") || !slices.Contains(names, "THQ") {
		t.Errorf("keys a page at a time: %v, all at once: %v", names, want)
	}
	access := keyward.ListKeysParamsAccess("selected")
	var onOnline []string
	for k, err := range api.Keys(ctx, &keyward.ListKeysParams{Enabled: ptr(true), Access: &access, Store: ptr("online")}) {
		if err != nil {
			t.Fatal(err)
		}
		onOnline = append(onOnline, k.Name)
	}
	if !slices.Equal(onOnline, []string{"CPA"}) {
		t.Errorf("enabled keys on selected stores including online: %v", onOnline)
	}

	// Disabled under If-Match, applied at once; a stale ETag changes nothing.
	got, err := api.GetKeyWithResponse(ctx, thq.Id)
	if err != nil || got.JSON200 == nil {
		t.Fatal(err)
	}
	tag := got.HTTPResponse.Header.Get("ETag")
	off, err := api.UpdateKeyWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, thq.Id, &keyward.UpdateKeyParams{IfMatch: &tag}, keyward.KeyUpdate{Enabled: ptr(false)})
	if err != nil || off.JSON200 == nil || off.JSON200.Enabled {
		t.Fatalf("disable: %v %s", err, off.Body)
	}
	if v := verify(secretOf(thq), "orders.list", "main"); v.Code != "DISABLED" {
		t.Errorf("a disabled key: %s", v.Code)
	}
	stale, err := api.UpdateKeyWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, thq.Id, &keyward.UpdateKeyParams{IfMatch: &tag}, keyward.KeyUpdate{Enabled: ptr(true)})
	if err != nil || stale.StatusCode() != 412 {
		t.Errorf("a stale If-Match: %v %d", err, stale.StatusCode())
	}
	// null clears: CPA's allowlist goes, so every method orders:read allows.
	cleared, err := api.UpdateKeyWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, cpa.Id, nil, keyward.KeyUpdate{Methods: nullable.NewNullNullable[[]string]()})
	if err != nil || cleared.JSON200 == nil || !cleared.JSON200.Methods.IsNull() {
		t.Fatalf("methods null: %v %s", err, cleared.Body)
	}
	if v := verify(secretOf(cpa), "orders.list", "online"); v.Code != "VALID" {
		t.Errorf("CPA after its allowlist was removed: %s", v.Code)
	}

	// A new secret for slot 1, then the key is deleted: its secrets stop.
	rolled, err := api.RollKeyWithResponse(ctx, re.Id, nil, keyward.KeyRoll{Slot: 1, Grace: ptr("24h")})
	if err != nil || rolled.JSON200 == nil {
		t.Fatalf("roll: %v %s", err, rolled.Body)
	}
	if del, err := api.DeleteKeyWithResponse(ctx, re.Id, nil); err != nil || del.StatusCode() != 204 {
		t.Fatalf("delete: %v", err)
	}
	if v := verify(secretOf(re), "orders.list", "main"); v.Code != "NOT_FOUND" {
		t.Errorf("a deleted key: %s", v.Code)
	}

	// A create retried with its idempotency key creates one key.
	idem := keyward.IdempotencyKey("seed-flow-retry-1")
	first, err := api.CreateKeyWithResponse(ctx, &keyward.CreateKeyParams{IdempotencyKey: &idem}, keyward.KeyCreate{Name: "retried"})
	if err != nil || first.JSON201 == nil {
		t.Fatalf("create with a key: %v %s", err, first.Body)
	}
	again, err := api.CreateKeyWithResponse(ctx, &keyward.CreateKeyParams{IdempotencyKey: &idem}, keyward.KeyCreate{Name: "retried"})
	if err != nil || again.JSON201 == nil || again.JSON201.Id != first.JSON201.Id || secretOf(*again.JSON201) != secretOf(*first.JSON201) {
		t.Fatalf("the retry: %v %s", err, again.Body)
	}

	// Who did what: the audit log walked two entries at a time.
	n := 0
	for _, err := range api.Audit(ctx, 2) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 8 {
		t.Errorf("%d audit entries, want the flow's changes", n)
	}
}
