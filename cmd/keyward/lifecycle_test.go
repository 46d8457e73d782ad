package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/storetest"
)

// Every listener has its health checks: the admin and forward-auth
// listeners at /healthz and /readyz, the gateway under a prefix it never
// forwards.
func TestEachListenerHasItsHealth(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--authz-addr", "127.0.0.1:0")
	gw := "http://" + n.m.gatewayListener.Addr().String()
	authz := "http://" + n.m.obs.addrs["forward-auth"]
	for _, u := range []string{n.url + "/healthz", n.url + "/readyz", authz + "/healthz", authz + "/readyz",
		gw + gatewayHealthPath, gw + gatewayReadyPath} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", u, res.StatusCode)
		}
	}
	// Draining: every readiness check fails, liveness holds.
	n.m.draining.Store(true)
	defer n.m.draining.Store(false)
	for _, u := range []string{n.url + "/readyz", authz + "/readyz", gw + gatewayReadyPath} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Errorf("%s while draining: %d, Retry-After %q", u, res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	if res, err := http.Get(authz + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Errorf("healthz while draining: %v %v", res, err)
	}
}

// With --shutdown-delay, a node stopped under load fails no request: its
// readiness fails first, the load balancer stops sending, and the
// listeners close only after the delay.
func TestShutdownUnderLoadFailsNoRequest(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) { shutdownUnderLoad(t, dbArgs(t, e)) })
	}
}

func shutdownUnderLoad(t *testing.T, db []string) {
	n := startNode(t, append([]string{"--demo", "--shutdown-delay", "600ms"}, db...)...)
	tok := n.adminToken()
	_, secret := createKey(t, n, tok, "Load")
	gw := "http://" + n.m.gatewayListener.Addr().String()

	// The load balancer: polls readiness, and sends nothing new once it
	// fails.
	var pulled atomic.Bool
	go func() {
		for !pulled.Load() {
			res, err := http.Get(gw + gatewayReadyPath)
			if err != nil || res.StatusCode != 200 {
				pulled.Store(true)
			}
			if err == nil {
				res.Body.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 8 {
		wg.Go(func() {
			for !pulled.Load() {
				req, _ := http.NewRequest("GET", gw+"/api/v5/orders?store=main", nil)
				req.Header.Set("X-API-Key", secret)
				res, err := client.Do(req)
				sent.Add(1)
				if err != nil || res.StatusCode >= 500 {
					failed.Add(1)
					if err == nil {
						res.Body.Close()
					}
					continue
				}
				res.Body.Close()
			}
		})
	}
	// Stop once the load is well under way, however busy the machine.
	waitFor(t, 30*time.Second, "true", func() string { return strconv.FormatBool(sent.Load() >= 50) })
	n.stop()
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed during the shutdown", f, sent.Load())
	}
}

// A request still running when --shutdown-timeout passes is cut, and the
// node says so in its exit status.
func TestShutdownTimeoutCutsAndSaysSo(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release)
	t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	m := NewMain(&bytes.Buffer{})
	if err := m.Parse([]string{"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error",
		"--data", t.TempDir(), "--demo", "--upstream", slow.URL, "--pass-unknown", "--shutdown-timeout", "300ms"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx) }()
	go http.Get("http://" + m.gatewayListener.Addr().String() + "/not-in-the-catalog")
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, errDrainCut) {
			t.Fatalf("Serve after a cut drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the shutdown timeout did not bound the drain")
	}
}

// SIGHUP does not stop a node: without ignoreHangUp, it would end this
// test's process.
func TestHangUpIsIgnored(t *testing.T) {
	ignoreHangUp()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
}

// A database that hangs rather than refuses: admin requests are answered
// 503 with Retry-After within --database-timeout instead of hanging, the
// data plane answers from memory, the node stays ready, and the log says
// "database unavailable" and "database recovered" once each.
func TestDatabaseThatHangs(t *testing.T) {
	url := storetest.NewSchemaURL(t)
	cut := newCutter(t, "127.0.0.1:5432")
	viaCutter := strings.Replace(url, "127.0.0.1:5432", cut.ln.Addr().String(), 1)
	if viaCutter == url {
		t.Skip("the test database is not at 127.0.0.1:5432")
	}
	n := startNode(t, "--demo", "--database", viaCutter, "--database-timeout", "1s", "--sync-interval", "100ms",
		"--webhook-dispatch=false", "--log-level", "info")
	tok := n.adminToken()
	_, secret := createKey(t, n, tok, "THQ")

	cut.setHang(true)
	for _, c := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/v1/keys", nil}, {"POST", "/api/v1/keys", map[string]any{"name": "DuringHang"}}} {
		start := time.Now()
		req, _ := http.NewRequest(c.method, n.url+c.path, strings.NewReader(`{"name":"DuringHang"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		client := &http.Client{Timeout: 15 * time.Second}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s while the database hangs: %v", c.method, c.path, err)
		}
		res.Body.Close()
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s while the database hangs: %d, Retry-After %q; want 503 with Retry-After", c.method, c.path, res.StatusCode, res.Header.Get("Retry-After"))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s %s took %s", c.method, c.path, d)
		}
	}
	if got := n.verify(secret); got != "VALID" {
		t.Errorf("verify while the database hangs: %s", got)
	}
	if status, _ := n.call("", "GET", "/readyz", nil); status != 200 {
		t.Errorf("readyz while the database hangs: %d", status)
	}
	waitFor(t, 10*time.Second, "1", func() string { return strconv.Itoa(strings.Count(n.logs.text(), `"msg":"database unavailable`)) })

	cut.setHang(false)
	waitFor(t, 15*time.Second, "200", func() string {
		status, _ := n.call(tok, "GET", "/api/v1/keys", nil)
		return strconv.Itoa(status)
	})
	waitFor(t, 10*time.Second, "1", func() string { return strconv.Itoa(strings.Count(n.logs.text(), `"msg":"database recovered"`)) })
	if c := strings.Count(n.logs.text(), `"msg":"database unavailable`); c != 1 {
		t.Errorf("%d database unavailable lines, want 1", c)
	}
}
