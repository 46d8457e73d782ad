package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/gateway"
)

// orderBody is a valid order for the demo platform API.
const orderBody = `{"customer_id":"cus_2","items":[{"sku":"COF-ESP-250","quantity":2,"price":8.9}]}`

// slowBody is what trickle reports of one slow request.
type slowBody struct {
	took   time.Duration // from connecting until the server closed the connection
	status int           // the status answered, 0 when none was
	body   string        // the body answered
}

// trickle connects to addr, sends head (a request line and headers ending
// in a blank line, announcing Content-Length: 100) and then the body one
// byte every 200 ms. It waits for the server to close the connection,
// reading any response on the way, and fails the test when the server still
// holds the connection open after 5 s.
func trickle(t *testing.T, what, addr, head string) slowBody {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for range 100 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{' '}); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(start.Add(5 * time.Second))
	var out slowBody
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err == nil {
		out.status = res.StatusCode
		var b []byte
		b, err = io.ReadAll(res.Body)
		out.body = string(b)
		res.Body.Close()
		if err == nil {
			_, err = io.Copy(io.Discard, br) // nil at EOF
		}
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("%s: the server still holds the connection open after %s (status %d)", what, time.Since(start).Round(time.Millisecond), out.status)
	}
	// Any other outcome, EOF or a reset, is the server closing the connection.
	out.took = time.Since(start)
	return out
}

// checkCut trickles a request to addr and fails the test unless the server
// ended it by closing the connection, with no answer or one wantStatus
// accepts, between least and 5 s after it began. It returns what the
// server answered.
func checkCut(t *testing.T, what, addr, head string, least time.Duration, wantStatus func(int) bool) slowBody {
	t.Helper()
	got := trickle(t, what, addr, head)
	t.Logf("%s: closed after %s, status %d", what, got.took.Round(time.Millisecond), got.status)
	if got.took < least {
		t.Errorf("%s: closed after %s, before the read timeout could have cut it (%s)", what, got.took, least)
	}
	if got.status != 0 && !wantStatus(got.status) {
		t.Errorf("%s: answered %d to a body that never arrived", what, got.status)
	}
	return got
}

func clientError(status int) bool { return status >= 400 && status < 500 }

// anyError accepts any error status. Whether the gateway answers a body cut
// off with 400, or with 502 when it was streaming it upstream, is its own
// affair; that it answers no success and closes the connection is this
// package's.
func anyError(status int) bool { return status >= 400 }

var demoUpstreamRE = regexp.MustCompile(`demo platform API on http://(\S+),`)

func post(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func writeKey(t *testing.T, n *node) string {
	t.Helper()
	status, k := n.call(n.adminToken(), "POST", "/api/v1/keys", map[string]any{"name": "Writer", "permissions": map[string]string{"orders": "write"}})
	if status != 201 {
		t.Fatalf("create key: %d %v", status, k)
	}
	return k["secrets"].([]any)[0].(map[string]any)["secret"].(string)
}

// A body trickled a byte at a time is cut at --read-timeout on every
// listener of keyward serve, and ordinary requests still pass.
func TestSlowBodiesAreCutOnEveryListener(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--read-timeout", "1s")
	key := writeKey(t, n)
	api := n.m.Listener.Addr().String()
	gw := n.m.gatewayListener.Addr().String()
	m := demoUpstreamRE.FindStringSubmatch(n.out.String())
	if m == nil {
		t.Fatalf("no demo platform API address printed:\n%s", n.out.String())
	}
	demo := m[1]

	// Ordinary requests on the admin API and /v1/verify, and through the
	// gateway to the demo platform API.
	if status, _ := n.call("", "GET", "/readyz", nil); status != 200 {
		t.Fatalf("readyz: %d", status)
	}
	if got := n.verify(key); got != "VALID" {
		t.Fatalf("verify: %s", got)
	}
	if status, body := post(t, "http://"+gw+"/api/v5/orders?store=main", key, orderBody); status != 201 {
		t.Fatalf("order through the gateway: %d %s", status, body)
	}

	const least = 800 * time.Millisecond // the 1s read timeout, less the time to connect
	verify := checkCut(t, "/v1/verify", api, "POST /v1/verify HTTP/1.1\r\nHost: "+api+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", least, clientError)
	checkCut(t, "gateway", gw, "POST /api/v5/orders?store=main HTTP/1.1\r\nHost: "+gw+
		"\r\nX-API-Key: "+key+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", least, clientError)
	// The text of the read error names both ends of the connection; the
	// client is told the body came too late, not where the server listens.
	if !strings.Contains(verify.body, "in time") || strings.Contains(verify.body, api) {
		t.Errorf("/v1/verify: the answer to a body cut off: %s", verify.body)
	}
	// The demo platform API refuses a request not signed by the gateway,
	// possibly before the timeout; it must not wait for the body beyond it.
	checkCut(t, "demo platform API", demo, "POST /api/v5/orders?store=main HTTP/1.1\r\nHost: "+demo+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", 0, clientError)

	// The node still serves after cutting them.
	if got := n.verify(key); got != "VALID" {
		t.Fatalf("verify afterwards: %s", got)
	}
	if status, body := post(t, "http://"+gw+"/api/v5/orders?store=main", key, orderBody); status != 201 {
		t.Fatalf("order through the gateway afterwards: %d %s", status, body)
	}
}

// The read timeout bounds reading the request, not answering it: an
// upstream slower than --read-timeout is still waited for.
func TestReadTimeoutDoesNotCutSlowAnswers(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(1500 * time.Millisecond):
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"ord_slow"}`)
		case <-r.Context().Done():
		}
	}))
	defer upstream.Close()
	n := startNode(t, "--demo", "--data", t.TempDir(), "--read-timeout", "1s", "--upstream", upstream.URL)
	key := writeKey(t, n)
	gw := "http://" + n.m.gatewayListener.Addr().String()
	if status, body := post(t, gw+"/api/v5/orders?store=main", key, orderBody); status != 201 || !strings.Contains(body, "ord_slow") {
		t.Fatalf("slow answer through the gateway: %d %s", status, body)
	}
}

// keyward demo-api takes --read-timeout too.
func TestDemoAPICutsSlowBodies(t *testing.T) {
	t.Setenv("KEYWARD_IDENTITY_KEY", "")
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDemoAPI(ctx, []string{"--addr", "127.0.0.1:0", "--read-timeout", "1s"}, out) }()
	defer func() { cancel(); <-done }()
	re := regexp.MustCompile(`listening on http://(\S+) `)
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == ""; time.Sleep(5 * time.Millisecond) {
		out.mu.Lock()
		m := re.FindStringSubmatch(out.String())
		out.mu.Unlock()
		if m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("keyward demo-api did not start")
		}
	}
	if status, body := post(t, "http://"+addr+"/api/v5/orders?store=main", "", orderBody); status != 201 {
		t.Fatalf("order: %d %s", status, body)
	}
	checkCut(t, "keyward demo-api", addr, "POST /api/v5/orders?store=main HTTP/1.1\r\nHost: "+addr+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", 800*time.Millisecond, clientError)

	err := runDemoAPI(context.Background(), []string{"--addr", "127.0.0.1:0", "--read-timeout", "100ms"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--read-timeout 100ms: must be at least 1s") {
		t.Fatalf("demo-api --read-timeout 100ms: %v", err)
	}
}

// parseServe parses the serve flags and environment as keyward serve does.
func parseServe(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	old := badEnv
	badEnv = nil
	defer func() { badEnv = old }()
	var c Config
	fs := newFlagSet("serve", io.Discard)
	c.serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.finish()
}

func TestReadTimeoutAndMaxBodySettings(t *testing.T) {
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	t.Setenv("KEYWARD_DATABASE_URL", "")
	for _, k := range []string{"KEYWARD_READ_TIMEOUT", "KEYWARD_MAX_BODY"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}

	c, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadTimeout != 30*time.Second || c.MaxBody != gateway.DefaultMaxBody {
		t.Fatalf("defaults: read timeout %s, max body %d; want 30s and %d", c.ReadTimeout, c.MaxBody, gateway.DefaultMaxBody)
	}
	c, err = parseServe(t, "--read-timeout", "1s", "--max-body", "2KiB")
	if err != nil || c.ReadTimeout != time.Second || c.MaxBody != 2048 {
		t.Fatalf("--read-timeout 1s --max-body 2KiB: %s %d %v", c.ReadTimeout, c.MaxBody, err)
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--read-timeout", "500ms"}, want: "--read-timeout 500ms: must be at least 1s"},
		{args: []string{"--read-timeout", "0s"}, want: "--read-timeout 0s: must be at least 1s"},
		{args: []string{"--read-timeout", "-30s"}, want: "--read-timeout -30s: must be at least 1s"},
		{env: map[string]string{"KEYWARD_READ_TIMEOUT": "soon"}, want: `KEYWARD_READ_TIMEOUT="soon" is not a duration such as 30s`},
		{env: map[string]string{"KEYWARD_READ_TIMEOUT": "200ms"}, want: "--read-timeout 200ms: must be at least 1s"},
		{args: []string{"--max-body", "8XB"}, want: `--max-body "8XB": unknown unit "XB"; use B, KB, MB, GB, KiB, MiB or GiB`},
		{args: []string{"--max-body", "lots"}, want: `--max-body "lots": not a size such as 8MiB, 8MB or 8388608`},
		{args: []string{"--max-body", "-1"}, want: `--max-body "-1": not a size`},
		{args: []string{"--max-body", "1.5MiB"}, want: `--max-body "1.5MiB": unknown unit ".5MiB"`},
		{args: []string{"--max-body", "0"}, want: `--max-body "0": must be at least 1 byte`},
		{args: []string{"--max-body", ""}, want: `--max-body "": not a size`},
		{args: []string{"--max-body", "9999999999GiB"}, want: `--max-body "9999999999GiB": too large`},
		{env: map[string]string{"KEYWARD_MAX_BODY": "big"}, want: `--max-body "big": not a size`},
	} {
		name := strings.Join(tc.args, " ")
		for k, v := range tc.env {
			name += k + "=" + v
		}
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v) // restored, or unset again, when the subtest ends
			}
			_, err := parseServe(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"8388608": 8 << 20, "8MiB": 8 << 20, "8 MiB": 8 << 20, "8mib": 8 << 20, "8MB": 8_000_000,
		"512": 512, "512B": 512, "1KB": 1000, "1KiB": 1024, "2GB": 2_000_000_000, "2GiB": 2 << 30,
		" 16KiB ": 16 << 10,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "8 TiB", "8M", "0x10", "+8", "8 MiB extra", "99999999999999999999"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	if s := fmt.Sprint(gateway.DefaultMaxBody); s != "8388608" {
		t.Errorf("gateway.DefaultMaxBody is %s; --max-body's default, 8MiB, and the README say 8388608", s)
	}
}

// --max-body bounds what the gateway reads, and /v1/verify takes from the
// same rate limits as the gateway.
func TestMaxBodyAndSharedRateLimits(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--max-body", "1KiB")
	gw := "http://" + n.m.gatewayListener.Addr().String()
	big := `{"notes": "` + strings.Repeat("x", 1100) + `"}`
	if status, body := post(t, gw+"/api/v5/orders?store=main", writeKey(t, n), big); status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "payload_too_large") {
		t.Fatalf("a body over --max-body: %d %s", status, body)
	}

	status, k := n.call(n.adminToken(), "POST", "/api/v1/keys", map[string]any{"name": "Limited",
		"permissions": map[string]string{"orders": "write"}, "rate_limit": 1})
	if status != 201 {
		t.Fatalf("create key: %d %v", status, k)
	}
	key := k["secrets"].([]any)[0].(map[string]any)["secret"].(string)
	dry := map[string]any{"key": key, "method": "orders.list", "store": "main", "dry_run": true}
	for range 3 {
		if _, out := n.call("", "POST", "/v1/verify", dry); out["code"] != "VALID" {
			t.Fatalf("dry run: %v", out)
		}
	}
	// One request a second: verify takes it, and the gateway has none left.
	if got := n.verify(key); got != "VALID" {
		t.Fatalf("verify: %s", got)
	}
	if status, body := post(t, gw+"/api/v5/orders?store=main", key, orderBody); status != http.StatusTooManyRequests {
		t.Fatalf("the gateway after verify took the only request: %d %s", status, body)
	}
	if _, out := n.call("", "POST", "/v1/verify", map[string]any{"key": key, "method": "orders.list", "store": "main"}); out["code"] != "RATE_LIMITED" || out["retry_after"] == nil {
		t.Fatalf("verify with none left: %v", out)
	}
}
