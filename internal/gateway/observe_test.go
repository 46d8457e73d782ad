package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

func TestAccessLogAndMetrics(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Logged", Permissions: keyward.Permissions{"orders": "read"}})
	var logs bytes.Buffer
	reg := metrics.New()
	obs := &Observer{Metrics: reg, AccessLog: slog.New(slog.NewJSONHandler(&logs, nil))}
	var upstreamID string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamID = r.Header.Get("X-Keyward-Request-Id")
		w.Write([]byte(`{}`))
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	gw := httptest.NewServer(f.proxy(ProxyConfig{Upstream: u, Observer: obs}))
	defer gw.Close()

	send := func(target, key string) *http.Response {
		req, _ := http.NewRequest("GET", gw.URL+target, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	ok := send("/api/v5/orders?store=main", sec)
	refused := send("/api/v5/payments?store=main", sec)
	if ok.StatusCode != 200 || refused.StatusCode != 403 {
		t.Fatalf("statuses %d %d", ok.StatusCode, refused.StatusCode)
	}
	if id := ok.Header.Get(HeaderRequestID); id == "" || id != upstreamID {
		t.Fatalf("X-Request-Id %q, upstream got %q", id, upstreamID)
	}

	if strings.Contains(logs.String(), sec) {
		t.Fatal("the access log holds the key")
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), logs.String())
	}
	first, second := lines[0], lines[1]
	for k, want := range map[string]any{"tenant": "demo", "method": "GET", "route": "orders.list", "store": "main",
		"status": 200.0, "code": "VALID", "request_id": ok.Header.Get(HeaderRequestID)} {
		if first[k] != want {
			t.Errorf("allowed line %s = %v, want %v", k, first[k], want)
		}
	}
	if k, _ := first["key_id"].(string); !strings.HasPrefix(k, "key_") {
		t.Errorf("allowed line key_id %v", first["key_id"])
	}
	if _, ok := first["latency_ms"].(float64); !ok || first["time"] == nil {
		t.Errorf("allowed line: %v", first)
	}
	if second["status"] != 403.0 || second["code"] != "INSUFFICIENT_PERMISSION" || second["request_id"] != refused.Header.Get(HeaderRequestID) {
		t.Errorf("refused line: %v", second)
	}

	var exp bytes.Buffer
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exp.Write(rec.Body.Bytes())
	for _, want := range []string{
		`keyward_decisions_total{code="VALID",tenant="demo"} 1`,
		`keyward_decisions_total{code="INSUFFICIENT_PERMISSION",tenant="demo"} 1`,
		`keyward_gateway_requests_total{method="GET",status="200"} 1`,
		`keyward_gateway_requests_total{method="GET",status="403"} 1`,
		`keyward_gateway_request_duration_seconds_count{method="GET"} 2`,
		`keyward_gateway_upstream_duration_seconds_count 1`,
	} {
		if !strings.Contains(exp.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
