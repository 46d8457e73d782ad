package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP/HTTP trace collector.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.GetStringValue()
		}
	}
	return ""
}

func TestMetricsTracesAndForwardAuthListeners(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	var upMu sync.Mutex
	var traceparents []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upMu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		upMu.Unlock()
		w.Write([]byte(`{}`))
	}))
	defer upstream.Close()
	n := startNode(t, "--data", t.TempDir(), "--demo", "--upstream", upstream.URL,
		"--metrics-addr", "127.0.0.1:0", "--authz-addr", "127.0.0.1:0", "--otlp-endpoint", collector.URL)
	token := n.adminToken()
	_, secret := createKey(t, n, token, "Observed")
	gw := "http://" + n.m.gatewayListener.Addr().String()

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	get := func(url string, h map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := get(gw+"/api/v5/orders?store=main", map[string]string{"X-API-Key": secret, "Traceparent": parent}); res.StatusCode != 200 || res.Header.Get("X-Request-Id") == "" {
		t.Fatalf("gateway: %d %v", res.StatusCode, res.Header)
	}
	if res := get(gw+"/api/v5/orders?store=main", map[string]string{"X-API-Key": "kwk_" + strings.Repeat("x", 49)}); res.StatusCode != 401 {
		t.Fatalf("gateway, unknown key: %d", res.StatusCode)
	}
	if res := get("http://"+n.m.obs.addrs["forward-auth"]+"/v1/authz/forward", map[string]string{"X-API-Key": secret,
		"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/v5/orders?store=main"}); res.StatusCode != 200 {
		t.Fatalf("forward-auth: %d", res.StatusCode)
	}

	// /v1/verify's decisions count too.
	if code := n.verify(secret); code != "VALID" {
		t.Fatalf("verify: %s", code)
	}

	// The upstream saw the client's trace continued, not the client's span.
	upMu.Lock()
	tp := traceparents[0]
	upMu.Unlock()
	if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || tp == parent {
		t.Errorf("traceparent upstream: %q", tp)
	}

	res, err := http.Get("http://" + n.m.obs.addrs["metrics"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`keyward_decisions_total{code="VALID",tenant="demo"} 3`,
		`keyward_decisions_total{code="NOT_FOUND",tenant="-"} 1`,
		`keyward_gateway_requests_total{method="GET",status="200"} 1`,
		`keyward_gateway_requests_total{method="GET",status="401"} 1`,
		`keyward_authz_requests_total{method="GET",status="200"} 1`,
		`keyward_gateway_upstream_duration_seconds_count 1`,
		"keyward_replica_credentials ", "keyward_replica_changelog_lag 0", "go_goroutines ",
		`keyward_build_info{commit="`,
		`keyward_admin_requests_total{method="POST",status="201"}`, "keyward_database_connections_open ",
		"keyward_database_unavailable_total ", "keyward_webhook_backlog_oldest_seconds 0",
	} {
		if !bytes.Contains(exposition, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if bytes.Contains(exposition, []byte(secret)) || bytes.Contains(exposition, []byte("key_")) {
		t.Error("metrics name a key")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("KEYWARD_TEST_REQUIRE_PROXIES") == "1" {
			t.Fatal("promtool is not installed: .ci/run installs Debian's prometheus package")
		}
		t.Log("promtool is not installed (apt-get install prometheus); the exposition format is not checked")
	} else {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(exposition)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	// The spans not yet sent are sent as the node stops.
	n.m.closeObserve(t.Context())
	recv.mu.Lock()
	defer recv.mu.Unlock()
	var gateway, admin *tracepb.Span
	for _, s := range recv.spans {
		switch {
		case strings.HasPrefix(s.Name, "gateway") && attr(s, "keyward.decision") == "VALID":
			gateway = s
		case strings.HasPrefix(s.Name, "POST") || strings.Contains(s.Name, "/api/v1/keys"):
			admin = s
		}
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.GetStringValue(), secret) {
				t.Errorf("span %s holds the key in %s", s.Name, a.Key)
			}
		}
	}
	if gateway == nil || attr(gateway, "keyward.tenant") != "demo" || attr(gateway, "keyward.route") != "orders.list" ||
		string(gateway.TraceId) != string(mustHex(t, "4bf92f3577b34da6a3ce929d0e0e4736")) {
		t.Errorf("gateway span: %v", gateway)
	}
	if admin == nil {
		t.Errorf("no admin span among %d spans", len(recv.spans))
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
