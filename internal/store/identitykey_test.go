package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Migration 00018 adds the identity keys to a database of version 17,
// which keeps its sealed values; at most one key signs and one waits, so
// nodes creating the first key at once create one.
func TestIdentityKeysMigration(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 17, []row{
				{`INSERT INTO seal_canary (id, sealed, created_at) VALUES ('canary', 'sealed-canary', ?)`, []any{at}},
			})
			if c, err := db.Read().SealCanary(ctx); err != nil || c != "sealed-canary" {
				t.Fatalf("canary after migrating: %q %v", c, err)
			}
			if keys, err := db.Read().IdentityKeys(ctx); err != nil || len(keys) != 0 {
				t.Fatalf("identity keys after migrating: %v %v", keys, err)
			}
			insert := func(id, state string) bool {
				t.Helper()
				var ok bool
				err := db.Write(ctx, func(q *store.Q) error {
					var err error
					ok, err = q.InsertIdentityKey(ctx, store.IdentityKey{ID: id, Sealed: "sealed-" + id, State: state, CreatedAt: at})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !insert("idk_a", store.IdentityKeyCurrent) || insert("idk_b", store.IdentityKeyCurrent) {
				t.Fatal("two current identity keys, or none")
			}
			if !insert("idk_c", store.IdentityKeyNext) || insert("idk_d", store.IdentityKeyNext) {
				t.Fatal("two next identity keys, or none")
			}
			err := db.Write(ctx, func(q *store.Q) error {
				if ok, err := q.ActivateIdentityKey(ctx, "idk_c", at); err != nil || !ok {
					t.Fatalf("activate: %v %v", ok, err)
				}
				return q.DeleteIdentityKey(ctx, "idk_c") // the current key stays
			})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := db.Read().IdentityKeys(ctx)
			if err != nil || len(keys) != 2 || keys[0].State != store.IdentityKeyPrevious || keys[1].ID != "idk_c" ||
				keys[1].State != store.IdentityKeyCurrent || keys[1].ActivatedAt == nil {
				t.Fatalf("after activation: %+v %v", keys, err)
			}
			if n, err := db.Read().CountSealed(ctx, store.SealedField{Table: "identity_keys", Column: "secret_sealed"}); err != nil || n != 2 {
				t.Fatalf("sealed identity keys: %d %v", n, err)
			}
		})
	}
}
