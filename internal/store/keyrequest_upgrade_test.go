package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A database from before key requests upgrades to hold integrators and
// key requests, on both engines.
func TestKeyRequestsUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			url, dir := "", t.TempDir()
			if e == store.Postgres {
				url = storetest.NewSchemaURL(t)
			}
			old, err := store.OpenAt(ctx, url, dir, 23)
			if err != nil {
				t.Fatal(err)
			}
			old.Close()
			db, err := store.Open(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			at := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
			it := &keyward.Integrator{ID: "itg_1", Name: "TranslatorHQ", CallbackURL: "https://thq.example/keys",
				Permissions: keyward.Permissions{"orders": "write"}, SecretHint: "whsec_…abcd", CreatedAt: at, UpdatedAt: at}
			if err := db.Write(ctx, func(q *store.Q) error { return q.InsertIntegrator(ctx, it, "sealed") }); err != nil {
				t.Fatal(err)
			}
			got, sealed, err := db.Read().Integrator(ctx, "ten_any", "itg_1")
			if err != nil || sealed != "sealed" || !got.Platform || got.Permissions["orders"] != "write" || !got.CreatedAt.Equal(at) {
				t.Fatalf("integrator after the upgrade: %+v %q %v", got, sealed, err)
			}
		})
	}
}
