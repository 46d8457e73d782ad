package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A tenant made before migration 00029 gets the leak policy "disable",
// and leaks and accepted reports can be recorded and read back.
func TestLeakPolicyAfterTheUpgrade(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 28, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
			})
			q := db.Read()
			if p, err := q.LeakPolicy(ctx, "ten_a"); err != nil || p != keyward.LeakPolicyDisable {
				t.Fatalf("policy after the upgrade: %q, %v", p, err)
			}
			l := &keyward.Leak{ID: "lek_1", ObjectType: "key", ObjectID: "key_1", Kind: "api_key", Hint: "kwk_…abcd",
				Type: "t", URL: "https://example.com/x", Source: "content", Action: "disabled", FoundAt: at}
			err := db.Write(ctx, func(q *store.Q) error {
				if err := q.SetLeakPolicy(ctx, "ten_a", keyward.LeakPolicyNotify); err != nil {
					return err
				}
				if err := q.InsertLeak(ctx, "ten_a", []byte("digest"), l); err != nil {
					return err
				}
				if err := q.InsertLeak(ctx, "", []byte("other"), &keyward.Leak{ID: "lek_2", FoundAt: at}); err != nil {
					return err
				}
				return q.InsertLeakReport(ctx, []byte("body"), "k1", `[]`, at)
			})
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := q.LeakPolicy(ctx, "ten_a"); p != keyward.LeakPolicyNotify {
				t.Errorf("policy = %q after setting notify", p)
			}
			ls, err := q.Leaks(ctx, "ten_a", "key_1")
			if err != nil || len(ls) != 1 || *ls[0] != *l {
				t.Errorf("leaks: %v, %v", ls, err)
			}
			if a, ok, err := q.LeakReportAnswer(ctx, []byte("body")); err != nil || !ok || a != `[]` {
				t.Errorf("report answer: %q %t %v", a, ok, err)
			}
		})
	}
}
