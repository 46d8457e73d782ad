package service_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// krFixture is the demo tenant with a master key and loopback callbacks
// allowed, and TranslatorHQ registered.
type krFixture struct {
	*keywardtest.Platform
	thq *keyward.Integrator
}

func newKRFixture(t *testing.T, db *store.DB) *krFixture {
	t.Helper()
	p := keywardtest.New(t, db, service.WithKeyring(keyring(t, masterA)), service.WithOutbound(loopback))
	thq, err := p.Svc.CreateIntegrator(p.Ctx, keyward.IntegratorCreate{Name: "TranslatorHQ", CallbackURL: "http://127.0.0.1:9/keys",
		Permissions: keyward.Permissions{"orders": "write", "customers": "read", "products": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	return &krFixture{Platform: p, thq: thq}
}

// fields are a link's fields as TranslatorHQ would send them.
func (f *krFixture) fields(nonce string) map[string]string {
	return map[string]string{
		"integrator": f.thq.ID, "name": "THQ", "description": "TranslatorHQ translations", "permissions": "orders:write,customers:read",
		"stores": "main,online", "methods": "", "key_expires_at": f.Now.Add(90 * 24 * time.Hour).Format(time.RFC3339),
		"delivery": "callback", "issued_at": strconv.FormatInt(f.Now.Unix(), 10), "expires_at": "", "nonce": nonce,
	}
}

func (f *krFixture) link(fields map[string]string) string {
	f.TB.Helper()
	sig, err := service.SignLink(f.thq.Secret, fields)
	if err != nil {
		f.TB.Fatal(err)
	}
	return "https://keyward.example/key-requests/new?" + service.LinkQuery(fields, sig)
}

func wantBadLink(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var e *keyward.Error
	if !asError(err, &e) || e.Code != keyward.EInvalid || e.Field != "link" {
		t.Fatalf("%s: %v, want an invalid link", what, err)
	}
	if reason != "" && e.Details["reason"] != reason {
		t.Fatalf("%s: refused for %v (%s), want %s", what, e.Details["reason"], e.Message, reason)
	}
}

// Changing any field of a signed link, any character of its signature,
// letting it expire or using it again makes it invalid, and an invalid
// link records nothing.
func TestKeyRequestLinkTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newKRFixture(t, db)
		other, err := f.Svc.CreateIntegrator(f.Ctx, keyward.IntegratorCreate{Name: "Other", Permissions: keyward.Permissions{"orders": "write"}})
		if err != nil {
			t.Fatal(err)
		}
		good := f.fields("nonce-0123456789abcdef")
		link := f.link(good)
		changed := map[string]string{
			"integrator": other.ID, "name": "THQ2", "description": "TranslatorHQ translation", "permissions": "orders:read",
			"stores": "main", "methods": "orders.list", "key_expires_at": f.Now.Add(91 * 24 * time.Hour).Format(time.RFC3339),
			"delivery": "pickup", "issued_at": strconv.FormatInt(f.Now.Unix()-1, 10), "expires_at": strconv.FormatInt(f.Now.Add(time.Hour).Unix(), 10),
			"nonce": "nonce-0123456789abcdeF",
		}
		sig := link[strings.LastIndex(link, "sig=")+4:]
		for _, field := range service.LinkFields {
			t.Run("changed "+field, func(t *testing.T) {
				ff := map[string]string{}
				for k, v := range good {
					ff[k] = v
				}
				ff[field] = changed[field]
				_, _, err := f.Svc.OpenKeyRequest(f.Ctx, "https://keyward.example/key-requests/new?"+service.LinkQuery(ff, sig))
				wantBadLink(t, field, err, "signature")
			})
		}
		for i := range sig {
			c := byte('A')
			if sig[i] == 'A' {
				c = 'B'
			}
			bad := link[:len(link)-len(sig)+i] + string(c) + link[len(link)-len(sig)+i+1:]
			_, _, err := f.Svc.OpenKeyRequest(f.Ctx, bad)
			wantBadLink(t, "signature byte "+strconv.Itoa(i), err, "signature")
		}
		for name, bad := range map[string]string{
			"without its signature": link[:strings.LastIndex(link, "&sig=")],
			"with a field twice":    link + "&name=THQ",
			"with an unknown field": strings.Replace(link, "&sig=", "&admin=1&sig=", 1),
			"signed twice":          link + "&sig=" + sig,
		} {
			_, _, err := f.Svc.OpenKeyRequest(f.Ctx, bad)
			wantBadLink(t, name, err, "")
		}
		if rs, err := f.Svc.ListKeyRequests(f.Ctx, "", 0); err != nil || len(rs) != 0 {
			t.Fatalf("invalid links recorded %d requests (%v)", len(rs), err)
		}

		// Used once: the second opening shows the request the first made.
		r, created, err := f.Svc.OpenKeyRequest(f.Ctx, link)
		if err != nil || !created || r.Status != keyward.KeyRequestPending || r.Delivery != keyward.DeliveryCallback {
			t.Fatalf("the link: %+v, created %v, %v", r, created, err)
		}
		again, created, err := f.Svc.OpenKeyRequest(f.Ctx, link)
		if err != nil || created || again.ID != r.ID {
			t.Fatalf("the link again: %+v, created %v, %v", again, created, err)
		}

		// Expired: 7 days after issued_at by default, or at expires_at.
		late := f.link(f.fields("nonce-late-0123456789"))
		f.Advance(service.DefaultLinkLife)
		_, _, err = f.Svc.OpenKeyRequest(f.Ctx, late)
		wantBadLink(t, "a link 7 days old", err, "expired")
		if got, _ := f.Svc.KeyRequest(f.Ctx, r.ID); got.Status != keyward.KeyRequestExpired {
			t.Fatalf("the request of an expired link reads %s", got.Status)
		}
		_, err = f.Svc.ApproveKeyRequest(f.Ctx, r.ID, keyward.KeyRequestApprove{})
		wantCode(t, "approving an expired request", err, keyward.EConflict)
	})
}

// A link may not ask for more than its integrator is registered for, and
// a link from an unregistered integrator never uses a callback.
func TestKeyRequestLinkLimits(t *testing.T) {
	f := newKRFixture(t, storetest.Open(t, store.SQLite))
	ff := f.fields("nonce-ceiling-0123456789")
	ff["permissions"] = "orders:write,payments:read"
	_, _, err := f.Svc.OpenKeyRequest(f.Ctx, f.link(ff))
	wantBadLink(t, "beyond the integrator's permissions", err, "permissions")

	unsigned := f.fields("nonce-unsigned-0123456789")
	unsigned["integrator"] = ""
	r, _, err := f.Svc.OpenKeyRequest(f.Ctx, "/key-requests/new?"+service.LinkQuery(unsigned, ""))
	if err != nil || r.IntegratorID != "" || r.Delivery != keyward.DeliveryPickup {
		t.Fatalf("an unregistered link: %+v, %v", r, err)
	}
}

// An approval may narrow a request in every way and widen it in none; a
// refused approval changes nothing. The key is made as the form makes it,
// audited with the request beside it.
func TestKeyRequestApprovalNarrowsNeverWidens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newKRFixture(t, db)
		ff := f.fields("nonce-narrow-0123456789")
		ff["methods"] = "orders.list,orders.get,orders.create,customers.list"
		r, _, err := f.Svc.OpenKeyRequest(f.Ctx, f.link(ff))
		if err != nil {
			t.Fatal(err)
		}
		main, err := f.Svc.Store(f.Ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		later := f.Now.Add(200 * 24 * time.Hour)
		for name, in := range map[string]keyward.KeyRequestApprove{
			"write where read was asked": {Permissions: &keyward.Permissions{"orders": "write", "customers": "write"}},
			"a resource not asked for":   {Permissions: &keyward.Permissions{"orders": "write", "products": "read"}},
			"every store":                {Stores: &keyward.StoreAccess{Access: keyward.StoresAll}},
			"a method not asked for":     {Methods: &[]string{"orders.list", "orders.update"}},
			"a later expiry":             {ExpiresAt: &later},
		} {
			_, err := f.Svc.ApproveKeyRequest(f.Ctx, r.ID, in)
			var e *keyward.Error
			if !asError(err, &e) || e.Code != keyward.EInvalid || e.Details["reason"] != "widened" {
				t.Fatalf("%s: %v, want a refusal to widen", name, err)
			}
		}
		if got, _ := f.Svc.KeyRequest(f.Ctx, r.ID); got.Status != keyward.KeyRequestPending {
			t.Fatalf("refused approvals left the request %s", got.Status)
		}
		sooner := f.Now.Add(30 * 24 * time.Hour)
		got, err := f.Svc.ApproveKeyRequest(f.Ctx, r.ID, keyward.KeyRequestApprove{
			Permissions: &keyward.Permissions{"orders": "read"},
			Stores:      &keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}},
			Methods:     &[]string{"orders.list", "orders.get"},
			ExpiresAt:   &sooner,
		})
		if err != nil {
			t.Fatal(err)
		}
		k, err := f.Svc.Key(f.Ctx, got.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != "THQ" || k.Permissions["orders"] != "read" || len(k.Permissions) != 1 || len(k.Stores.IDs) != 1 || k.Stores.IDs[0] != main.ID ||
			len(k.Methods) != 2 || !k.ExpiresAt.Equal(sooner) {
			t.Fatalf("the key made: %+v", k)
		}
		if got.Status != keyward.KeyRequestApproved || got.DeliveryStatus != keyward.DeliveryPending {
			t.Fatalf("the request after approval: %+v", got)
		}
		wantAuditOf(t, f.Platform, "key.create", k.ID, r.ID)
		wantAuditOf(t, f.Platform, "key_request.approve", r.ID, k.ID)
		_, err = f.Svc.ApproveKeyRequest(f.Ctx, r.ID, keyward.KeyRequestApprove{})
		wantCode(t, "approving twice", err, keyward.EConflict)

		// The key waits sealed for its callback, signed by the
		// integrator's secret, and is erased once delivered.
		due, err := f.Svc.ClaimCallbacks(context.Background(), 10, time.Minute)
		if err != nil || len(due) != 1 || due[0].EventID != r.ID || len(due[0].Secrets) != 1 || due[0].Secrets[0] != f.thq.Secret {
			t.Fatalf("claimed callbacks: %+v, %v", due, err)
		}
		var body struct {
			Type string
			Key  struct {
				ID      string
				Secrets []struct{ Secret string }
			}
		}
		if err := json.Unmarshal(due[0].Payload, &body); err != nil || body.Key.ID != k.ID || len(body.Key.Secrets) != 2 {
			t.Fatalf("callback body %s (%v)", due[0].Payload, err)
		}
		wantNoTrace(t, db, "a key's secret waiting for its callback", body.Key.Secrets[0].Secret)
		if err := f.Svc.RecordCallbacks(context.Background(), []service.Outcome{{Due: &due[0], At: f.Now, StatusCode: 200}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Svc.KeyRequest(f.Ctx, r.ID); got.DeliveryStatus != keyward.DeliverySucceeded || got.Attempts != 1 {
			t.Fatalf("after delivery: %+v", got)
		}
		if n := countSealedPayloads(t, db); n != 0 {
			t.Fatalf("%d sealed keys kept after delivery", n)
		}
	})
}

func countSealedPayloads(t *testing.T, db *store.DB) int {
	t.Helper()
	n, err := db.Read().CountSealed(context.Background(), store.SealedField{Table: "key_requests", Column: "payload_sealed", TenantColumn: "tenant_id"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantAuditOf finds an audit entry of action on object naming mention.
func wantAuditOf(t *testing.T, p *keywardtest.Platform, action, object, mention string) {
	t.Helper()
	page, err := p.Svc.ListAudit(p.Ctx, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Data {
		b, _ := json.Marshal(e)
		if e.Action == action && e.ObjectID == object && strings.Contains(string(b), mention) {
			return
		}
	}
	t.Fatalf("no %s audit entry for %s naming %s", action, object, mention)
}

// A link from an unregistered integrator is approved into a one-time
// pickup link, never a callback: opened once, it gives the key with its
// secrets, which work.
func TestKeyRequestPickup(t *testing.T) {
	f := newKRFixture(t, storetest.Open(t, store.SQLite))
	unsigned := f.fields("nonce-pickup-0123456789")
	unsigned["integrator"] = ""
	r, _, err := f.Svc.OpenKeyRequest(f.Ctx, "/key-requests/new?"+service.LinkQuery(unsigned, ""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Svc.ApproveKeyRequest(f.Ctx, r.ID, keyward.KeyRequestApprove{})
	if err != nil || got.PickupURL == "" || got.Delivery != keyward.DeliveryPickup {
		t.Fatalf("approved: %+v, %v", got, err)
	}
	if due, _ := f.Svc.ClaimCallbacks(context.Background(), 10, time.Minute); len(due) != 0 {
		t.Fatalf("an unregistered link's key is due at a callback: %+v", due)
	}
	token := got.PickupURL[strings.LastIndex(got.PickupURL, "/")+1:]
	plain, _, err := f.Svc.OpenHandover(context.Background(), token, "", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Key struct {
			ID      string
			Secrets []struct{ Secret string }
		}
	}
	if err := json.Unmarshal([]byte(plain), &body); err != nil || body.Key.ID != got.KeyID || len(body.Key.Secrets) != 2 {
		t.Fatalf("the pickup gave %s (%v)", plain, err)
	}
	m, _ := f.Rep.Catalog().Method("orders.list")
	if res := f.Rep.Verify(body.Key.Secrets[0].Secret, m, "main"); res.Code != keyward.CodeValid {
		t.Fatalf("the key picked up: %s", res.Code)
	}
	if _, _, err := f.Svc.OpenHandover(context.Background(), token, "", "127.0.0.1"); err == nil {
		t.Fatal("the pickup link opened twice")
	}
}
