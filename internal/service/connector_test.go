package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// loopback lets connection checks reach the fakes on 127.0.0.1, as an
// operator's --outbound-allow would.
var loopback = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}

// connPlatform is the demo tenant with a service holding the keyring spec
// and allowed to reach loopback, on the platform's clock.
func connPlatform(t *testing.T, db *store.DB, spec string) (*keywardtest.Platform, *service.Service) {
	t.Helper()
	p := keywardtest.New(t, db)
	return p, connService(t, p, db, spec)
}

func connService(t *testing.T, p *keywardtest.Platform, db *store.DB, spec string) *service.Service {
	t.Helper()
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, spec)), service.WithOutbound(loopback),
		service.WithClock(func() time.Time { return p.Now }))
	if err := svc.CheckSealing(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc
}

func createConn(t *testing.T, svc *service.Service, ctx context.Context, f *connectortest.Fake, name string) *keyward.Connection {
	t.Helper()
	c, err := svc.CreateConnection(ctx, keyward.ConnectionInput{Type: f.Type, Name: name, APIURL: f.URL, Fields: f.Values()})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return c
}

// Secrets are kept only sealed: no table holds any of them in clear, no
// answer shows them, and only the audited reveal gives one back.
func TestConnectionSecretsAreNeverStoredInClear(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		woo := connectortest.New(t, "woocommerce")
		fx := connectortest.New(t, "fortnox")
		sh := connectortest.New(t, "shopify")
		cw := createConn(t, svc, p.Ctx, woo, "Woo")
		cf := createConn(t, svc, p.Ctx, fx, "Books")
		in := keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: sh.URL, AccessToken: connectortest.Token,
			Secret: "shpss_app_secret_0123456789", Fields: map[string]string{"shop_domain": "fake"}}
		cs, err := svc.CreateConnection(p.Ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if cs.State != keyward.ConnectionVerified || cs.Verification.Account != "Fake Shop" {
			t.Fatalf("state %s, %+v", cs.State, cs.Verification)
		}
		all := dump(t, db)
		if !strings.Contains(all, "fake.myshopify.com") || !strings.Contains(all, "client-1") {
			t.Fatal("the dump misses the connections")
		}
		secrets := []string{connectortest.Token, connectortest.Secret, "shpss_app_secret_0123456789", "refresh-2", "access-1",
			strings.TrimSuffix(connectortest.Token, "cdef")[4:]}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Fatalf("a table holds %q in clear", s)
			}
		}
		list, err := svc.ListConnections(p.Ctx, service.ConnectionFilter{})
		if err != nil || len(list) != 3 {
			t.Fatalf("%d connections, %v", len(list), err)
		}
		one, _ := svc.Connection(p.Ctx, cw.ID)
		js, _ := json.Marshal([]any{list, one, cw, cf, cs})
		for _, s := range secrets {
			if strings.Contains(string(js), s) {
				t.Fatalf("an answer shows %q", s)
			}
		}
		if !strings.Contains(string(js), `"secrets_set":["access_token","secret"]`) {
			t.Fatalf("answers do not say which secrets are set: %s", js)
		}
		// Fortnox rotated its refresh token during the check; the new one is kept.
		got, err := svc.RevealConnectionSecret(p.Ctx, cf.ID, "refresh_token")
		if err != nil || got != fx.RefreshToken() {
			t.Fatalf("reveal refresh token = %q, %v; the fake now takes %q", got, err, fx.RefreshToken())
		}
		got, err = svc.RevealConnectionSecret(p.Ctx, cs.ID, "secret")
		if err != nil || got != "shpss_app_secret_0123456789" {
			t.Fatalf("reveal = %q, %v", got, err)
		}
		if _, err := svc.RevealConnectionSecret(p.Ctx, cs.ID, "shop_domain"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("reveal of a setting: %v", err)
		}
		audit, err := svc.ListAudit(p.Ctx, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		reveals := 0
		for _, e := range audit.Data {
			if e.Action == "connection.reveal_secret" {
				reveals++
			}
			b, _ := json.Marshal(e)
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Fatalf("the audit log holds %q", s)
				}
			}
		}
		if reveals != 2 {
			t.Fatalf("%d reveals audited, want 2", reveals)
		}
	})
}

// Saving needs a passing check, unless saved unverified on purpose; a
// failed check saves nothing and says why.
func TestSavingNeedsAPassingCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		f := connectortest.New(t, "mirakl")
		in := keyward.ConnectionInput{Type: "mirakl", Name: "Marketplace", APIURL: f.URL, Fields: f.BadValues()}
		_, err := svc.CreateConnection(p.Ctx, in)
		var e *keyward.Error
		if !errors.As(err, &e) || e.Code != keyward.EInvalid || e.Field != "verification" {
			t.Fatalf("err = %v", err)
		}
		if v, ok := e.Details["verification"].(*keyward.Verification); !ok || v.Outcome != keyward.OutcomeInvalidCredentials {
			t.Fatalf("details %v", e.Details)
		}
		if list, _ := svc.ListConnections(p.Ctx, service.ConnectionFilter{}); len(list) != 0 {
			t.Fatalf("%d saved", len(list))
		}
		in.SaveUnverified = true
		c, err := svc.CreateConnection(p.Ctx, in)
		if err != nil || c.State != keyward.ConnectionUnverified || c.Verification != nil {
			t.Fatalf("unverified save: %+v, %v", c, err)
		}
		unverified, _ := svc.ListConnections(p.Ctx, service.ConnectionFilter{State: keyward.ConnectionUnverified})
		if len(unverified) != 1 {
			t.Fatalf("the list of unverified connections holds %d", len(unverified))
		}
		// Verifying it records the failure.
		v, err := svc.VerifyConnection(p.Ctx, c.ID)
		if err != nil || v.Outcome != keyward.OutcomeInvalidCredentials {
			t.Fatalf("verify: %+v, %v", v, err)
		}
		if c, _ = svc.Connection(p.Ctx, c.ID); c.State != keyward.ConnectionFailed {
			t.Fatalf("state after a failed check: %s", c.State)
		}
		// Correcting the key (a new check passes) makes it verified.
		good := f.Values()["access_token"]
		c, err = svc.UpdateConnection(p.Ctx, c.ID, keyward.ConnectionUpdate{AccessToken: &good})
		if err != nil || c.State != keyward.ConnectionVerified || c.Verification.Account != "Fake Seller" {
			t.Fatalf("corrected: %+v, %v", c, err)
		}
		// Bad input changes nothing.
		for name, in := range map[string]keyward.ConnectionInput{
			"unknown type":   {Type: "sap", Name: "x", APIURL: f.URL},
			"no name":        {Type: "mirakl", APIURL: f.URL, Fields: f.Values()},
			"unknown field":  {Type: "mirakl", Name: "y", APIURL: f.URL, Fields: map[string]string{"access_token": "x", "colour": "red"}},
			"unknown store":  {Type: "mirakl", Name: "z", APIURL: f.URL, Fields: f.Values(), Stores: &keyward.StoreAccess{Access: "selected", IDs: []string{"mars"}}, SaveUnverified: true},
			"metadata host":  {Type: "mirakl", Name: "m", APIURL: "http://169.254.169.254", Fields: f.Values(), SaveUnverified: true},
			"duplicate name": {Type: "mirakl", Name: "MARKETPLACE", APIURL: f.URL, Fields: f.Values()},
		} {
			if _, err := svc.CreateConnection(p.Ctx, in); err == nil || keyward.ErrorCode(err) == keyward.EInternal {
				t.Errorf("%s: err = %v", name, err)
			}
		}
		if list, _ := svc.ListConnections(p.Ctx, service.ConnectionFilter{}); len(list) != 1 {
			t.Fatalf("%d connections after bad input", len(list))
		}
	})
}

// An edit that leaves a secret blank keeps the stored one; a new secret
// that fails its check is refused and the old one stays.
func TestBlankSecretKeepsTheStoredOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		f := connectortest.New(t, "woocommerce")
		c := createConn(t, svc, p.Ctx, f, "Woo")
		name, blank := "Woo shop", ""
		c, err := svc.UpdateConnection(p.Ctx, c.ID, keyward.ConnectionUpdate{Name: &name, AccessToken: &blank, Secret: &blank,
			Fields: map[string]string{"secret": ""}})
		if err != nil || c.Name != name || c.State != keyward.ConnectionVerified {
			t.Fatalf("rename: %+v, %v", c, err)
		}
		if got, _ := svc.RevealConnectionSecret(p.Ctx, c.ID, "secret"); got != "cs_"+connectortest.Secret {
			t.Fatalf("the secret after a blank edit: %q", got)
		}
		wrong := "cs_wrong_secret_000"
		if _, err := svc.UpdateConnection(p.Ctx, c.ID, keyward.ConnectionUpdate{Secret: &wrong}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a failing secret: %v", err)
		}
		if got, _ := svc.RevealConnectionSecret(p.Ctx, c.ID, "secret"); got != "cs_"+connectortest.Secret {
			t.Fatalf("the secret after a refused edit: %q", got)
		}
		off := false
		c, err = svc.UpdateConnection(p.Ctx, c.ID, keyward.ConnectionUpdate{Enabled: &off})
		if err != nil || c.Enabled {
			t.Fatalf("disable: %v", err)
		}
		if _, _, _, err := svc.ConnectionCredentials(p.Ctx, c.ID); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("credentials of a disabled connection: %v", err)
		}
		if err := svc.DeleteConnection(p.Ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Connection(p.Ctx, c.ID); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("after delete: %v", err)
		}
	})
}

// Repeated checks of unchanged credentials are answered from the last
// result: Mirakl's account call is made at most once a day, and a rate
// limit is waited out.
func TestChecksAreCachedPerConnection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		f := connectortest.New(t, "mirakl")
		c := createConn(t, svc, p.Ctx, f, "Marketplace")
		calls := f.Calls()
		for range 3 {
			v, err := svc.VerifyConnection(p.Ctx, c.ID)
			if err != nil || !v.OK() || !v.Cached {
				t.Fatalf("%+v, %v", v, err)
			}
		}
		p.Now = p.Now.Add(23 * time.Hour)
		if v, _ := svc.VerifyConnection(p.Ctx, c.ID); !v.Cached || f.Calls() != calls {
			t.Fatalf("after 23 hours: cached %v, %d calls", v.Cached, f.Calls()-calls)
		}
		p.Now = p.Now.Add(2 * time.Hour)
		f.Set(func(f *connectortest.Fake) { f.Limited = true })
		v, err := svc.VerifyConnection(p.Ctx, c.ID)
		if err != nil || v.Outcome != keyward.OutcomeRateLimited || v.RetryAfter != 2 || v.Cached || f.Calls() != calls+1 {
			t.Fatalf("after a day: %+v, %v, %d calls", v, err, f.Calls()-calls)
		}
		if v, _ := svc.VerifyConnection(p.Ctx, c.ID); !v.Cached || v.Outcome != keyward.OutcomeRateLimited || f.Calls() != calls+1 {
			t.Fatalf("within the wait: %+v", v)
		}
		f.Set(func(f *connectortest.Fake) { f.Limited = false })
		p.Now = p.Now.Add(3 * time.Second)
		if v, _ := svc.VerifyConnection(p.Ctx, c.ID); v.Cached || !v.OK() {
			t.Fatalf("after the wait: %+v", v)
		}
	})
}

// Rotating the master key reaches connection secrets; after a restart
// with the new key alone they still open, and the old key alone is refused
// at start.
func TestConnectionSecretsSurviveRotationAndRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p, svc := connPlatform(t, db, masterA)
		f := connectortest.New(t, "bigcommerce")
		var ids []string
		for _, name := range []string{"One", "Two", "Three"} {
			ids = append(ids, createConn(t, svc, p.Ctx, f, name).ID)
		}
		rotating := connService(t, p, db, masterB+","+masterA)
		got, err := rotating.RewrapSealed(ctx, 2, nil)
		if err != nil || got.Rewrapped < 4 {
			t.Fatalf("rotation: %+v, %v", got, err)
		}
		var onA int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM connections WHERE secrets_sealed LIKE 'ks1.a.%'`).Scan(&onA)
		if onA != 0 {
			t.Fatalf("%d connections left on the old key", onA)
		}
		restarted := connService(t, p, db, masterB)
		for _, id := range ids {
			if s, err := restarted.RevealConnectionSecret(p.Ctx, id, "access_token"); err != nil || s != connectortest.Token {
				t.Fatalf("after rotation and restart: %q, %v", s, err)
			}
		}
		p.Now = p.Now.Add(time.Hour)
		if v, err := restarted.VerifyConnection(p.Ctx, ids[0]); err != nil || !v.OK() {
			t.Fatalf("verify after restart: %+v, %v", v, err)
		}
		old := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterA)))
		if err := old.CheckSealing(ctx); !errors.Is(err, service.ErrWrongMasterKey) {
			t.Fatalf("the old key alone: %v", err)
		}
		if err := service.New(db, catalog.Builtin()).CheckSealing(ctx); !errors.Is(err, service.ErrNoMasterKey) {
			t.Fatalf("no key: %v", err)
		}
	})
}

// A wrong master key fails loudly at start when connections alone hold
// sealed data, and a key with the same id but other bytes cannot open a
// connection's secrets.
func TestWrongMasterKeyCannotOpenConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		f := connectortest.New(t, "klaviyo")
		c := createConn(t, svc, p.Ctx, f, "Mail")
		db.SQL().Exec(`DELETE FROM seal_canary`)
		forged := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, "a:0202020202020202020202020202020202020202020202020202020202020202")))
		if _, err := forged.RevealConnectionSecret(p.Ctx, c.ID, "access_token"); keyward.ErrorCode(err) != keyward.EInternal {
			t.Fatalf("reveal with a wrong key: %v", err)
		}
		if err := service.New(db, catalog.Builtin()).CheckSealing(context.Background()); !errors.Is(err, service.ErrNoMasterKey) {
			t.Fatalf("no key over sealed connections: %v", err)
		}
	})
}

// Without the Connectors feature every call is refused, naming it.
func TestConnectionsNeedTheConnectorsFeature(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		a := *keyward.ActorFrom(p.Ctx)
		a.Features = keyward.FeatureSet{keyward.FeatureAPIManagement}
		ctx := keyward.WithActor(context.Background(), &a)
		f := connectortest.New(t, "recharge")
		_, err := svc.CreateConnection(ctx, keyward.ConnectionInput{Type: "recharge", Name: "x", APIURL: f.URL, Fields: f.Values()})
		if keyward.ErrorCode(err) != keyward.EFeatureRequired || f.Calls() != 0 {
			t.Fatalf("create: %v, %d calls", err, f.Calls())
		}
		if _, err := svc.ListConnections(ctx, service.ConnectionFilter{}); keyward.ErrorCode(err) != keyward.EFeatureRequired {
			t.Fatalf("list: %v", err)
		}
		if _, err := svc.VerifyConnectionInput(ctx, keyward.ConnectionInput{Type: "recharge", APIURL: f.URL, Fields: f.Values()}); keyward.ErrorCode(err) != keyward.EFeatureRequired {
			t.Fatalf("verify: %v", err)
		}
	})
}

// Checks of saved connections go to webhooks subscribed to them as
// connection.verified and connection.failed, only when the check ran.
func TestChecksSendConnectionEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := connPlatform(t, db, masterA)
		w, err := svc.CreateWebhook(p.Ctx, keyward.WebhookCreate{URL: "https://hooks.example.com/conn", Events: []string{"connection.*"}})
		if err != nil {
			t.Fatal(err)
		}
		f := connectortest.New(t, "klaviyo")
		c := createConn(t, svc, p.Ctx, f, "Mail")
		svc.VerifyConnection(p.Ctx, c.ID) // cached: no event
		p.Now = p.Now.Add(2 * time.Minute)
		f.Set(func(f *connectortest.Fake) { f.Granted = nil })
		if v, err := svc.VerifyConnection(p.Ctx, c.ID); err != nil || v.Outcome != keyward.OutcomeInsufficientScope {
			t.Fatalf("%+v, %v", v, err)
		}
		ds, err := items(svc.ListDeliveries(p.Ctx, w.ID, service.DeliveryFilter{}))
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, d := range ds {
			types = append(types, d.EventType)
		}
		if strings.Join(types, ",") != "connection.failed,connection.verified" {
			t.Fatalf("events %v, want the creation's check and the failed one, newest first", types)
		}
	})
}

// items is a page's items, for a test reading a short list whole.
func items[T any](p *service.Page[T], err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}
