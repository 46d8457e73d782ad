package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Keys and merchant users saved before migration 00024 may be used from
// any address after it, and can then be limited to addresses: the
// allowlist reads back, for the replica's load too, and null clears it.
func TestAllowedAddressesAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 23, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO api_keys (id, tenant_id, name, name_fold, description, enabled, permissions, store_access, rate_limit, created_at, updated_at)
					VALUES (?, ?, ?, ?, '', ?, '{}', 'all', 0, ?, ?)`, []any{"key_1", "ten_a", "THQ", "thq", true, at, at}},
				{`INSERT INTO merchants (id, tenant_id, name, name_fold, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`, []any{"mer_1", "ten_a", "Acme", "acme", at, at}},
				{`INSERT INTO merchant_users (id, tenant_id, merchant_id, email, name, level, api_access, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, 2, ?, ?, ?)`, []any{"mu_1", "ten_a", "mer_1", "ops@acme.example", "Ops", false, at, at}},
			})
			k, err := db.Read().Key(ctx, "ten_a", "key_1")
			if err != nil || k.AllowedAddresses != nil {
				t.Fatalf("key after the upgrade: %+v, %v", k, err)
			}
			u, err := db.Read().MerchantUser(ctx, "ten_a", "mu_1")
			if err != nil || u.AllowedAddresses != nil {
				t.Fatalf("merchant user after the upgrade: %+v, %v", u, err)
			}
			want := []string{"203.0.113.0/24", "2001:db8::1"}
			k.AllowedAddresses, u.AllowedAddresses = want, want
			err = db.Write(ctx, func(q *store.Q) error {
				if err := q.UpdateKey(ctx, k); err != nil {
					return err
				}
				return q.UpdateMerchantUser(ctx, u)
			})
			if err != nil {
				t.Fatal(err)
			}
			if k, err = db.Read().Key(ctx, "ten_a", "key_1"); err != nil || !slices.Equal(k.AllowedAddresses, want) {
				t.Fatalf("key's allowlist: %v, %v", k.AllowedAddresses, err)
			}
			if u, err = db.Read().MerchantUser(ctx, "ten_a", "mu_1"); err != nil || !slices.Equal(u.AllowedAddresses, want) {
				t.Fatalf("merchant user's allowlist: %v, %v", u.AllowedAddresses, err)
			}
			var loaded []string
			err = db.Read().EachKey(ctx, func(k *keyward.Key) error {
				loaded = slices.Clone(k.AllowedAddresses)
				return nil
			})
			if err != nil || !slices.Equal(loaded, want) {
				t.Fatalf("the replica's load reads %v, %v", loaded, err)
			}
			k.AllowedAddresses = nil
			if err := db.Write(ctx, func(q *store.Q) error { return q.UpdateKey(ctx, k) }); err != nil {
				t.Fatal(err)
			}
			if k, err = db.Read().Key(ctx, "ten_a", "key_1"); err != nil || k.AllowedAddresses != nil {
				t.Fatalf("key's allowlist after clearing it: %v, %v", k.AllowedAddresses, err)
			}
		})
	}
}
