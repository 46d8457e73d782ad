package service_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// The licence's max_keys holds when many creations race: exactly the
// limit is created, every other creation is refused with limit_exceeded.
func TestMaxKeysHoldsUnderConcurrentCreates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ten := 10
		if _, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{MaxKeys: &ten}); err != nil {
			t.Fatal(err)
		}
		// Open connections ahead, so the creations overlap from the start
		// instead of queueing for connections being dialled.
		var conns []*sql.Conn
		for range 10 {
			c, err := db.SQL().Conn(f.Op)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		const n = 100
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: fmt.Sprintf("c%03d", i)})
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch keyward.ErrorCode(err) {
			case "":
				created++
			case keyward.ELimitExceeded:
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}
		page, err := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if created != ten || len(page.Data) != ten {
			t.Fatalf("%d creations succeeded and %d keys exist under max_keys=%d", created, len(page.Data), ten)
		}
	})
}

// A grant over a licence whose expiry has passed gives access again: the
// old expiry ends with it unless the grant names a new one. A revoke or a
// change that leaves access off keeps it.
func TestGrantOverExpiredLicenceGivesAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		exp := f.Now.Add(time.Hour)
		if _, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{ExpiresAt: keyward.SetTime(exp)}); err != nil {
			t.Fatal(err)
		}
		f.Advance(2 * time.Hour)
		if _, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "late"}); keyward.ErrorCode(err) != keyward.ELicenceRequired {
			t.Fatalf("create under an expired licence: %v", err)
		}
		l, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{})
		if err != nil {
			t.Fatal(err)
		}
		if !l.Active(f.Now) || l.ExpiresAt != nil {
			t.Fatalf("re-granted licence: active=%t expires=%v", l.Active(f.Now), l.ExpiresAt)
		}
		f.CreateKey(keyward.KeyCreate{Name: "again"})
	})
}
