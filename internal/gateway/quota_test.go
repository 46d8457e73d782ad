package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A key's quota is enforced by the gateway: requests pass until the
// period's budget is spent, then are refused 429 QUOTA_EXCEEDED with when
// it refills, and pass again in the next period. A credit never refills
// until an administrator raises it; a key without a quota is untouched.
func TestProxyQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		now := f.Now
		counter := quota.New(db, quota.WithClock(func() time.Time { return now }))
		base := serve(t, f.proxy(ProxyConfig{Upstream: echo(t), Quota: counter}))
		get := func(secret string) reply {
			req := newRequest(t, "GET", base+"/api/v5/orders?store=main")
			req.Header.Set("X-API-Key", secret)
			return do(t, req)
		}
		perms := keyward.Permissions{"orders": "read"}
		daily := f.key(keyward.KeyCreate{Name: "Daily", Permissions: perms, Quota: &keyward.Quota{Limit: 3, Period: keyward.QuotaDay}})
		for i := range 3 {
			if r := get(daily); r.status != 200 {
				t.Fatalf("request %d of a budget of 3: %d %+v", i+1, r.status, r.problem)
			}
		}
		r := get(daily)
		if r.status != http.StatusTooManyRequests || r.problem == nil || r.problem.Code != keyward.CodeQuotaExceeded {
			t.Fatalf("fourth request: %d %s", r.status, r.body)
		}
		midnight := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
		if got := r.header.Get(HeaderQuotaReset); got != midnight.Format(time.RFC3339) {
			t.Errorf("%s: %q, want the next midnight UTC", HeaderQuotaReset, got)
		}
		if got := r.header.Get("Retry-After"); got != "43200" {
			t.Errorf("Retry-After %q, want the 12 hours to midnight", got)
		}
		if d := r.problem.Details; d["reset_at"] != midnight.Format(time.RFC3339) || d["quota"] != "At most 3 requests a day" {
			t.Errorf("details %v", d)
		}
		now = midnight
		if r := get(daily); r.status != 200 {
			t.Fatalf("the next day: %d %s", r.status, r.body)
		}

		credit := f.key(keyward.KeyCreate{Name: "Credit", Permissions: perms, Quota: &keyward.Quota{Limit: 2, Period: keyward.QuotaNone}})
		get(credit)
		get(credit)
		r = get(credit)
		if r.status != http.StatusTooManyRequests || r.problem.Code != keyward.CodeQuotaExceeded {
			t.Fatalf("third request on a credit of 2: %d %s", r.status, r.body)
		}
		if r.header.Get("Retry-After") != "" || r.header.Get(HeaderQuotaReset) != "" || r.problem.Details["reset_at"] != nil {
			t.Errorf("a credit never refills, yet the refusal gives a reset: %v %v", r.header, r.problem.Details)
		}
		now = now.AddDate(0, 2, 0)
		if r := get(credit); r.status != http.StatusTooManyRequests {
			t.Fatalf("a credit refilled on its own: %d", r.status)
		}
		ks, err := f.Svc.ListKeys(f.Ctx, keyward.KeyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks.Data {
			if k.Name == "Credit" {
				if _, err := f.Svc.UpdateKey(f.Ctx, k.ID, keyward.KeyUpdate{Quota: &keyward.Quota{Limit: 3}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r := get(credit); r.status != 200 {
			t.Fatalf("after a top-up by one: %d %s", r.status, r.body)
		}
		if r := get(credit); r.status != http.StatusTooManyRequests {
			t.Fatalf("the top-up covered more than one request: %d", r.status)
		}

		free := f.key(keyward.KeyCreate{Name: "Free", Permissions: perms})
		for i := range 20 {
			if r := get(free); r.status != 200 || r.header.Get(HeaderQuotaReset) != "" {
				t.Fatalf("request %d of a key without a quota: %d", i, r.status)
			}
		}
	})
}

// POST /v1/verify answers QUOTA_EXCEEDED with the quota's state and
// retry_after; a dry run takes nothing from the budget.
func TestVerifyQuota(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	counter := quota.New(f.DB, quota.WithClock(func() time.Time { return f.Now }))
	v := &Verifier{Replica: f.Rep, Quota: counter}
	sec := f.key(keyward.KeyCreate{Name: "Monthly", Permissions: keyward.Permissions{"orders": "read"},
		Quota: &keyward.Quota{Limit: 2, Period: keyward.QuotaMonth}})
	ask := func(dry bool) VerifyResponse {
		out, err := v.Decide(context.Background(), VerifyRequest{Key: sec, Method: "orders.list", Store: "main", DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for range 3 {
		if out := ask(true); out.Code != keyward.CodeValid || out.Quota == nil || out.Quota.Remaining != 2 {
			t.Fatalf("dry run: %+v %+v", out, out.Quota)
		}
	}
	if out := ask(false); out.Code != keyward.CodeValid || out.Quota.Remaining != 1 {
		t.Fatalf("first: %+v %+v", out, out.Quota)
	}
	ask(false)
	out := ask(false)
	july := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if out.Valid || out.Code != keyward.CodeQuotaExceeded || out.Quota == nil || out.Quota.Remaining != 0 ||
		out.Quota.ResetAt == nil || !out.Quota.ResetAt.Equal(july) || out.Quota.Period != keyward.QuotaMonth || out.RetryAfter < 1 {
		t.Fatalf("third: %+v %+v", out, out.Quota)
	}
}
