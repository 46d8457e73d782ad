package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardQueriesNameExposedMetrics checks that every query of the
// Grafana dashboard in docs/ names metrics keyward exposes and, when
// promtool is installed, that each parses as PromQL.
func TestDashboardQueriesNameExposedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	r := New()
	r.Replica(ReplicaStats{Credentials: func() int { return 1 }, LastSync: time.Now, Lag: func() (int64, error) { return 0, nil }})
	r.Decisions.Inc("demo", "VALID")
	r.Gateway.Observe("GET", 200, time.Millisecond)
	r.Authz.Observe("GET", 200, time.Millisecond)
	r.Upstream.Observe(0.001)
	WebhookDeliveries.WithLabelValues("delivered").Add(0)
	ConnectorProbes.WithLabelValues("shopify", "ok").Add(0)
	families, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range families {
		exposed[f.GetName()] = true
	}
	name := regexp.MustCompile(`\b(keyward|go|process)_[a-z_]+`)
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if trimmed, ok := strings.CutSuffix(m, suffix); ok && exposed[trimmed] {
						base = trimmed
					}
				}
				if !exposed[base] {
					t.Errorf("panel %q: %s is not exposed", p.Title, m)
				}
			}
			expr := strings.NewReplacer("$__rate_interval", "5m", "$tenant", ".*").Replace(tg.Expr)
			n++
			rules.WriteString("  - record: dashboard:query" + string(rune('a'+n%26)) + "\n    expr: '" + expr + "'\n")
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Logf("promtool is not installed: %d queries not parsed", n)
		return
	}
	f := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(f, []byte(rules.String()), 0o644)
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
