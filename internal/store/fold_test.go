package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Records that differ only in case, written before names were compared
// without regard to case, survive migration 00008 unchanged and can still
// be changed; a new record cannot join them.
func TestCaseDuplicatesSurviveTheNameMigration(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 7, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO api_keys (id, tenant_id, name, description, enabled, permissions, store_access, rate_limit, created_at, updated_at)
					VALUES (?, ?, ?, '', ?, '{}', 'all', 0, ?, ?)`, []any{"key_1", "ten_a", "THQ", true, at, at}},
				{`INSERT INTO api_keys (id, tenant_id, name, description, enabled, permissions, store_access, rate_limit, created_at, updated_at)
					VALUES (?, ?, ?, '', ?, '{}', 'all', 0, ?, ?)`, []any{"key_2", "ten_a", "thq", true, at.Add(time.Hour), at}},
				{`INSERT INTO profiles (id, tenant_id, name, features, created_at, updated_at) VALUES (?, ?, ?, '[]', ?, ?)`, []any{"prf_1", "ten_a", "Staff", at, at}},
				{`INSERT INTO profiles (id, tenant_id, name, features, created_at, updated_at) VALUES (?, ?, ?, '[]', ?, ?)`, []any{"prf_2", "ten_a", "STAFF", at, at}},
				{`INSERT INTO merchants (id, tenant_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, []any{"mer_1", "ten_a", "Acme", at, at}},
				{`INSERT INTO merchants (id, tenant_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`, []any{"mer_2", "ten_a", "acme", at, at}},
			})
			q := db.Read()
			keys, err := q.ListKeys(ctx, "ten_a", keyward.KeyFilter{Limit: 10})
			if err != nil || len(keys) != 2 {
				t.Fatalf("keys after migrating: %d, %v", len(keys), err)
			}
			names := map[string]bool{}
			for _, k := range keys {
				names[k.Name] = true
			}
			if !names["THQ"] || !names["thq"] {
				t.Fatalf("key names changed: %v", names)
			}
			err = db.Write(ctx, func(q *store.Q) error {
				// The later duplicate can still be changed, its name kept.
				k, err := q.Key(ctx, "ten_a", "key_2")
				if err != nil {
					return err
				}
				k.Enabled = false
				return q.UpdateKey(ctx, k)
			})
			if err != nil {
				t.Fatalf("changing a key that differs from another only in case: %v", err)
			}
			err = db.Write(ctx, func(q *store.Q) error {
				return q.InsertKey(ctx, &keyward.Key{ID: "key_3", TenantID: "ten_a", Name: "Thq", Permissions: keyward.Permissions{},
					Stores: keyward.StoreAccess{Access: keyward.StoresAll}, CreatedAt: at, UpdatedAt: at})
			})
			if keyward.ErrorCode(err) != keyward.EConflict {
				t.Fatalf("a third key Thq: %v", err)
			}
			profiles, err := q.ListProfiles(ctx, "ten_a")
			if err != nil || len(profiles) != 2 {
				t.Fatalf("profiles after migrating: %d, %v", len(profiles), err)
			}
			merchants, err := q.ListMerchants(ctx, "ten_a")
			if err != nil || len(merchants) != 2 {
				t.Fatalf("merchants after migrating: %d, %v", len(merchants), err)
			}
			err = db.Write(ctx, func(q *store.Q) error {
				return q.InsertMerchant(ctx, &keyward.Merchant{ID: "mer_3", TenantID: "ten_a", Name: "ACME", CreatedAt: at, UpdatedAt: at})
			})
			if keyward.ErrorCode(err) != keyward.EConflict {
				t.Fatalf("a third merchant ACME: %v", err)
			}
		})
	}
}

// row is one statement written before the rest of the migrations run.
type row struct {
	query string
	args  []any
}

// migrateOver opens a database of engine e migrated up to version, writes
// rows into it, and migrates it the rest of the way.
func migrateOver(t *testing.T, e store.Engine, version int64, rows []row) *store.DB {
	t.Helper()
	ctx := context.Background()
	url := ""
	if e == store.Postgres {
		url = storetest.NewSchemaURL(t)
	}
	db, err := store.OpenAt(ctx, url, t.TempDir(), version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, r := range rows {
		if err := db.Exec(ctx, r.query, r.args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrating from version %d over the rows written: %v", version, err)
	}
	return db
}
