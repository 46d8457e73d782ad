package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

const (
	masterA = "a:0101010101010101010101010101010101010101010101010101010101010101"
	masterB = "b:0202020202020202020202020202020202020202020202020202020202020202"
)

func keyring(t *testing.T, spec string) *seal.Keyring {
	t.Helper()
	kr, err := seal.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// sealedPlatform is the demo tenant with a service holding the keyring spec.
func sealedPlatform(t *testing.T, db *store.DB, spec string) (*keywardtest.Platform, *service.Service) {
	t.Helper()
	p := keywardtest.New(t, db)
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, spec)))
	if err := svc.CheckSealing(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p, svc
}

func createHook(t *testing.T, svc *service.Service, ctx context.Context, n int) *keyward.WebhookEndpoint {
	t.Helper()
	w, err := svc.CreateWebhook(ctx, keyward.WebhookCreate{Store: "main", URL: fmt.Sprintf("https://hooks.example.com/%d", n), Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Secret, "whsec_") {
		t.Fatalf("secret %q", w.Secret)
	}
	return w
}

// dump returns every table's every row as text.
func dump(t *testing.T, db *store.DB) string {
	t.Helper()
	var tablesQuery string
	if db.Engine() == store.SQLite {
		tablesQuery = `SELECT name FROM sqlite_master WHERE type = 'table'`
	} else {
		tablesQuery = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.SQL().Query(tablesQuery)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tables = append(tables, s)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("only %d tables", len(tables))
	}
	var b strings.Builder
	for _, table := range tables {
		if db.Engine() == store.Postgres {
			rows, err := db.SQL().Query(`SELECT t::text FROM "` + table + `" t`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				rows.Scan(&s)
				b.WriteString(s + "\n")
			}
			rows.Close()
			continue
		}
		rows, err := db.SQL().Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					b.Write(bs)
				} else {
					fmt.Fprint(&b, v)
				}
				b.WriteString("|")
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}

// A webhook's signing secret is kept, but only sealed: no table holds it
// or its body in clear, while the service opens it to the one shown.
func TestWebhookSigningSecretsAreNeverStoredInClear(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := sealedPlatform(t, db, masterA)
		var hooks []*keyward.WebhookEndpoint
		for i := range 5 {
			hooks = append(hooks, createHook(t, svc, p.Ctx, i))
		}
		// A roll keeps the replaced secret, sealed too, while it signs.
		rolled, err := svc.RollWebhookSecret(p.Ctx, hooks[4].ID, keyward.WebhookRoll{Overlap: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := svc.WebhookSigningSecrets(context.Background(), rolled.TenantID, rolled.ID); err != nil || len(got) != 2 || got[0] != rolled.Secret || got[1] != hooks[4].Secret {
			t.Fatalf("after a roll: %d secrets, %v; want the new one and the old one", len(got), err)
		}
		// Events in the outbox and deliveries hold no secret either.
		if _, err := svc.SendTestEvent(p.Ctx, hooks[0].ID); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, rolled)
		all := dump(t, db)
		if !strings.Contains(all, "https://hooks.example.com/4") {
			t.Fatal("the dump misses the webhook endpoints")
		}
		for _, w := range hooks {
			body := strings.TrimPrefix(w.Secret, "whsec_")
			if strings.Contains(all, w.Secret) || strings.Contains(all, body) || strings.Contains(all, body[:16]) {
				t.Fatalf("a table holds the signing secret of %s in clear", w.ID)
			}
			got, err := svc.WebhookSigningSecrets(context.Background(), w.TenantID, w.ID)
			if err != nil || len(got) == 0 || got[0] != w.Secret && w.ID != rolled.ID {
				t.Fatalf("WebhookSigningSecrets(%s) = %d secrets, %v; want the one shown at creation", w.ID, len(got), err)
			}
		}
		list, err := svc.ListWebhooks(p.Ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(list)
		one, _ := svc.Webhook(p.Ctx, hooks[0].ID)
		js1, _ := json.Marshal(one)
		if strings.Contains(string(js)+string(js1), strings.TrimPrefix(hooks[0].Secret, "whsec_")[:16]) {
			t.Fatal("reading endpoints shows the signing secret")
		}
		// A secret belongs to its endpoint: another tenant's id opens nothing.
		if got, err := svc.WebhookSigningSecrets(context.Background(), "ten_other", hooks[0].ID); err == nil || len(got) != 0 {
			t.Fatalf("another tenant got %d secrets, %v", len(got), err)
		}
	})
}

// Without a master key, a webhook endpoint is refused, not created with a
// secret that could never sign.
func TestWebhookRefusedWithoutMasterKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := keywardtest.New(t, db)
		_, err := p.Svc.CreateWebhook(p.Ctx, keyward.WebhookCreate{Store: "main", URL: "https://hooks.example.com/", Events: []string{"*"}})
		if keyward.ErrorCode(err) != keyward.EUnavailable || !strings.Contains(keyward.ErrorMessage(err), "master key") {
			t.Fatalf("err = %v, want unavailable naming the master key", err)
		}
		if hooks, _ := p.Svc.ListWebhooks(p.Ctx, ""); len(hooks) != 0 {
			t.Fatalf("%d endpoints created", len(hooks))
		}
	})
}

// An endpoint stored before secrets were kept has none to sign with.
func TestEndpointsFromBeforeHaveNoSecret(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, svc := sealedPlatform(t, db, masterA)
		w := createHook(t, svc, p.Ctx, 1)
		if _, err := db.SQL().Exec(`UPDATE webhook_endpoints SET secret_sealed = NULL`); err != nil {
			t.Fatal(err)
		}
		got, err := svc.WebhookSigningSecrets(context.Background(), w.TenantID, w.ID)
		if err != nil || len(got) != 0 {
			t.Fatalf("got %d secrets, %v; want none", len(got), err)
		}
	})
}

// A wrong master key is found at start, even with nothing but the canary
// sealed; no master key at all is refused once something is sealed.
func TestWrongMasterKeyFailsAtStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bare := service.New(db, catalog.Builtin())
		if err := bare.CheckSealing(ctx); err != nil {
			t.Fatalf("nothing sealed yet, no key: %v", err)
		}
		if err := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterA))).CheckSealing(ctx); err != nil {
			t.Fatal(err)
		}
		if err := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterA))).CheckSealing(ctx); err != nil {
			t.Fatalf("the same key again: %v", err)
		}
		for name, spec := range map[string]string{
			"other key":             masterB,
			"same id, other bytes":  "a:0202020202020202020202020202020202020202020202020202020202020202",
			"new primary, old gone": masterB + ",c:0303030303030303030303030303030303030303030303030303030303030303",
		} {
			err := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, spec))).CheckSealing(ctx)
			if !errors.Is(err, service.ErrWrongMasterKey) {
				t.Errorf("%s: err = %v, want ErrWrongMasterKey", name, err)
			}
		}
		if err := bare.CheckSealing(ctx); !errors.Is(err, service.ErrNoMasterKey) {
			t.Fatalf("sealed data, no key: err = %v", err)
		}
	})
}

var errStop = errors.New("stopped")

// Rotating the master key rewraps every sealed value in batches; a run
// stopped after one batch loses nothing, a second run finishes, and then
// the new key alone opens everything.
func TestRotationResumesAndTheNewKeyAloneOpensAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p, svc := sealedPlatform(t, db, masterA)
		var hooks []*keyward.WebhookEndpoint
		for i := range 5 {
			hooks = append(hooks, createHook(t, svc, p.Ctx, i))
		}
		rotating := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterB+","+masterA)))
		if err := rotating.CheckSealing(ctx); err != nil {
			t.Fatal(err)
		}
		// Batches: the canary alone, then the endpoints two at a time; stop
		// after the first batch of endpoints.
		batches := 0
		got, err := rotating.RewrapSealed(ctx, 2, func(service.RewrapProgress) error {
			if batches++; batches == 2 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || got.Rewrapped != 3 {
			t.Fatalf("first run: %+v, %v; want 3 rewrapped", got, err)
		}
		onA := 0
		for _, w := range hooks {
			var v string
			db.SQL().QueryRow(`SELECT secret_sealed FROM webhook_endpoints WHERE id = '` + w.ID + `'`).Scan(&v)
			if seal.Sealed(v).KEKID() == "a" {
				onA++
			}
		}
		if onA != 3 {
			t.Fatalf("%d endpoints left on the old key, want 3", onA)
		}
		// Half way: every value still opens with the keyring holding both keys.
		for _, w := range hooks {
			if s, err := rotating.WebhookSigningSecrets(ctx, w.TenantID, w.ID); err != nil || s[0] != w.Secret {
				t.Fatalf("half way, %s: %v", w.ID, err)
			}
		}
		got, err = rotating.RewrapSealed(ctx, 2, nil)
		if err != nil || got.Total != 6 || got.Done != 6 || got.Rewrapped != 3 {
			t.Fatalf("second run: %+v, %v; want the 3 left rewrapped, 6 done", got, err)
		}
		again, err := rotating.RewrapSealed(ctx, 2, nil)
		if err != nil || again.Rewrapped != 0 {
			t.Fatalf("third run rewrapped %d, %v", again.Rewrapped, err)
		}
		// A restart with only the new key: the canary opens and so does every secret.
		restarted := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterB)))
		if err := restarted.CheckSealing(ctx); err != nil {
			t.Fatalf("restart with the new key: %v", err)
		}
		for _, w := range hooks {
			s, err := restarted.WebhookSigningSecrets(ctx, w.TenantID, w.ID)
			if err != nil || len(s) != 1 || s[0] != w.Secret {
				t.Fatalf("after rotation, %s: %v", w.ID, err)
			}
		}
		if err := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterA))).CheckSealing(ctx); !errors.Is(err, service.ErrWrongMasterKey) {
			t.Fatalf("the old key after rotation: %v", err)
		}
	})
}
