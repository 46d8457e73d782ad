package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// operator acts as the operator, who verifies every chain.
func operator() context.Context {
	return keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorOperator})
}

func wantVerifies(t *testing.T, svc *service.Service) *service.AuditVerification {
	t.Helper()
	v, err := svc.VerifyAudit(operator())
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() {
		for _, c := range v.Chains {
			for _, p := range c.Problems {
				t.Errorf("chain %q: %s", c.Chain, p.Message)
			}
		}
		t.FailNow()
	}
	return v
}

// Two nodes writing one tenant's audit log at once over PostgreSQL (and
// many writers over SQLite) still leave one unbroken chain.
func TestAuditChainHoldsUnderConcurrentWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		nodes := []*service.Service{f.Svc}
		if db.Engine() == store.Postgres {
			other, err := store.Open(context.Background(), db.URL(), "")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			nodes = append(nodes, service.New(other, catalog.Builtin()))
		}
		before := wantVerifies(t, f.Svc)
		const writers, each = 8, 6
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := nodes[w%len(nodes)]
				for i := range each {
					if _, err := svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: fmt.Sprintf("w%di%d", w, i)}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v := wantVerifies(t, f.Svc)
		count := func(v *service.AuditVerification) int {
			n := 0
			for _, c := range v.Chains {
				n += c.Entries
			}
			return n
		}
		if got := count(v) - count(before); got < writers*each {
			t.Fatalf("%d entries walked after %d writes", got, writers*each)
		}
	})
}

// Entries past the retention are trimmed with a checkpoint recording what
// went, and the rest still verifies; a trimmed entry put back, or the
// first kept entry removed, is found.
func TestAuditRetentionKeepsTheChainVerifiable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		for i := range 3 {
			if _, err := f.Svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: fmt.Sprintf("old%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		f.Now = f.Now.Add(48 * time.Hour)
		for i := range 2 {
			if _, err := f.Svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: fmt.Sprintf("new%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := f.Svc.AuditMaintenance(operator(), 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			t.Fatalf("%d entries trimmed", n)
		}
		pg, err := f.Svc.ListAudit(f.Ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pg.Data {
			if !e.At.After(f.Now.Add(-24 * time.Hour)) {
				t.Fatalf("entry %d of %v kept past the retention", e.Seq, e.At)
			}
		}
		if len(pg.Data) != 2 {
			t.Fatalf("%d entries kept, want the 2 new ones", len(pg.Data))
		}
		wantVerifies(t, f.Svc)
		var trimmed int64
		if err := db.SQL().QueryRow(`SELECT COALESCE(SUM(trimmed_count), 0) FROM audit_checkpoints WHERE chain = '` + pg.Data[0].TenantID + `'`).Scan(&trimmed); err != nil || trimmed != n {
			t.Fatalf("checkpoints record %d trimmed, want %d (%v)", trimmed, n, err)
		}
		// Checkpointing again without changes writes nothing new and still verifies.
		if n, err := f.Svc.AuditMaintenance(operator(), 24*time.Hour); err != nil || n != 0 {
			t.Fatalf("second run trimmed %d, %v", n, err)
		}
		wantVerifies(t, f.Svc)

		// The first entry kept removed: found against the trim's record.
		if _, err := db.SQL().Exec(fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, pg.Data[1].Seq)); err != nil {
			t.Fatal(err)
		}
		v, err := f.Svc.VerifyAudit(operator())
		if err != nil {
			t.Fatal(err)
		}
		if v.OK() {
			t.Fatal("removing the first kept entry went unnoticed")
		}
		// Only the tenant's own chain is shown to its users.
		tv, err := f.Svc.VerifyAudit(f.Ctx)
		if err != nil || len(tv.Chains) != 1 || tv.Chains[0].Chain != pg.Data[0].TenantID {
			t.Fatalf("a tenant verified %d chains, %v", len(tv.Chains), err)
		}
	})
}

// The export gives a tenant's entries of a time range oldest first, each
// linking to the one before; a tenant user sees only their tenant's, and
// only with the Audit feature.
func TestAuditExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.Now = f.Now.Add(time.Minute) // after the demo tenant's seeding
		start := f.Now
		if _, err := f.Svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: "first"}); err != nil {
			t.Fatal(err)
		}
		f.Now = f.Now.Add(time.Hour)
		if _, err := f.Svc.CreateStore(f.Ctx, keyward.StoreCreate{Code: "second"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.CreateTenant(f.Op, keyward.TenantCreate{Domain: "other"}); err != nil {
			t.Fatal(err)
		}
		var got []*service.AuditRecord
		err := f.Svc.ExportAudit(f.Ctx, start, start.Add(time.Hour), func(r *service.AuditRecord) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ObjectID == "" || got[0].Hash == "" || !strings.Contains(fmt.Sprint(got[0].Changes), "first") {
			t.Fatalf("exported %d entries: %+v", len(got), got)
		}
		got = nil
		f.Svc.ExportAudit(f.Ctx, time.Time{}, time.Time{}, func(r *service.AuditRecord) error {
			got = append(got, r)
			return nil
		})
		for i, r := range got {
			if r.TenantID != got[0].TenantID {
				t.Fatalf("another tenant's entry exported: %+v", r)
			}
			if i > 0 && (r.PrevHash != got[i-1].Hash || r.Seq <= got[i-1].Seq) {
				t.Fatalf("entry %d does not follow entry %d", r.Seq, got[i-1].Seq)
			}
		}
		f.staff("ana@demo.test", keyward.FeatureAPIManagement)
		a, _ := f.actor(f.signIn("ana@demo.test", testPassword))
		err = f.Svc.ExportAudit(keyward.WithActor(context.Background(), a), time.Time{}, time.Time{}, func(*service.AuditRecord) error { return nil })
		if keyward.ErrorCode(err) != keyward.EFeatureRequired {
			t.Fatalf("without the Audit feature: %v", err)
		}
		if err := f.Svc.ExportAudit(f.Ctx, start.Add(time.Hour), start, func(*service.AuditRecord) error { return nil }); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a range ending before it starts: %v", err)
		}
	})
}
