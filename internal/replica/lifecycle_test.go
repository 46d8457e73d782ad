package replica

import (
	"context"
	"runtime/debug"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A deactivated store is refused to every key naming it, by id or code,
// at once through the change log and after a fresh Load; reactivated, it
// works again.
func TestDeactivatedStoreIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		mainOnly := f.create(f.ctx, keyward.KeyCreate{Name: "MainOnly", Permissions: keyward.Permissions{"orders": keyward.LevelRead},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
		all := f.create(f.ctx, ordersReader)
		main, err := f.svc.Store(f.ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		if !main.Active {
			t.Fatal("a new store is not active")
		}
		list := f.method("orders.list")
		check := func(when string, want string) {
			t.Helper()
			for _, rep := range []*Replica{f.rep, f.fresh()} {
				for _, k := range []*keyward.Key{mainOnly, all} {
					for _, name := range []string{"main", main.ID} {
						if res := rep.Verify(k.Secrets[0].Secret, list, name); res.Code != want {
							t.Errorf("%s: key %s on store %s: %s, want %s", when, k.Name, name, res.Code, want)
						}
					}
				}
			}
			if res := f.rep.Verify(all.Secrets[0].Secret, list, "online"); res.Code != keyward.CodeValid {
				t.Errorf("%s: another store: %s, want VALID", when, res.Code)
			}
		}
		check("active", keyward.CodeValid)

		off, on := false, true
		st, err := f.svc.UpdateStore(f.ctx, "main", keyward.StoreUpdate{Active: &off})
		if err != nil {
			t.Fatal(err)
		}
		if st.Active {
			t.Fatal("UpdateStore answered the store still active")
		}
		check("deactivated", keyward.CodeStoreNotAllowed)
		picks, err := f.svc.ActiveStores(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range picks {
			if s.ID == main.ID {
				t.Error("ActiveStores offers the deactivated store")
			}
		}
		if len(picks) == 0 {
			t.Error("ActiveStores lost the other stores")
		}

		if _, err := f.svc.UpdateStore(f.ctx, "main", keyward.StoreUpdate{Active: &on}); err != nil {
			t.Fatal(err)
		}
		check("reactivated", keyward.CodeValid)
	})
}

// fresh returns a replica loaded from the database now.
func (f *fixture) fresh() *Replica {
	f.tb.Helper()
	r := f.replica()
	if err := r.Load(context.Background()); err != nil {
		f.tb.Fatal(err)
	}
	return r
}

// Loads overlapping in one process leave the collector's target as they
// found it, and a target above the load's, or GC off, is not lowered.
func TestLoadRestoresTheCollectorsTarget(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	first := raiseGCPercent()
	second := raiseGCPercent()
	if got := debug.SetGCPercent(loadGCPercent); got != loadGCPercent {
		t.Fatalf("during loads: %d, want %d", got, loadGCPercent)
	}
	first()
	second()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("after overlapping loads: %d, want 100", got)
	}
	for _, set := range []int{-1, 800} {
		debug.SetGCPercent(set)
		restore := raiseGCPercent()
		if got := debug.SetGCPercent(set); got != set {
			t.Errorf("GOGC %d during a load: %d", set, got)
		}
		restore()
		if got := debug.SetGCPercent(set); got != set {
			t.Errorf("GOGC %d after a load: %d", set, got)
		}
	}
}
