package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A secret used before migration 00026 keeps its last use, with no
// address until it is used again; a tenant has no key policy until one is
// set, and each change of it raises its version.
func TestKeyLifecycleAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 23, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO api_keys (id, tenant_id, name, name_fold, description, enabled, permissions, store_access, rate_limit, created_at, updated_at)
					VALUES ('key_1', 'ten_a', 'Old', 'old', '', ?, '{}', 'all', 0, ?, ?)`, []any{true, at, at}},
				{`INSERT INTO api_key_secrets (id, key_id, slot, hint, digest, created_at, last_used_at) VALUES ('sec_1', 'key_1', 1, 'kwk_…abcd', ?, ?, ?)`,
					[]any{[]byte("digest-1"), at, at.Add(time.Hour)}},
			})
			k, err := db.Read().Key(ctx, "ten_a", "key_1")
			if err != nil {
				t.Fatal(err)
			}
			if s := k.Secrets[0]; s.LastUsedAt == nil || !s.LastUsedAt.Equal(at.Add(time.Hour)) || s.LastUsedFrom != "" {
				t.Fatalf("secret after the upgrade: %+v", s)
			}
			err = db.Write(ctx, func(q *store.Q) error {
				return q.TouchKeySecret(ctx, []byte("digest-1"), at.Add(2*time.Hour), "203.0.113.7")
			})
			if err != nil {
				t.Fatal(err)
			}
			if k, err = db.Read().Key(ctx, "ten_a", "key_1"); err != nil || k.Secrets[0].LastUsedFrom != "203.0.113.7" {
				t.Fatalf("after a use: %+v, %v", k.Secrets, err)
			}
			p, err := db.Read().KeyPolicy(ctx, "ten_a")
			if err != nil || p.Version != 0 || p.MaxLifetimeDays != 0 || p.InactiveDays != 0 {
				t.Fatalf("policy never set: %+v, %v", p, err)
			}
			for i, days := range []int{30, 60} {
				p.InactiveDays, p.UpdatedAt = days, &at
				if err := db.Write(ctx, func(q *store.Q) error { return q.PutKeyPolicy(ctx, p) }); err != nil {
					t.Fatal(err)
				}
				got, err := db.Read().KeyPolicy(ctx, "ten_a")
				if err != nil || got.InactiveDays != days || got.Version != int64(i+1) || got.ETag() != keyward.ETag(int64(i+1)) {
					t.Fatalf("policy written %d times: %+v, %v", i+1, got, err)
				}
			}
		})
	}
}
