package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/storetest"
)

// node is a keyward serve process inside the test, on a loopback port.
type node struct {
	t   *testing.T
	m   *Main
	url string
	out *bytes.Buffer
	// logs holds the node's log lines, shown when the test fails.
	logs *lockedBuffer
	stop context.CancelFunc
	// shut stops serving and closes the node as a stopped process would:
	// its background work (replica, usage, webhook dispatch) ends too.
	shut func()
}

// lockedBuffer is a bytes.Buffer safe for the server and the test at once.
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

// text returns what was written so far.
func (b *lockedBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func startNode(t *testing.T, args ...string) *node {
	t.Helper()
	if os.Getenv("KEYWARD_MASTER_KEY") == "" {
		// Nodes sharing a database share its master key.
		t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
	}
	return startNodeEnv(t, args...)
}

// startNodeEnv starts a node with the environment as it is.
func startNodeEnv(t *testing.T, args ...string) *node {
	t.Helper()
	out := &lockedBuffer{}
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	m := NewMain(out)
	logs := &lockedBuffer{}
	m.Logs = logs
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the node's log:\n%s", logs.text())
		}
	})
	// Ports of their own, so a keyward running beside the tests (or
	// another test's node) does not hold them.
	if err := m.Parse(append([]string{"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error"}, args...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { m.Serve(ctx); close(done) }()
	var once sync.Once
	shut := func() { once.Do(func() { cancel(); <-done; m.Close() }) }
	n := &node{t: t, m: m, url: "http://" + m.Listener.Addr().String(), out: &out.Buffer, logs: logs, stop: cancel, shut: shut}
	t.Cleanup(shut)
	return n
}

var tokenRE = regexp.MustCompile(`token:\s+(kwp_\S+)`)

func (n *node) adminToken() string {
	n.t.Helper()
	m := tokenRE.FindStringSubmatch(n.out.String())
	if m == nil {
		n.t.Fatalf("no token printed:\n%s", n.out.String())
	}
	return m[1]
}

func (n *node) call(token, method, path string, body any) (int, map[string]any) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (n *node) verify(secret string) string {
	_, out := n.call("", "POST", "/v1/verify", map[string]any{"key": secret, "method": "orders.list", "store": "main"})
	code, _ := out["code"].(string)
	return code
}

// waitFor polls fn until it returns want or the deadline passes, and
// returns how long it took.
func waitFor(t *testing.T, deadline time.Duration, want string, fn func() string) time.Duration {
	t.Helper()
	start := time.Now()
	got := ""
	for time.Since(start) < deadline {
		if got = fn(); got == want {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("still %q after %s, want %q", got, deadline, want)
	return 0
}

func createKey(t *testing.T, n *node, token, name string) (id, secret string) {
	t.Helper()
	status, k := n.call(token, "POST", "/api/v1/keys", map[string]any{"name": name, "permissions": map[string]string{"orders": "read"}})
	if status != 201 {
		t.Fatalf("create key: %d %v", status, k)
	}
	return k["id"].(string), k["secrets"].([]any)[0].(map[string]any)["secret"].(string)
}

func TestSQLiteDemoNodeServesTheSeedFlow(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir())
	tok := n.adminToken()
	id, secret := createKey(t, n, tok, "THQ")
	if got := n.verify(secret); got != "VALID" {
		t.Fatalf("verify: %s", got)
	}
	n.call(tok, "PATCH", "/api/v1/keys/"+id, map[string]any{"enabled": false})
	if got := n.verify(secret); got != "DISABLED" {
		t.Fatalf("after disable, next request: %s", got)
	}
	if status, _ := n.call("", "GET", "/readyz", nil); status != 200 {
		t.Fatalf("readyz: %d", status)
	}
}

func TestThreeNodesRefuseADisabledKeyWithinOneSecond(t *testing.T) {
	url := storetest.NewSchemaURL(t)
	a := startNode(t, "--demo", "--database", url)
	b := startNode(t, "--database", url)
	c := startNode(t, "--database", url)
	tok := a.adminToken()
	id, secret := createKey(t, a, tok, "THQ")
	for _, n := range []*node{b, c} {
		waitFor(t, 5*time.Second, "VALID", func() string { return n.verify(secret) })
	}
	var worst time.Duration
	for i := 0; i < 5; i++ {
		on := i%2 == 1
		want := map[bool]string{true: "VALID", false: "DISABLED"}[on]
		if status, _ := a.call(tok, "PATCH", "/api/v1/keys/"+id, map[string]any{"enabled": on}); status != 200 {
			t.Fatalf("patch: %d", status)
		}
		start := time.Now()
		if got := a.verify(secret); got != want {
			t.Fatalf("node A, next request: %s, want %s", got, want)
		}
		var wg sync.WaitGroup
		for _, n := range []*node{b, c} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				waitFor(t, time.Second, want, func() string { return n.verify(secret) })
			}()
		}
		wg.Wait()
		if d := time.Since(start); d > worst {
			worst = d
		}
	}
	t.Logf("a change through node A reached nodes B and C within %s (worst of 5)", worst)
}

// cutter forwards TCP connections to a target until cut, then drops them
// all and refuses new ones until restored: a database that went away.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	hang   bool
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	go c.serve()
	t.Cleanup(func() { ln.Close(); c.setCut(true) })
	return c
}

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			continue
		}
		if c.hang {
			c.conns = append(c.conns, in)
			c.mu.Unlock()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			c.mu.Unlock()
			in.Close()
			continue
		}
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// setHang makes the database hang rather than refuse: connections are
// dropped, and new ones accepted but never answered.
func (c *cutter) setHang(hang bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hang = hang
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func (c *cutter) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.conns = nil
	}
}

func TestDatabaseOutage(t *testing.T) {
	url := storetest.NewSchemaURL(t)
	a := startNode(t, "--demo", "--database", url)
	tok := a.adminToken()
	cut := newCutter(t, "127.0.0.1:5432")
	viaCutter := strings.Replace(url, "127.0.0.1:5432", cut.ln.Addr().String(), 1)
	if viaCutter == url {
		t.Skip("the test database is not at 127.0.0.1:5432")
	}
	n := startNode(t, "--database", viaCutter, "--max-staleness", "2s", "--sync-interval", "100ms")
	id, secret := createKey(t, a, tok, "THQ")
	_, other := createKey(t, a, tok, "Other")
	waitFor(t, 5*time.Second, "VALID", func() string { return n.verify(secret) })

	cut.setCut(true)
	outage := time.Now()
	if got := n.verify(secret); got != "VALID" {
		t.Fatalf("at the start of the outage the replica answers: %s", got)
	}
	// The node still answers correctly from memory, so it stays ready: a
	// load balancer must not pull every node during a database blip.
	if status, _ := n.call("", "GET", "/readyz", nil); status != 200 {
		t.Fatalf("readyz at the start of the outage: %d, want 200", status)
	}
	status, p := n.call(tok, "POST", "/api/v1/keys", map[string]any{"name": "DuringOutage"})
	if status != 503 || p["code"] != "unavailable" {
		t.Fatalf("admin write during the outage: %d %v, want 503 unavailable", status, p)
	}
	// A change made elsewhere during the outage.
	if status, _ := a.call(tok, "PATCH", "/api/v1/keys/"+id, map[string]any{"enabled": false}); status != 200 {
		t.Fatal("disable through node A failed")
	}
	waitFor(t, 4*time.Second, "UNAVAILABLE", func() string { return n.verify(other) })
	// Staleness counts from the last sync, at most one sync interval before the cut.
	if d := time.Since(outage); d < 2*time.Second-200*time.Millisecond {
		t.Fatalf("refused after %s, before the 2s staleness bound", d)
	}
	status, _ = n.call("", "POST", "/v1/verify", map[string]any{"key": other, "method": "orders.list"})
	if status != 503 {
		t.Fatalf("stale verify answered %d, want 503", status)
	}
	if status, _ := n.call("", "GET", "/readyz", nil); status != 503 {
		t.Fatalf("readyz once the replica is stale: %d, want 503", status)
	}

	cut.setCut(false)
	waitFor(t, 5*time.Second, "DISABLED", func() string { return n.verify(secret) })
	if got := n.verify(other); got != "VALID" {
		t.Fatalf("after the outage: %s", got)
	}
	_, list := a.call(tok, "GET", "/api/v1/keys", nil)
	for _, k := range list["data"].([]any) {
		if k.(map[string]any)["name"] == "DuringOutage" {
			t.Fatal("a write refused during the outage was applied")
		}
	}
}

func TestUsageIsCountedAndShownOnTheKey(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		usageIsCounted(t, startNode(t, "--demo", "--data", t.TempDir(), "--usage-flush", "50ms"))
	})
	t.Run("postgres", func(t *testing.T) {
		usageIsCounted(t, startNode(t, "--demo", "--database", storetest.NewSchemaURL(t), "--usage-flush", "50ms"))
	})
}

func usageIsCounted(t *testing.T, n *node) {
	tok := n.adminToken()
	id, secret := createKey(t, n, tok, "Counted")
	for i := 0; i < 7; i++ {
		if got := n.verify(secret); got != "VALID" {
			t.Fatalf("verify: %s", got)
		}
	}
	n.verify("kwk_" + strings.Repeat("x", 49)) // refused: not counted
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, k := n.call(tok, "GET", "/api/v1/keys/"+id, nil)
		u, _ := k["usage"].(map[string]any)
		if u != nil && u["requests_24h"] == float64(7) && u["last_used_at"] != nil {
			hourly, _ := u["hourly"].([]any)
			if len(hourly) != 1 {
				t.Fatalf("hourly usage: %v", u["hourly"])
			}
			// Only the secret used carries a last use.
			for _, s := range k["secrets"].([]any) {
				s := s.(map[string]any)
				if used := s["last_used_at"] != nil; used != (s["slot"] == float64(1)) {
					t.Fatalf("secret in slot %v: last used %v", s["slot"], s["last_used_at"])
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage not shown on the key: %v", k["usage"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
