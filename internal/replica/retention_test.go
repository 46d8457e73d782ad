package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A node away for longer than the change log keeps entries notices that it
// missed some and loads its replica again, rather than serving a key
// disabled while it was away.
func TestReplicaBehindRetentionLoadsAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		k := f.create(f.ctx, ordersReader)
		away := f.replica()
		if err := away.Load(ctx); err != nil {
			t.Fatal(err)
		}
		m := f.method("orders.list")
		if got := away.Verify(k.Secrets[0].Secret, m, "main"); got.Code != "VALID" {
			t.Fatalf("before: %s", got.Code)
		}
		// While the node is away: the key is disabled, then another change
		// is made, and retention removes all but the newest.
		off := false
		if _, err := f.svc.UpdateKey(f.ctx, k.ID, keyward.KeyUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		f.create(f.ctx, keyward.KeyCreate{Name: "Later", Permissions: keyward.Permissions{"orders": keyward.LevelRead}})
		if _, err := db.Prune(ctx, store.Retention{Changes: time.Hour}, time.Now().Add(48*time.Hour), 1000); err != nil {
			t.Fatal(err)
		}
		if err := away.Sync(ctx); !errors.Is(err, ErrBehind) {
			t.Fatalf("sync after missing changes: %v, want ErrBehind", err)
		}
		if err := away.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if got := away.Verify(k.Secrets[0].Secret, m, "main"); got.Code != "DISABLED" {
			t.Fatalf("after loading again: %s, want DISABLED", got.Code)
		}
		if err := away.Sync(ctx); err != nil {
			t.Fatalf("sync after the load: %v", err)
		}
	})
}
