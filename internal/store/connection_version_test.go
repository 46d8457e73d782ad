package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A connection saved before migration 00023 gets version 1, and every
// update raises it: its ETag changes with each change.
func TestConnectionVersionsAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 22, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO connections (id, tenant_id, type, name, name_fold, store_access, api_url, settings, secret_names,
					required_scopes, enabled, state, creds_changed_at, created_at, updated_at)
					VALUES (?, ?, 'keyward', 'Old', 'old', 'all', 'https://keys.example.com', '{}', '[]', '[]', ?, 'unverified', ?, ?, ?)`,
					[]any{"con_1", "ten_a", true, at, at, at}},
			})
			c, err := db.Read().Connection(ctx, "ten_a", "con_1")
			if err != nil || c.Version != 1 {
				t.Fatalf("after the upgrade: %+v, %v", c, err)
			}
			c.Name = "Renamed"
			if err := db.Write(ctx, func(q *store.Q) error { return q.UpdateConnection(ctx, c, "") }); err != nil {
				t.Fatal(err)
			}
			if c, err = db.Read().Connection(ctx, "ten_a", "con_1"); err != nil || c.Version != 2 || c.ETag() != `"2"` {
				t.Fatalf("after an update: version %d, %v", c.Version, err)
			}
		})
	}
}
