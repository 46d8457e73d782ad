package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// After migration 00027 a tenant made before it can keep one-time links:
// a link opens once, and its sealed secret is dropped as it opens.
func TestHandoversAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 23, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
			})
			h := &keyward.Handover{ID: "hnd_1", TenantID: "ten_a", Kind: keyward.HandoverKeySecret, SubjectID: "key_1",
				CreatedBy: "admin@a.example", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
			err := db.Write(ctx, func(q *store.Q) error {
				return q.InsertHandover(ctx, h, "tokenhash", store.HandoverSeal{CodeHash: "codehash", Sealed: "ks1.sealed"})
			})
			if err != nil {
				t.Fatal(err)
			}
			got, st, err := db.Read().HandoverByToken(ctx, "tokenhash")
			if err != nil || got == nil || !got.CodeRequired || st.Sealed != "ks1.sealed" || st.CodeHash != "codehash" || got.CreatedBy != "admin@a.example" {
				t.Fatalf("by token: %+v, %+v, %v", got, st, err)
			}
			var opened [2]bool
			for i := range opened {
				err := db.Write(ctx, func(q *store.Q) (err error) {
					opened[i], err = q.OpenHandover(ctx, "hnd_1", at.Add(time.Minute), "192.0.2.1")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if opened != [2]bool{true, false} {
				t.Fatalf("opened %v; want once", opened)
			}
			got, st, err = db.Read().HandoverByToken(ctx, "tokenhash")
			if err != nil || got.OpenedAt == nil || got.OpenedFrom != "192.0.2.1" || st.Sealed != "" {
				t.Fatalf("after opening: %+v, %+v, %v", got, st, err)
			}
		})
	}
}
