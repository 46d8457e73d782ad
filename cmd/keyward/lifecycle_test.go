package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
	n := startNode(t, "--demo", "--data", t.TempDir(), "--shutdown-delay", "600ms")
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
	time.Sleep(300 * time.Millisecond)
	n.stop()
	wg.Wait()
	if sent.Load() < 50 {
		t.Fatalf("only %d requests were sent", sent.Load())
	}
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
