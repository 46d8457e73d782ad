package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A key saved before migration 00025 has no quota after the upgrade and
// can be given one; the counts of its periods add up across writes, and
// deleting the key's usage removes them.
func TestKeyQuotasAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 24, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO api_keys (id, tenant_id, name, name_fold, description, enabled, permissions, store_access, rate_limit, created_at, updated_at)
					VALUES (?, ?, 'Old', 'old', '', ?, '{}', 'all', 0, ?, ?)`, []any{"key_1", "ten_a", true, at, at}},
			})
			k, err := db.Read().Key(ctx, "ten_a", "key_1")
			if err != nil || k.Quota != nil {
				t.Fatalf("after the upgrade: %+v, %v", k, err)
			}
			k.Quota = &keyward.Quota{Limit: 10_000, Period: keyward.QuotaMonth}
			day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
			err = db.Write(ctx, func(q *store.Q) error {
				if err := q.UpdateKey(ctx, k); err != nil {
					return err
				}
				for _, n := range []int64{3, 4} {
					if err := q.AddQuotaUse(ctx, store.QuotaCount{KeyID: k.ID, Period: keyward.QuotaMonth, Start: at, Used: n}); err != nil {
						return err
					}
				}
				return q.AddQuotaUse(ctx, store.QuotaCount{KeyID: k.ID, Period: keyward.QuotaDay, Start: day, Used: 1})
			})
			if err != nil {
				t.Fatal(err)
			}
			if k, err = db.Read().Key(ctx, "ten_a", "key_1"); err != nil || k.Quota == nil || *k.Quota != (keyward.Quota{Limit: 10_000, Period: "month"}) || k.Version != 2 {
				t.Fatalf("after giving a quota: %+v, %v", k, err)
			}
			var seen *keyward.Quota
			if err := db.Read().EachKey(ctx, func(k *keyward.Key) error { seen = k.Quota; return nil }); err != nil || seen == nil || seen.Limit != 10_000 {
				t.Fatalf("EachKey: %+v, %v", seen, err)
			}
			counts, err := db.Read().QuotaCounts(ctx, day, at)
			if err != nil || len(counts) != 2 {
				t.Fatalf("counts: %+v, %v", counts, err)
			}
			if used, err := db.Read().QuotaUsed(ctx, k.ID, keyward.QuotaMonth, at); err != nil || used != 7 {
				t.Fatalf("used %d, %v; want 3+4", used, err)
			}
			if err := db.Write(ctx, func(q *store.Q) error { return q.DeleteUsage(ctx, k.ID) }); err != nil {
				t.Fatal(err)
			}
			if used, _ := db.Read().QuotaUsed(ctx, k.ID, keyward.QuotaMonth, at); used != 0 {
				t.Fatalf("after deleting the key's usage: %d", used)
			}
		})
	}
}
