package gateway_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A new API Auth Key with a grace leaves the old one working through the
// gateway until the grace ends, by the replica's clock, and refused after;
// without a grace the old key is refused at once.
func TestMerchantAuthKeyGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPlatform(t, db)
		status := func(u keyward.MerchantUser) int {
			t.Helper()
			s, _ := p.send(httptest.NewRequest("GET", "/api/v5/jobs", nil), withMerchant(&u))
			return s
		}
		first := p.MerchantUser("Acme Couriers", "ops@acme.test")
		if s := status(*first); s != 200 {
			t.Fatalf("the first key: %d", s)
		}

		second, err := p.Svc.RegenerateMerchantAuthKey(p.Ctx, first.MerchantID, first.ID, keyward.AuthKeyRegenerate{Grace: keyward.Duration(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if second.PreviousKeyExpiresAt == nil || !second.PreviousKeyExpiresAt.Equal(p.Now.Add(time.Hour)) {
			t.Fatalf("the old key's end: %v, want %v", second.PreviousKeyExpiresAt, p.Now.Add(time.Hour))
		}
		if s := status(*first); s != 200 {
			t.Fatalf("the old key during its grace: %d, want 200", s)
		}
		if s := status(*second); s != 200 {
			t.Fatalf("the new key: %d, want 200", s)
		}
		// A node loading from the database now knows the grace too.
		rep := replica.New(db, p.Rep.Catalog(), replica.WithClock(func() time.Time { return p.Now }))
		if err := rep.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs, _ := p.Rep.Catalog().Method("jobs.list")
		if res := rep.VerifyMerchant(first.AccountID, first.AuthKey, jobs, ""); res.Code != keyward.CodeValid {
			t.Fatalf("a freshly loaded replica, old key during its grace: %s", res.Code)
		}
		if _, _, err := p.Svc.AuthenticateMerchant(context.Background(), first.AccountID, first.AuthKey, ""); err != nil {
			t.Fatalf("the admin API refuses the old key during its grace: %v", err)
		}

		p.Advance(59 * time.Minute)
		if s := status(*first); s != 200 {
			t.Fatalf("the old key a minute before its grace ends: %d, want 200", s)
		}
		p.Advance(time.Minute)
		if s := status(*first); s != 401 {
			t.Fatalf("the old key when its grace ends: %d, want 401", s)
		}
		if res := rep.VerifyMerchant(first.AccountID, first.AuthKey, jobs, ""); res.Code == keyward.CodeValid {
			t.Fatal("the loaded replica still accepts the old key after its grace")
		}
		if _, _, err := p.Svc.AuthenticateMerchant(context.Background(), first.AccountID, first.AuthKey, ""); err == nil {
			t.Fatal("the admin API accepts the old key after its grace")
		}
		if s := status(*second); s != 200 {
			t.Fatalf("the new key after the old one's grace: %d, want 200", s)
		}

		// Without a grace the replaced key stops at once.
		third, err := p.Svc.RegenerateMerchantAuthKey(p.Ctx, first.MerchantID, first.ID, keyward.AuthKeyRegenerate{})
		if err != nil {
			t.Fatal(err)
		}
		if s := status(*second); s != 401 {
			t.Fatalf("a key replaced without grace: %d, want 401", s)
		}
		if s := status(*third); s != 200 {
			t.Fatalf("the newest key: %d, want 200", s)
		}

		// A grace beyond seven days is refused and changes nothing.
		if _, err := p.Svc.RegenerateMerchantAuthKey(p.Ctx, first.MerchantID, first.ID, keyward.AuthKeyRegenerate{Grace: keyward.Duration(8 * 24 * time.Hour)}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("an eight-day grace: %v, want invalid", err)
		}
		if s := status(*third); s != 200 {
			t.Fatalf("the newest key after a refused regeneration: %d, want 200", s)
		}
	})
}
