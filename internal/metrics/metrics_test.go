package metrics

import (
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTenantsPastTheBoundCountAsOther(t *testing.T) {
	r := New()
	for i := range MaxTenants + 5 {
		r.Decisions.Inc("t"+strconv.Itoa(i), "VALID")
	}
	r.Decisions.Inc("t3", "VALID")
	r.Decisions.Inc("", "NOT_FOUND")
	r.Decisions.Inc("t3", "SOMETHING_NEW")
	if got := testutil.ToFloat64(r.Decisions.vec.WithLabelValues("VALID", "other")); got != 5 {
		t.Errorf("other: %v", got)
	}
	if got := testutil.ToFloat64(r.Decisions.vec.WithLabelValues("VALID", "t3")); got != 2 {
		t.Errorf("t3: %v", got)
	}
	if got := testutil.ToFloat64(r.Decisions.vec.WithLabelValues("NOT_FOUND", "-")); got != 1 {
		t.Errorf("no tenant: %v", got)
	}
	if got := testutil.ToFloat64(r.Decisions.vec.WithLabelValues("other", "t3")); got != 1 {
		t.Errorf("an unknown code: %v", got)
	}
	if n := testutil.CollectAndCount(r.Decisions.vec); n != MaxTenants+3 {
		t.Errorf("%d series", n)
	}
}

func TestRateLimitRefusalsAndStatuses(t *testing.T) {
	r := New()
	r.Decisions.Inc("demo", "RATE_LIMITED")
	r.Gateway.Observe("BREW", 700, 0)
	if got := testutil.ToFloat64(r.RateLimited); got != 1 {
		t.Errorf("rate-limit refusals: %v", got)
	}
	if got := testutil.ToFloat64(r.Gateway.total.WithLabelValues("OTHER", "599")); got != 1 {
		t.Errorf("an odd method and status: %v", got)
	}
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(`
# HELP keyward_rate_limit_refusals_total Requests refused because a key's or a tenant's rate limit was exhausted.
# TYPE keyward_rate_limit_refusals_total counter
keyward_rate_limit_refusals_total 1
`), "keyward_rate_limit_refusals_total"); err != nil {
		t.Error(err)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		r.Decisions.Inc("demo", "VALID")
		r.Gateway.Observe("GET", 200, 1000)
	}
	if n := testing.AllocsPerRun(100, func() {
		r.Decisions.Inc("demo", "VALID")
		r.Gateway.Observe("GET", 200, 1000)
	}); n != 0 {
		b.Fatalf("%v allocations per request", n)
	}
}
