package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// handoverPlatform is the demo tenant, with a master key, under the
// platform's clock.
func handoverPlatform(t *testing.T, db *store.DB) *keywardtest.Platform {
	t.Helper()
	p := keywardtest.New(t, db, service.WithKeyring(keyring(t, masterA)), service.WithPublicURL("https://keys.example.com/"))
	if err := p.Svc.CheckSealing(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyHandover creates a key and a one-time link for its first secret.
func keyHandover(t *testing.T, p *keywardtest.Platform, name string, in keyward.HandoverCreate) (k *keyward.Key, h *keyward.Handover, token string) {
	t.Helper()
	k = p.CreateKey(keyward.KeyCreate{Name: name, Permissions: keyward.Permissions{"orders": "read"}})
	in.Kind, in.SubjectID = keyward.HandoverKeySecret, k.ID
	h, err := p.Svc.CreateHandover(p.Ctx, in, k.Secrets[0].Secret)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(h.URL, "https://keys.example.com/h/")
	if !ok || len(token) < 40 {
		t.Fatalf("link %q", h.URL)
	}
	return k, h, token
}

func sealedCopy(t *testing.T, db *store.DB, id string) bool {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM handovers WHERE id = ? AND secret_sealed IS NOT NULL`
	if db.Engine() == store.Postgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if err := db.SQL().QueryRow(q, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func auditActions(t *testing.T, p *keywardtest.Platform) string {
	t.Helper()
	pg, err := p.Svc.ListAudit(p.Ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range pg.Data {
		if e.ObjectType == "handover" {
			b.WriteString(e.Action + "@" + e.Address + " ")
		}
	}
	return b.String()
}

func closedState(t *testing.T, err error) string {
	t.Helper()
	var e *keyward.Error
	if !asError(err, &e) || e.Code != keyward.EConflict {
		t.Fatalf("err = %v; want a conflict", err)
	}
	return e.Details["state"].(string)
}

// A link opens once: the first open answers the secret and destroys the
// sealed copy; a second answers "already opened" with when and from where,
// and no secret. The secret is never stored in clear.
func TestHandoverOpensOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := handoverPlatform(t, db)
		k, h, token := keyHandover(t, p, "erp", keyward.HandoverCreate{Note: "for the ERP team"})
		if h.State != keyward.HandoverWaiting || h.Code != "" || !h.ExpiresAt.Equal(p.Now.Add(24*time.Hour)) {
			t.Fatalf("created: %+v", h)
		}
		plain := k.Secrets[0].Secret
		if all := dump(t, db); strings.Contains(all, plain) || strings.Contains(all, token) {
			t.Fatal("a table holds the secret or the link's token in clear")
		}
		if !sealedCopy(t, db, h.ID) {
			t.Fatal("no sealed copy before opening")
		}
		got, oh, err := p.Svc.OpenHandover(context.Background(), token, "", "203.0.113.7")
		if err != nil || got != plain || oh.State != keyward.HandoverOpened || oh.OpenedFrom != "203.0.113.7" {
			t.Fatalf("first open: %q, %+v, %v", got, oh, err)
		}
		if sealedCopy(t, db, h.ID) {
			t.Fatal("the sealed copy is kept after opening")
		}
		p.Advance(time.Minute)
		got, again, err := p.Svc.OpenHandover(context.Background(), token, "", "198.51.100.9")
		if got != "" || closedState(t, err) != keyward.HandoverOpened || again.OpenedFrom != "203.0.113.7" || !again.OpenedAt.Equal(*oh.OpenedAt) {
			t.Fatalf("second open: %q, %+v, %v", got, again, err)
		}
		// The administrator sees that and when it was opened, and no link.
		list, err := p.Svc.ListHandovers(p.Ctx, keyward.HandoverFilter{SubjectID: k.ID})
		if err != nil || len(list) != 1 || list[0].State != keyward.HandoverOpened || list[0].URL != "" || list[0].OpenedAt == nil ||
			list[0].Note != "for the ERP team" {
			t.Fatalf("list: %+v, %v", list, err)
		}
		if a := auditActions(t, p); a != "handover.open@203.0.113.7 handover.create@test " {
			t.Fatalf("audit: %s", a)
		}
		if _, _, err := p.Svc.OpenHandover(context.Background(), token+"x", "", "x"); !isCode(err, keyward.ENotFound) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

func isCode(err error, c keyward.Code) bool {
	var e *keyward.Error
	return asError(err, &e) && e.Code == c
}

// Of many opens at once, exactly one gets the secret.
func TestHandoverOpensOnceUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := handoverPlatform(t, db)
		k, _, token := keyHandover(t, p, "erp", keyward.HandoverCreate{})
		// A second service over the same database stands for another node.
		other := service.New(db, p.Svc.Catalog(), service.WithKeyring(keyring(t, masterA)), service.WithClock(func() time.Time { return p.Now }))
		var mu sync.Mutex
		var secrets []string
		var wg sync.WaitGroup
		for i := range 8 {
			svc := p.Svc
			if i%2 == 1 {
				svc = other
			}
			wg.Go(func() {
				got, h, err := svc.OpenHandover(context.Background(), token, "", "192.0.2.1")
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					secrets = append(secrets, got)
				} else if !isCode(err, keyward.EConflict) || h.State != keyward.HandoverOpened {
					t.Errorf("open: %v", err)
				}
			})
		}
		wg.Wait()
		if len(secrets) != 1 || secrets[0] != k.Secrets[0].Secret {
			t.Fatalf("%d opens got the secret; want exactly one", len(secrets))
		}
	})
}

// An unopened link expires: it opens no more, its sealed copy is destroyed
// when it is tried or by the retention job, and each is audited once.
func TestHandoverExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := handoverPlatform(t, db)
		_, a, tokenA := keyHandover(t, p, "one", keyward.HandoverCreate{TTL: time.Hour})
		_, b, _ := keyHandover(t, p, "two", keyward.HandoverCreate{TTL: 2 * time.Hour})
		p.Advance(time.Hour)
		if _, h, err := p.Svc.OpenHandover(context.Background(), tokenA, "", "192.0.2.1"); closedState(t, err) != keyward.HandoverExpired || h.OpenedAt != nil {
			t.Fatalf("open after expiry: %+v, %v", h, err)
		}
		if sealedCopy(t, db, a.ID) || !sealedCopy(t, db, b.ID) {
			t.Fatal("opening an expired link kept its sealed copy, or dropped another's")
		}
		if n, err := p.Svc.ExpireHandovers(context.Background(), 10); err != nil || n != 0 {
			t.Fatalf("expire before the second expired: %d, %v", n, err)
		}
		p.Advance(time.Hour)
		if n, err := p.Svc.ExpireHandovers(context.Background(), 10); err != nil || n != 1 || sealedCopy(t, db, b.ID) {
			t.Fatalf("expire: %d, %v", n, err)
		}
		if got := auditActions(t, p); strings.Count(got, "handover.expire@") != 2 {
			t.Fatalf("audit: %s", got)
		}
		list, err := p.Svc.ListHandovers(p.Ctx, keyward.HandoverFilter{State: keyward.HandoverExpired})
		if err != nil || len(list) != 2 {
			t.Fatalf("expired: %d, %v", len(list), err)
		}
	})
}

// A link may ask for a code: a missing one is not counted, wrong ones
// are, and the last allowed wrong one burns the link.
func TestHandoverCode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := handoverPlatform(t, db)
		k, h, token := keyHandover(t, p, "erp", keyward.HandoverCreate{RequireCode: true})
		if len(h.Code) != 9 || h.Code[4] != '-' || !h.CodeRequired {
			t.Fatalf("code %q", h.Code)
		}
		ctx := context.Background()
		if _, w, err := p.Svc.OpenHandover(ctx, token, "", "192.0.2.1"); !isCode(err, keyward.EInvalid) || w.FailedCodes != 0 || !w.CodeRequired {
			t.Fatalf("no code: %+v, %v", w, err)
		}
		for i := 1; i < keyward.MaxHandoverCodeAttempts; i++ {
			if _, w, err := p.Svc.OpenHandover(ctx, token, "WRONG-CODE", "192.0.2.1"); !isCode(err, keyward.EInvalid) || w.FailedCodes != i {
				t.Fatalf("wrong code %d: %+v, %v", i, w, err)
			}
		}
		// Typed in lower case and without its dash, the code opens.
		typed := strings.ToLower(strings.ReplaceAll(h.Code, "-", " "))
		if got, _, err := p.Svc.OpenHandover(ctx, token, typed, "192.0.2.1"); err != nil || got != k.Secrets[0].Secret {
			t.Fatalf("right code: %v", err)
		}

		_, burn, token := keyHandover(t, p, "crm", keyward.HandoverCreate{RequireCode: true})
		for range keyward.MaxHandoverCodeAttempts - 1 {
			p.Svc.OpenHandover(ctx, token, "AAAA-AAAA", "192.0.2.2")
		}
		if _, w, err := p.Svc.OpenHandover(ctx, token, "AAAA-AAAA", "192.0.2.2"); closedState(t, err) != keyward.HandoverBurned || w.BurnedAt == nil {
			t.Fatalf("last wrong code: %+v, %v", w, err)
		}
		if _, _, err := p.Svc.OpenHandover(ctx, token, burn.Code, "192.0.2.2"); closedState(t, err) != keyward.HandoverBurned {
			t.Fatalf("right code after burning: %v", err)
		}
		if sealedCopy(t, db, burn.ID) {
			t.Fatal("a burned link keeps its sealed copy")
		}
		if got := auditActions(t, p); !strings.Contains(got, "handover.burn@192.0.2.2") {
			t.Fatalf("audit: %s", got)
		}
	})
}

// Creating a link checks the TTL, the caller's feature and that the secret
// is the subject's current one, and changes nothing when refused.
func TestHandoverCreateRefusals(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	p := handoverPlatform(t, db)
	k := p.CreateKey(keyward.KeyCreate{Name: "erp", Permissions: keyward.Permissions{"orders": "read"}})
	hook := createHook(t, p.Svc, p.Ctx, 1)
	webhooksOnly := *keyward.ActorFrom(p.Ctx)
	webhooksOnly.Kind, webhooksOnly.Features = keyward.ActorUser, keyward.FeatureSet{keyward.FeatureWebhooks}
	webhooksCtx := keyward.WithActor(context.Background(), &webhooksOnly)
	for _, c := range []struct {
		name   string
		ctx    context.Context
		in     keyward.HandoverCreate
		secret string
		want   keyward.Code
	}{
		{"ttl over 7 days", p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverKeySecret, SubjectID: k.ID, TTL: 8 * 24 * time.Hour}, k.Secrets[0].Secret, keyward.EInvalid},
		{"unknown kind", p.Ctx, keyward.HandoverCreate{Kind: "password", SubjectID: k.ID}, k.Secrets[0].Secret, keyward.EInvalid},
		{"another secret", p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverKeySecret, SubjectID: k.ID}, "kw_not_this_one", keyward.EInvalid},
		{"no secret", p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverKeySecret, SubjectID: k.ID}, "", keyward.EInvalid},
		{"unknown key", p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverKeySecret, SubjectID: "key_nope"}, k.Secrets[0].Secret, keyward.ENotFound},
		{"webhook secret of another endpoint", p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverWebhookSecret, SubjectID: hook.ID}, k.Secrets[0].Secret, keyward.EInvalid},
		{"without the feature", webhooksCtx, keyward.HandoverCreate{Kind: keyward.HandoverKeySecret, SubjectID: k.ID}, k.Secrets[0].Secret, keyward.EFeatureRequired},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := p.Svc.CreateHandover(c.ctx, c.in, c.secret); !isCode(err, c.want) {
				t.Fatalf("err = %v; want %s", err, c.want)
			}
		})
	}
	if list, err := p.Svc.ListHandovers(p.Ctx, keyward.HandoverFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("after refusals: %d links, %v", len(list), err)
	}
	// The webhook's own secret is accepted, and only its administrators see the link.
	h, err := p.Svc.CreateHandover(webhooksCtx, keyward.HandoverCreate{Kind: keyward.HandoverWebhookSecret, SubjectID: hook.ID, TTL: 7 * 24 * time.Hour}, hook.Secret)
	if err != nil || !h.ExpiresAt.Equal(p.Now.Add(7*24*time.Hour)) {
		t.Fatalf("webhook link: %+v, %v", h, err)
	}
	if list, err := p.Svc.ListHandovers(webhooksCtx, keyward.HandoverFilter{}); err != nil || len(list) != 1 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	u := p.MerchantUser("Acme", "dev@acme.example")
	if _, err := p.Svc.CreateHandover(p.Ctx, keyward.HandoverCreate{Kind: keyward.HandoverMerchantAuthKey, SubjectID: u.ID}, u.AuthKey); err != nil {
		t.Fatalf("merchant link: %v", err)
	}
	if _, err := p.Svc.Handover(webhooksCtx, h.ID); err != nil {
		t.Fatal(err)
	}
}
