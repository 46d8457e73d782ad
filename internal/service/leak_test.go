package service_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/leak"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// leakReport signs a report of tokens with k, as a scanning partner does.
func leakReport(t *testing.T, k *ecdsa.PrivateKey, tokens ...string) (body []byte, sig string) {
	var items []keyward.LeakReport
	for _, tok := range tokens {
		items = append(items, keyward.LeakReport{Token: tok, Type: "keyward", URL: "https://example.com/leak", Source: "content"})
	}
	body, _ = json.Marshal(items)
	sig, err := leak.Sign(k, body)
	if err != nil {
		t.Fatal(err)
	}
	return body, sig
}

// TestLeakAnswers: only a live secret is a true positive; an unknown
// secret with a valid checksum, a rolled one, a deleted key's, junk, a
// session id and the same token twice are answered in the same shape and
// change nothing. The notify policy leaves the key enabled; Auth Keys and
// personal access tokens are switched off under disable.
func TestLeakAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		pk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys := leak.Keys{"k1": &pk.PublicKey}
		send := func(tokens ...string) []keyward.LeakAnswer {
			t.Helper()
			body, sig := leakReport(t, pk, tokens...)
			a, err := f.Svc.ReportLeaks(f.Ctx, keys, "k1", sig, body, "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			return a
		}

		rolled := f.CreateKey(keyward.KeyCreate{Name: "Rolled", Permissions: keyward.Permissions{"orders": "read"}})
		if _, err := f.Svc.RollKey(f.Ctx, rolled.ID, keyward.KeyRoll{Slot: 1}); err != nil {
			t.Fatal(err)
		}
		gone := f.CreateKey(keyward.KeyCreate{Name: "Gone", Permissions: keyward.Permissions{"orders": "read"}})
		if err := f.Svc.DeleteKey(f.Ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		dead := []string{secret.Generate(secret.KindAPIKey), rolled.Secrets[0].Secret, gone.Secrets[0].Secret,
			"kwk_nonsense", secret.Generate(secret.KindSession), secret.GenerateWebhookSecret()}
		for i, a := range send(dead...) {
			if a.Label != "false_positive" || a.TokenType != "keyward" || len(a.TokenHash) != 64 {
				t.Errorf("token %d: %+v, want false_positive", i, a)
			}
		}
		if r := f.verify(rolled.Secrets[1].Secret, "orders.list", "main"); r.Code != keyward.CodeValid {
			t.Errorf("the rolled key's other secret: %s", r.Code)
		}

		// notify: a true positive, recorded, the key still works.
		if _, err := f.Svc.SetLeakPolicy(f.Ctx, keyward.LeakPolicy{OnLeak: keyward.LeakPolicyNotify}); err != nil {
			t.Fatal(err)
		}
		k := f.CreateKey(keyward.KeyCreate{Name: "Noted", Permissions: keyward.Permissions{"orders": "read"}})
		a := send(k.Secrets[1].Secret, k.Secrets[1].Secret)
		if a[0].Label != "true_positive" || a[1] != a[0] {
			t.Errorf("notify: %+v", a)
		}
		if r := f.verify(k.Secrets[1].Secret, "orders.list", "main"); r.Code != keyward.CodeValid {
			t.Errorf("under notify the key is %s", r.Code)
		}
		ls, err := f.Svc.KeyLeaks(f.Ctx, k.ID)
		if err != nil || len(ls) != 1 || ls[0].Action != "notified" || ls[0].Hint != secret.Hint(k.Secrets[1].Secret) || ls[0].URL != "https://example.com/leak" {
			t.Errorf("leaks of the key: %+v, %v", ls, err)
		}

		// disable: an Auth Key is deactivated, a token revoked.
		if _, err := f.Svc.SetLeakPolicy(f.Ctx, keyward.LeakPolicy{OnLeak: keyward.LeakPolicyDisable}); err != nil {
			t.Fatal(err)
		}
		u := f.MerchantUser("Movers", "ops@movers.test")
		_, tok, err := f.Svc.CreateToken(f.Ctx, "admin@demo.test", keyward.TokenCreate{Name: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range send(u.AuthKey, tok) {
			if a.Label != "true_positive" {
				t.Errorf("token %d: %+v", i, a)
			}
		}
		if _, _, err := f.Svc.AuthenticateMerchant(f.Ctx, u.AccountID, u.AuthKey, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Errorf("the leaked Auth Key still works: %v", err)
		}
		if _, err := f.Svc.Authenticate(f.Ctx, tok, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Errorf("the leaked token still works: %v", err)
		}
		// Reported again, they are no longer live.
		for i, a := range send(u.AuthKey, tok, "x") {
			if a.Label != "false_positive" {
				t.Errorf("token %d reported again: %+v", i, a)
			}
		}

		if _, err := f.Svc.ReportLeaks(f.Ctx, keys, "k1", "", []byte(`[]`), ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Errorf("unsigned: %v", err)
		}
		if _, err := f.Svc.SetLeakPolicy(f.Ctx, keyward.LeakPolicy{OnLeak: "ignore"}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("policy ignore: %v", err)
		}
	})
}
