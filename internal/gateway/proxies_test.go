package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// requireProxies makes a missing proxy binary fail rather than skip; CI
// sets it after installing them.
const requireProxies = "KEYWARD_TEST_REQUIRE_PROXIES"

// docConfigs reads the configurations of docs/integrations.md, each the
// fenced block after a <!-- config: NAME --> line.
func docConfigs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	re := regexp.MustCompile("(?s)<!-- config: ([a-z-]+) -->\n```[a-z]*\n(.*?)\n```")
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2] + "\n"
	}
	return out
}

// proxyBench is the demo tenant, keyward's forward-auth on a loopback port
// and the demo platform API behind a recorder of what reached it.
type proxyBench struct {
	*keywardtest.Platform
	authzAddr, upstreamAddr string
	mu                      sync.Mutex
	seen                    []http.Header // the headers of each request that reached the API
}

func newProxyBench(t *testing.T, db *store.DB, trusted ...netip.Prefix) *proxyBench {
	t.Helper()
	b := &proxyBench{Platform: keywardtest.New(t, db)}
	a, err := gateway.NewAuthz(gateway.AuthzConfig{Replica: b.Rep, IdentityKey: authzIdentityKey, Limiter: ratelimit.New(), Quota: quota.New(db), TrustedProxies: trusted})
	if err != nil {
		t.Fatal(err)
	}
	b.authzAddr = serveOn(t, a)
	api := demoapi.New(demoapi.Options{IdentityKey: authzIdentityKey})
	b.upstreamAddr = serveOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Clone())
		b.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	return b
}

func serveOn(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func (b *proxyBench) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *proxyBench) lastSeen() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		return nil
	}
	return b.seen[len(b.seen)-1]
}

// startProxy runs a real proxy with its configuration from the docs,
// listening on listen, until the test ends; it skips (or, with
// KEYWARD_TEST_REQUIRE_PROXIES=1, fails) when the binary is missing.
func (b *proxyBench) startProxy(t *testing.T, name, listen string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %s; go test without -short runs it", name)
	}
	bin := map[string]string{"nginx": "nginx", "caddy": "caddy", "haproxy": "haproxy"}[name]
	path, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv(requireProxies) == "1" {
			t.Fatalf("%s is not installed and %s=1: .ci/run installs it with apt-get", bin, requireProxies)
		}
		t.Skipf("%s is not installed; apt-get install %s to run this test (CI does)", bin, bin)
	}
	cfgs := docConfigs(t)
	dir := t.TempDir()
	sub := func(s string) string {
		return strings.NewReplacer("127.0.0.1:8000", listen, "127.0.0.1:8082", b.authzAddr, "127.0.0.1:9090", b.upstreamAddr,
			"/etc/haproxy/keyward.lua", filepath.Join(dir, "keyward.lua")).Replace(s)
	}
	write := func(file, text string) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var cmd *exec.Cmd
	switch name {
	case "nginx":
		cfg := cfgs["nginx"]
		if cfg == "" {
			t.Fatal("docs/integrations.md has no nginx configuration")
		}
		os.Mkdir(filepath.Join(dir, "tmp"), 0o755)
		conf := write("nginx.conf", fmt.Sprintf(`worker_processes 1;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
%[2]s}
`, dir, sub(cfg)))
		cmd = exec.CommandContext(ctx, path, "-p", dir, "-c", conf, "-g", "daemon off; master_process off;")
	case "caddy":
		conf := write("Caddyfile", sub(cfgs["caddy"]))
		cmd = exec.CommandContext(ctx, path, "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	case "haproxy":
		write("keyward.lua", sub(cfgs["haproxy-lua"]))
		conf := write("haproxy.cfg", sub(cfgs["haproxy"]))
		cmd = exec.CommandContext(ctx, path, "-f", conf, "-db")
	}
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("%s error.log:\n%s", name, b)
			}
		}
	})
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s stopped at start:\n%s", name, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 200 {
			t.Fatalf("%s did not listen on %s:\n%s", name, listen, out.String())
		}
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRealProxiesForwardAuth(t *testing.T) {
	for _, name := range []string{"nginx", "caddy", "haproxy"} {
		t.Run(name, func(t *testing.T) {
			b := newProxyBench(t, storetest.Open(t, store.SQLite))
			listen := keywardtest.FreeAddr(t)
			b.startProxy(t, name, listen)
			proxyScenarios(t, b, "http://"+listen)
		})
	}
}

// keywardHeaders are the X-Keyward-* headers keyward sets upstream.
var keywardHeaders = []string{identity.HeaderKeyID, identity.HeaderTenant, identity.HeaderStores, identity.HeaderMethod,
	identity.HeaderTimestamp, identity.HeaderSignature, identity.HeaderMerchant, identity.HeaderRequestID}

// hasForged reports whether headers an upstream received hold an
// X-Keyward-* header (in any case, "_" for "-") that keyward does not set,
// or one of its own with a value "forged".
func hasForged(h http.Header) bool {
	for name, vals := range h {
		norm := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		if !strings.HasPrefix(norm, "x-keyward-") {
			continue
		}
		if !slices.ContainsFunc(keywardHeaders, func(k string) bool { return strings.EqualFold(k, name) }) || slices.Contains(vals, "forged") {
			return true
		}
	}
	return false
}

// proxyScenarios drives the README's flows and the access matrix's cases
// through a proxy asking keyward.
func proxyScenarios(t *testing.T, b *proxyBench, base string) {
	cpa := b.CreateKey(keyward.KeyCreate{Name: "CPA", Permissions: keyward.Permissions{"orders": "read"},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}, Methods: []string{"orders.statuses.list"}})
	re := b.CreateKey(keyward.KeyCreate{Name: "RetentionEngine", Permissions: keyward.Permissions{"orders": "write", "discounts": "write",
		"subscriptions": "write", "customers": "write", "payments": "read", "store_information": "read"}})
	slow := b.CreateKey(keyward.KeyCreate{Name: "Slow", Permissions: keyward.Permissions{"orders": "read"}, RateLimit: 1})
	daily := b.CreateKey(keyward.KeyCreate{Name: "Daily", Permissions: keyward.Permissions{"orders": "read"},
		Quota: &keyward.Quota{Limit: 1, Period: keyward.QuotaDay}})
	off := false
	disabled := b.CreateKey(keyward.KeyCreate{Name: "Off", Permissions: keyward.Permissions{"orders": "read"}, Enabled: &off})
	acme := b.MerchantUser("Acme Couriers", "ops@acme.test")
	beta := b.MerchantUser("Beta Freight", "ops@beta.test")
	ten, err := b.Svc.TenantByDomain(b.Ctx, service.DemoDomain)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Rep.SetOwner(context.Background(), ten.ID, "jobs", "job_1", acme.MerchantID); err != nil {
		t.Fatal(err)
	}
	key := func(k *keyward.Key) map[string]string { return map[string]string{"X-API-Key": k.Secrets[0].Secret} }
	basic := func(u *keyward.MerchantUser) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u.AccountID, u.AuthKey)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	send := func(method, target string, headers map[string]string) (*http.Response, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		out := map[string]any{}
		json.Unmarshal(raw, &out)
		return res, out
	}
	allowed := []struct {
		name, target string
		headers      map[string]string
		keyID        string
	}{
		{"CPA reads order statuses of the online store", "/api/v5/orders/statuses?store=online", key(cpa), cpa.ID},
		{"RetentionEngine by bearer", "/api/v5/orders?store=main", map[string]string{"Authorization": "Bearer " + re.Secrets[1].Secret}, re.ID},
		{"a merchant reads its own job", "/api/v5/jobs/job_1", basic(acme), acme.ID},
	}
	for _, c := range allowed {
		before := b.count()
		res, out := send("GET", c.target, c.headers)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d %v", c.name, res.StatusCode, out)
			continue
		}
		seen := b.lastSeen()
		if b.count() != before+1 || seen == nil {
			t.Errorf("%s: did not reach the API", c.name)
			continue
		}
		// The demo API verified the identity headers to answer 200.
		if seen.Get(identity.HeaderKeyID) != c.keyID || seen.Get("X-Api-Key") != "" || seen.Get("Authorization") != "" || hasForged(seen) {
			t.Errorf("%s: the API saw %v", c.name, seen)
		}
		if id := res.Header.Get("X-Request-Id"); id == "" || id != seen.Get(identity.HeaderRequestID) {
			t.Errorf("%s: X-Request-Id %q, the API saw %q", c.name, id, seen.Get(identity.HeaderRequestID))
		}
	}
	// A client's X-Keyward-* headers, whatever their name, never reach the
	// API: forward-auth refuses a request carrying any, and a proxy that
	// drops a name before asking (nginx drops names with "_") drops it
	// upstream too.
	for _, name := range []string{"X-Keyward-Role", "X-Keyward-Scopes", "x-keyward-anything", identity.HeaderMerchant,
		identity.HeaderKeyID, "X_Keyward_Role", "X-KEYWARD-STORES"} {
		before := b.count()
		forged := key(cpa)
		forged[name] = "forged"
		res, out := send("GET", "/api/v5/orders/statuses?store=online", forged)
		if res.StatusCode == 200 && b.count() == before+1 {
			if seen := b.lastSeen(); hasForged(seen) {
				t.Errorf("client header %s: the API saw %v", name, seen)
			}
			if !strings.Contains(name, "_") {
				t.Errorf("client header %s: allowed", name)
			}
			continue
		}
		if res.StatusCode != 400 || out["code"] != "INVALID_REQUEST" || b.count() != before {
			t.Errorf("client header %s: %d %v, %d reached the API", name, res.StatusCode, out, b.count()-before)
		}
	}

	refused := []struct {
		name, method, target string
		headers              map[string]string
		status               int
		code                 string
	}{
		{"no key", "GET", "/api/v5/orders?store=main", nil, 401, "unauthenticated"},
		{"unknown key", "GET", "/api/v5/orders?store=main", map[string]string{"X-API-Key": "kwk_" + strings.Repeat("Z", 49)}, 401, "NOT_FOUND"},
		{"disabled key", "GET", "/api/v5/orders?store=main", key(disabled), 401, "DISABLED"},
		{"CPA lists orders", "GET", "/api/v5/orders?store=online", key(cpa), 403, "METHOD_NOT_ALLOWED"},
		{"CPA on main", "GET", "/api/v5/orders/statuses?store=main", key(cpa), 403, "STORE_NOT_ALLOWED"},
		{"RetentionEngine writes payments", "POST", "/api/v5/payments?store=main", key(re), 403, "INSUFFICIENT_PERMISSION"},
		{"store named twice", "GET", "/api/v5/orders/statuses?store=online&store=main", key(cpa), 400, "STORE_AMBIGUOUS"},
		{"path parameters", "GET", "/api/v5/orders;jsessionid=1/statuses?store=online", key(cpa), 400, "INVALID_REQUEST"},
		{"method override", "POST", "/api/v5/orders?store=main", map[string]string{"X-API-Key": re.Secrets[0].Secret, "X-HTTP-Method-Override": "DELETE"}, 400, "INVALID_REQUEST"},
		{"key in the query", "GET", "/api/v5/orders?store=main&apiKey=" + re.Secrets[0].Secret, nil, 400, "INVALID_REQUEST"},
		{"unknown route", "GET", "/api/v5/nothing", key(re), 404, "UNKNOWN_METHOD"},
		{"another merchant's job", "GET", "/api/v5/jobs/job_1", basic(beta), 404, "not_found"},
		{"a merchant reads orders", "GET", "/api/v5/orders?store=main", basic(acme), 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"slow key, first", "GET", "/api/v5/orders?store=main", key(slow), 200, ""},
		{"slow key, second", "GET", "/api/v5/orders?store=main", key(slow), 429, "RATE_LIMITED"},
		{"daily quota, first", "GET", "/api/v5/orders?store=main", key(daily), 200, ""},
		{"daily quota, second", "GET", "/api/v5/orders?store=main", key(daily), 429, "QUOTA_EXCEEDED"},
	}
	for _, c := range refused {
		before := b.count()
		res, out := send(c.method, c.target, c.headers)
		if res.StatusCode != c.status || (c.code != "" && out["code"] != c.code) {
			t.Errorf("%s: %d %v, want %d %s", c.name, res.StatusCode, out, c.status, c.code)
			continue
		}
		if c.code == "" {
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		if b.count() != before {
			t.Errorf("%s: reached the API", c.name)
		}
		switch c.status {
		case 401:
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", c.name)
			}
		case 429:
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("%s: no Retry-After", c.name)
			}
			if c.code == keyward.CodeQuotaExceeded {
				reset, err := time.Parse(time.RFC3339, res.Header.Get(gateway.HeaderQuotaReset))
				details, _ := out["details"].(map[string]any)
				if err != nil || reset.Hour() != 0 || !reset.After(time.Now()) || details["reset_at"] != res.Header.Get(gateway.HeaderQuotaReset) {
					t.Errorf("%s: reset %q (%v), details %v", c.name, res.Header.Get(gateway.HeaderQuotaReset), err, details)
				}
			}
		}
	}

	// The access matrix: a key per resource and level, every method.
	cat := b.Rep.Catalog()
	calls, wrong := 0, 0
	for _, res := range cat.Resources() {
		for _, lvl := range []keyward.Level{keyward.LevelRead, keyward.LevelWrite} {
			k := b.CreateKey(keyward.KeyCreate{Name: res + "-" + string(lvl), Permissions: keyward.Permissions{res: lvl}})
			for _, m := range cat.Methods() {
				if m.Upgrade != "" || m.Keyward {
					continue
				}
				req, err := demoapi.Sample(m, "main")
				if err != nil {
					continue // a method the demo API does not serve
				}
				before := b.count()
				headers := key(k)
				for name := range req.Header {
					headers[name] = req.Header.Get(name)
				}
				ans, _ := send(m.HTTPMethod, req.URL.RequestURI(), headers)
				calls++
				reached := b.count() > before
				if want := m.Resource == res && lvl.Allows(m.Access); reached != want {
					wrong++
					t.Errorf("%s: %s reached the API: %v (%d)", k.Name, m.ID, reached, ans.StatusCode)
				}
			}
		}
	}
	t.Logf("%d access-matrix requests, %d decided otherwise than the gateway", calls, wrong)
}

// TestDocumentedYAMLConfigs checks the Traefik and Envoy configurations of
// docs/integrations.md, whose binaries the tests do not run: both send
// keyward every X-Keyward-* header a client sent, so that it refuses them,
// and Traefik passes upstream only the identity headers keyward answered.
func TestDocumentedYAMLConfigs(t *testing.T) {
	cfgs := docConfigs(t)
	var traefik struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address             string   `yaml:"address"`
					AuthRequestHeaders  []string `yaml:"authRequestHeaders"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(cfgs["traefik"]), &traefik); err != nil {
		t.Fatalf("traefik: %v", err)
	}
	fa := traefik.HTTP.Middlewares["keyward"].ForwardAuth
	if fa == nil || !strings.HasSuffix(fa.Address, gateway.AuthzForward) {
		t.Fatalf("traefik: no forwardAuth to %s: %+v", gateway.AuthzForward, traefik)
	}
	if len(fa.AuthRequestHeaders) != 0 {
		t.Errorf("traefik: authRequestHeaders %v keeps client headers from keyward", fa.AuthRequestHeaders)
	}
	if !slices.Equal(slices.Sorted(slices.Values(fa.AuthResponseHeaders)), slices.Sorted(slices.Values(keywardHeaders))) {
		t.Errorf("traefik: authResponseHeaders %v, want %v", fa.AuthResponseHeaders, keywardHeaders)
	}

	type patterns struct {
		Patterns []map[string]string `yaml:"patterns"`
	}
	var envoy struct {
		HTTPService struct {
			PathPrefix           string `yaml:"path_prefix"`
			AuthorizationRequest struct {
				AllowedHeaders patterns `yaml:"allowed_headers"`
			} `yaml:"authorization_request"`
			AuthorizationResponse struct {
				AllowedUpstreamHeaders patterns `yaml:"allowed_upstream_headers"`
			} `yaml:"authorization_response"`
		} `yaml:"http_service"`
	}
	if err := yaml.Unmarshal([]byte(cfgs["envoy-http"]), &envoy); err != nil {
		t.Fatalf("envoy: %v", err)
	}
	svc := envoy.HTTPService
	if svc.PathPrefix != gateway.AuthzEnvoy {
		t.Fatalf("envoy: path_prefix %q", svc.PathPrefix)
	}
	has := func(p patterns, kind, v string) bool {
		return slices.ContainsFunc(p.Patterns, func(m map[string]string) bool { return m[kind] == v })
	}
	if !has(svc.AuthorizationRequest.AllowedHeaders, "prefix", "x-keyward-") {
		t.Errorf("envoy: allowed_headers %v does not send keyward a client's X-Keyward-* headers", svc.AuthorizationRequest.AllowedHeaders)
	}
	for _, h := range []string{"x-api-key", "authorization", "x-account-id", "x-auth-key"} {
		if !has(svc.AuthorizationRequest.AllowedHeaders, "exact", h) {
			t.Errorf("envoy: allowed_headers lacks %s", h)
		}
	}
	if !has(svc.AuthorizationResponse.AllowedUpstreamHeaders, "prefix", "x-keyward-") {
		t.Errorf("envoy: allowed_upstream_headers %v", svc.AuthorizationResponse.AllowedUpstreamHeaders)
	}
}
