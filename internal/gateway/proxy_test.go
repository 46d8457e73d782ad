package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

var testIdentityKey = []byte("0123456789abcdef0123456789abcdef-test")

// fixture is the demo tenant with a service, a replica kept in step by the
// change hook, and a fixed clock.
type fixture struct{ *keywardtest.Platform }

func newFixture(tb testing.TB, db *store.DB) *fixture { return &fixture{keywardtest.New(tb, db)} }

// key creates a key in the demo tenant and returns its first secret.
func (f *fixture) key(in keyward.KeyCreate) string {
	f.TB.Helper()
	return f.keyIn(f.Ctx, in)
}

func (f *fixture) keyIn(ctx context.Context, in keyward.KeyCreate) string {
	f.TB.Helper()
	k, err := f.Svc.CreateKey(ctx, in)
	if err != nil {
		f.TB.Fatalf("create key %s: %v", in.Name, err)
	}
	return k.Secrets[0].Secret
}

// tenant creates another tenant with a licence and returns its
// administrator's context.
func (f *fixture) tenant(domain string, rateLimit int) context.Context {
	f.TB.Helper()
	t, err := f.Svc.CreateTenant(f.Op, keyward.TenantCreate{Domain: domain})
	if err != nil {
		f.TB.Fatal(err)
	}
	if _, err := f.Svc.GrantLicence(f.Op, domain, keyward.LicenceGrant{RateLimit: &rateLimit}); err != nil {
		f.TB.Fatal(err)
	}
	return keyward.WithActor(context.Background(), service.SystemActor(t, "test"))
}

func (f *fixture) proxy(cfg ProxyConfig) *Proxy {
	f.TB.Helper()
	if cfg.Replica == nil {
		cfg.Replica = f.Rep
	}
	if cfg.IdentityKey == nil {
		cfg.IdentityKey = testIdentityKey
	}
	p, err := NewProxy(cfg)
	if err != nil {
		f.TB.Fatal(err)
	}
	return p
}

// seen is what the echo upstream received.
type seen struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
}

// echo is an upstream answering every request with what it received.
func echo(t *testing.T) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serve starts h on 127.0.0.1 and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// reply is one answer of the proxy: its status, headers, and either what
// the upstream saw or the problem.
type reply struct {
	status  int
	header  http.Header
	seen    *seen
	problem *httpx.Problem
	body    string
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := reply{status: res.StatusCode, header: res.Header, body: string(body)}
	if len(body) == 0 {
		return out
	}
	switch res.Header.Get("Content-Type") {
	case "application/json":
		out.seen = new(seen)
		if err := json.Unmarshal(body, out.seen); err != nil {
			t.Fatalf("upstream answer: %v: %s", err, body)
		}
	case "application/problem+json":
		out.problem = new(httpx.Problem)
		if err := json.Unmarshal(body, out.problem); err != nil {
			t.Fatalf("problem: %v: %s", err, body)
		}
	}
	return out
}

func newRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// assertNoKey fails if the secret appears anywhere the upstream saw.
func assertNoKey(t *testing.T, s *seen, secret string) {
	t.Helper()
	if strings.Contains(s.Query, secret) || strings.Contains(s.Path, secret) {
		t.Errorf("the key reached the upstream in %q?%q", s.Path, s.Query)
	}
	for name, vals := range s.Header {
		for _, v := range vals {
			if strings.Contains(v, secret) {
				t.Errorf("the key reached the upstream in header %s", name)
			}
		}
	}
}

// upstreamRequest rebuilds the request the upstream received, for
// VerifyIdentity.
func upstreamRequest(s *seen) *http.Request {
	return &http.Request{Method: s.Method, URL: &url.URL{Path: s.Path, RawQuery: s.Query}, Header: s.Header.Clone()}
}

func TestProxyCredentialSources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		up := echo(t)
		sec := f.key(keyward.KeyCreate{Name: "Sources", Permissions: keyward.Permissions{"orders": "write"}})
		put := map[string]func(*http.Request){
			"header": func(r *http.Request) { r.Header.Set("X-API-Key", sec) },
			"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+sec) },
			"query":  func(r *http.Request) { r.URL.RawQuery = "store=main&apiKey=" + sec + "&page=2&sort=-date" },
			"none":   func(*http.Request) {},
		}
		cases := []struct {
			name      string
			sources   []string
			send      string
			want      int
			wantQuery string
		}{
			{name: "header", send: "header", want: 200, wantQuery: "store=main"},
			{name: "bearer", send: "bearer", want: 200, wantQuery: "store=main"},
			{name: "query keeps other params", send: "query", want: 200, wantQuery: "store=main&page=2&sort=-date"},
			{name: "header only", sources: []string{SourceHeader}, send: "header", want: 200, wantQuery: "store=main"},
			{name: "header disabled", sources: []string{SourceBearer, SourceQuery}, send: "header", want: 401},
			{name: "bearer disabled", sources: []string{SourceHeader, SourceQuery}, send: "bearer", want: 401},
			{name: "query disabled", sources: []string{SourceHeader, SourceBearer}, send: "query", want: 401},
			{name: "no key", send: "none", want: 401},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				base := serve(t, f.proxy(ProxyConfig{Upstream: up, Sources: c.sources}))
				req := newRequest(t, "GET", base+"/api/v5/orders?store=main")
				put[c.send](req)
				r := do(t, req)
				if r.status != c.want {
					t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
				}
				if c.want != 200 {
					if r.problem == nil || r.problem.Code != string(keyward.EUnauthenticated) ||
						r.problem.Details["verify_code"] != keyward.CodeNotFound || !strings.HasPrefix(r.problem.Detail, "No API key: send ") {
						t.Fatalf("problem %+v", r.problem)
					}
					if r.header.Get("WWW-Authenticate") == "" {
						t.Fatal("401 without WWW-Authenticate")
					}
					return
				}
				if r.seen == nil {
					t.Fatalf("no upstream answer: %s", r.body)
				}
				assertNoKey(t, r.seen, sec)
				if r.seen.Query != c.wantQuery || r.seen.Path != "/api/v5/orders" {
					t.Fatalf("upstream saw %s?%s, want /api/v5/orders?%s", r.seen.Path, r.seen.Query, c.wantQuery)
				}
				id, err := verifyIdentity(upstreamRequest(r.seen), testIdentityKey, time.Minute, time.Now())
				if err != nil {
					t.Fatalf("identity: %v", err)
				}
				if id.Tenant != "demo" || id.Method != "orders.list" || !id.AllStores || !strings.HasPrefix(id.KeyID, "key_") {
					t.Fatalf("identity %+v", id)
				}
			})
		}
	})
}

func TestProxyIdentityHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		up := echo(t)
		// The upstream mounts the API under a base path.
		up.Path = "/platform"
		sec := f.key(keyward.KeyCreate{Name: "Spoof", Permissions: keyward.Permissions{"orders": "read"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main", "online"}}})
		base := serve(t, f.proxy(ProxyConfig{Upstream: up}))
		spoofs := []struct {
			name string
			set  func(http.Header)
		}{
			{name: "none", set: func(http.Header) {}},
			{name: "key id", set: func(h http.Header) { h.Set(identity.HeaderKeyID, "key_evil") }},
			{name: "every identity header", set: func(h http.Header) {
				for _, n := range []string{identity.HeaderKeyID, identity.HeaderTenant, identity.HeaderStores, identity.HeaderMethod, identity.HeaderTimestamp, identity.HeaderSignature} {
					h.Set(n, "evil")
				}
			}},
			{name: "named in Connection", set: func(h http.Header) {
				h.Set(identity.HeaderKeyID, "key_evil")
				h.Set("Connection", identity.HeaderKeyID+", "+identity.HeaderSignature)
			}},
			{name: "lower case", set: func(h http.Header) { h["x-keyward-tenant"] = []string{"evil"} }},
			{name: "underscores", set: func(h http.Header) { h["X_Keyward_Stores"] = []string{"*"} }},
			// PHP reads "." in a header name as "_", so as X-Keyward-Role.
			{name: "dots", set: func(h http.Header) { h["X-Keyward.Role"] = []string{"admin"}; h["X.Keyward.Stores"] = []string{"*"} }},
			{name: "unknown X-Keyward header", set: func(h http.Header) { h.Set("X-Keyward-Admin", "true") }},
			{name: "second API key", set: func(h http.Header) { h.Add("X-API-Key", "kwk_other") }},
			{name: "keyward bearer beside the header", set: func(h http.Header) { h.Set("Authorization", "Bearer kwk_"+strings.Repeat("B", 49)) }},
		}
		for _, c := range spoofs {
			t.Run(c.name, func(t *testing.T) {
				req := newRequest(t, "GET", base+"/api/v5/orders?store=online")
				req.Header.Set("X-API-Key", sec)
				c.set(req.Header)
				r := do(t, req)
				if r.status != 200 || r.seen == nil {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				assertNoKey(t, r.seen, sec)
				assertNoKey(t, r.seen, "kwk_")
				for name, vals := range r.seen.Header {
					if hasPrefixHeader(name, identityPrefix) && len(vals) != 1 {
						t.Errorf("%s: %q", name, vals)
					}
					if strings.Contains(strings.Join(vals, ","), "evil") || name == "X-Keyward-Admin" || strings.ContainsAny(name, "_.") {
						t.Errorf("spoofed %s: %q reached the upstream", name, vals)
					}
				}
				if r.seen.Path != "/platform/api/v5/orders" {
					t.Fatalf("upstream path %q", r.seen.Path)
				}
				in := upstreamRequest(r.seen)
				id, err := verifyIdentity(in, testIdentityKey, time.Minute, time.Now())
				if err != nil {
					t.Fatalf("identity: %v", err)
				}
				if id.AllStores || len(id.Stores) != 2 || id.Method != "orders.list" || id.Tenant != "demo" {
					t.Fatalf("identity %+v", id)
				}
				tampered := in.Clone(context.Background())
				tampered.Header.Set(identity.HeaderStores, "*")
				if _, err := verifyIdentity(tampered, testIdentityKey, time.Minute, time.Now()); !errors.Is(err, identity.ErrForged) {
					t.Fatalf("tampered stores: %v, want identity.ErrForged", err)
				}
			})
		}
	})
}

func TestProxyRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		up := echo(t)
		off := false
		keys := map[string]string{
			"unknown":   "kwk_" + strings.Repeat("A", 49),
			"malformed": "not-a-key",
			"disabled":  f.key(keyward.KeyCreate{Name: "Off", Enabled: &off, Permissions: keyward.Permissions{"orders": "read"}}),
			"allowlist": f.key(keyward.KeyCreate{Name: "Statuses", Permissions: keyward.Permissions{"orders": "read"}, Methods: []string{"orders.statuses.list"}}),
			"read":      f.key(keyward.KeyCreate{Name: "Read", Permissions: keyward.Permissions{"orders": "read"}}),
			"main": f.key(keyward.KeyCreate{Name: "Main", Permissions: keyward.Permissions{"orders": "read", "inventory": "write"},
				Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}}),
		}
		other := f.tenant("revoked", 0)
		keys["revoked"] = f.keyIn(other, keyward.KeyCreate{Name: "R", Permissions: keyward.Permissions{"orders": "read"}})
		if _, err := f.Svc.RevokeLicence(f.Op, "revoked"); err != nil {
			t.Fatal(err)
		}

		strict := serve(t, f.proxy(ProxyConfig{Upstream: up}))
		cases := []struct {
			name, key, method, path, store string
			status                         int
			code                           string
			missing                        *Missing
		}{
			{name: "allowed", key: "read", method: "GET", path: "/api/v5/orders?store=main", status: 200},
			{name: "unknown key", key: "unknown", method: "GET", path: "/api/v5/orders?store=main", status: 401, code: keyward.CodeNotFound},
			{name: "malformed key", key: "malformed", method: "GET", path: "/api/v5/orders?store=main", status: 401, code: keyward.CodeNotFound},
			{name: "disabled", key: "disabled", method: "GET", path: "/api/v5/orders?store=main", status: 401, code: keyward.CodeDisabled},
			{name: "licence revoked", key: "revoked", method: "GET", path: "/api/v5/orders", status: 403, code: keyward.CodeLicenceInactive},
			{name: "method not in allowlist", key: "allowlist", method: "GET", path: "/api/v5/orders?store=main", status: 403, code: keyward.CodeMethodNotAllowed},
			{name: "allowlisted method", key: "allowlist", method: "GET", path: "/api/v5/orders/statuses?store=main", status: 200},
			{name: "missing permission", key: "read", method: "POST", path: "/api/v5/orders?store=main", status: 403,
				code: keyward.CodeInsufficientPermission, missing: &Missing{Resource: "orders", Level: keyward.LevelWrite}},
			{name: "store in query allowed", key: "main", method: "GET", path: "/api/v5/orders?store=main", status: 200},
			{name: "store in query refused", key: "main", method: "GET", path: "/api/v5/orders?store=online", status: 403, code: keyward.CodeStoreNotAllowed},
			{name: "store required", key: "main", method: "GET", path: "/api/v5/orders", status: 403, code: keyward.CodeStoreRequired},
			{name: "store in path allowed", key: "main", method: "GET", path: "/api/v5/stores/main/inventory/SKU-1", status: 200},
			{name: "store in path refused", key: "main", method: "GET", path: "/api/v5/stores/online/inventory/SKU-1", status: 403, code: keyward.CodeStoreNotAllowed},
			{name: "store in header allowed", key: "main", method: "PUT", path: "/api/v5/inventory/SKU-1", store: "main", status: 200},
			{name: "store in header refused", key: "main", method: "PUT", path: "/api/v5/inventory/SKU-1", store: "online", status: 403, code: keyward.CodeStoreNotAllowed},
			{name: "HEAD checked as GET", key: "main", method: "HEAD", path: "/api/v5/orders?store=main", status: 200},
			{name: "HEAD refused as GET", key: "main", method: "HEAD", path: "/api/v5/orders?store=online", status: 403},
			{name: "unknown route", key: "read", method: "GET", path: "/api/v5/nowhere", status: 404, code: keyward.CodeUnknownMethod},
			{name: "unknown HTTP method", key: "read", method: "DELETE", path: "/api/v5/orders/statuses", status: 404, code: keyward.CodeUnknownMethod},
			{name: "dot segments", key: "read", method: "GET", path: "/api/v5/orders/../orders?store=main", status: 400, code: keyward.CodeInvalidRequest},
			{name: "encoded slash", key: "read", method: "GET", path: "/api/v5/stores/main%2F..%2Fonline/inventory/x", status: 400, code: keyward.CodeInvalidRequest},
			{name: "empty segment", key: "read", method: "GET", path: "/api/v5//orders?store=main", status: 400, code: keyward.CodeInvalidRequest},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := newRequest(t, c.method, strict+c.path)
				req.Header.Set("X-API-Key", keys[c.key])
				if c.store != "" {
					req.Header.Set("X-Store", c.store)
				}
				r := do(t, req)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				if c.method == "HEAD" {
					return // no body to read
				}
				if c.status == 200 {
					if r.seen == nil || r.seen.Header.Get(identity.HeaderKeyID) == "" {
						t.Fatalf("not forwarded with an identity: %s", r.body)
					}
					return
				}
				if r.problem == nil || r.problem.Code != c.code || r.problem.Status != c.status || r.problem.Detail == "" {
					t.Fatalf("problem %+v, want code %s", r.problem, c.code)
				}
				if (c.status == 401) != (r.header.Get("WWW-Authenticate") != "") {
					t.Fatalf("WWW-Authenticate %q on a %d", r.header.Get("WWW-Authenticate"), c.status)
				}
				if c.missing != nil {
					raw, _ := json.Marshal(r.problem.Details)
					var got struct{ Missing *Missing }
					if err := json.Unmarshal(raw, &got); err != nil || got.Missing == nil || *got.Missing != *c.missing {
						t.Fatalf("details %s, want missing %+v", raw, *c.missing)
					}
				}
			})
		}

		t.Run("pass unknown", func(t *testing.T) {
			pass := serve(t, f.proxy(ProxyConfig{Upstream: up, PassUnknown: true}))
			req := newRequest(t, "GET", pass+"/public/health?apiKey="+keys["read"]+"&x=1")
			req.Header.Set(identity.HeaderKeyID, "key_evil")
			req.Header.Set(identity.HeaderSignature, "v1=evil")
			r := do(t, req)
			if r.status != 200 || r.seen == nil {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.seen.Path != "/public/health" || r.seen.Query != "x=1" {
				t.Fatalf("upstream saw %s?%s", r.seen.Path, r.seen.Query)
			}
			assertNoKey(t, r.seen, keys["read"])
			for name := range r.seen.Header {
				if hasPrefixHeader(name, identityPrefix) {
					t.Errorf("%s forwarded on an unknown route", name)
				}
			}
			// Known routes are still checked, HEAD as GET.
			for _, method := range []string{"GET", "HEAD"} {
				if r := do(t, newRequest(t, method, pass+"/api/v5/orders")); r.status != 401 {
					t.Fatalf("%s on a known route without a key: %d", method, r.status)
				}
			}
			// A path the upstream could resolve elsewhere is never passed.
			if r := do(t, newRequest(t, "GET", pass+"/public/../api/v5/orders")); r.status != 400 {
				t.Fatalf("dot segments passed: %d", r.status)
			}
		})
	})
}

// burst sends n requests through the proxies in turn and counts the
// answers by status, checking the rate-limit headers on each.
func burst(t *testing.T, bases []string, path, key string, n, limit int) (passed int) {
	t.Helper()
	for i := range n {
		req := newRequest(t, "GET", bases[i%len(bases)]+path)
		req.Header.Set("X-API-Key", key)
		r := do(t, req)
		if got := r.header.Get("RateLimit-Limit"); got != strconv.Itoa(limit) {
			t.Fatalf("request %d: RateLimit-Limit %q, want %d", i, got, limit)
		}
		rem, err1 := strconv.Atoi(r.header.Get("RateLimit-Remaining"))
		reset, err2 := strconv.Atoi(r.header.Get("RateLimit-Reset"))
		if err1 != nil || err2 != nil || rem < 0 || rem > limit || reset < 0 || reset > 1 {
			t.Fatalf("request %d: RateLimit-Remaining %q, RateLimit-Reset %q", i, r.header.Get("RateLimit-Remaining"), r.header.Get("RateLimit-Reset"))
		}
		switch r.status {
		case 200:
			passed++
		case 429:
			if r.problem == nil || r.problem.Code != keyward.CodeRateLimited {
				t.Fatalf("request %d: problem %+v", i, r.problem)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("request %d: Retry-After %q", i, r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("request %d: status %d: %s", i, r.status, r.body)
		}
	}
	return passed
}

func TestProxyRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		up := echo(t)
		// The demo licence allows 1000 requests per second.
		keyLimited := f.key(keyward.KeyCreate{Name: "Five", Permissions: keyward.Permissions{"orders": "read"}, RateLimit: 5})
		ten := f.tenant("small", 5)
		tenantLimited := f.keyIn(ten, keyward.KeyCreate{Name: "Unlimited", Permissions: keyward.Permissions{"orders": "read"}})
		unlimited := f.keyIn(f.tenant("nolimit", 0), keyward.KeyCreate{Name: "Free", Permissions: keyward.Permissions{"orders": "read"}})

		frozen := time.Now()
		cases := []struct {
			name string
			key  string
		}{
			{name: "key limit", key: keyLimited},
			{name: "tenant licence limit", key: tenantLimited},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				lim := ratelimit.New(ratelimit.WithClock(func() time.Time { return frozen }))
				base := serve(t, f.proxy(ProxyConfig{Upstream: up, Limiter: lim}))
				if passed := burst(t, []string{base}, "/api/v5/orders", c.key, 20, 5); passed < 5 || passed > 6 {
					t.Fatalf("%d of 20 passed, want 5 or 6", passed)
				}
			})
		}
		t.Run("no limit", func(t *testing.T) {
			base := serve(t, f.proxy(ProxyConfig{Upstream: up, Limiter: ratelimit.New()}))
			for i := range 20 {
				req := newRequest(t, "GET", base+"/api/v5/orders")
				req.Header.Set("X-API-Key", unlimited)
				r := do(t, req)
				if r.status != 200 || r.header.Get("RateLimit-Limit") != "" {
					t.Fatalf("request %d: %d, RateLimit-Limit %q", i, r.status, r.header.Get("RateLimit-Limit"))
				}
			}
		})
	})
}

func TestProxyRateLimitSharedThroughRedis(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t, client)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		up := echo(t)
		sec := f.key(keyward.KeyCreate{Name: "Shared", Permissions: keyward.Permissions{"orders": "read"}, RateLimit: 5})
		lim := ratelimit.NewRedis(client, ratelimit.WithPrefix(prefix+string(db.Engine())+":"))
		var bases []string
		for range 2 {
			// Each node has its own replica of the shared database.
			rep := replica.New(db, catalog.Builtin(), replica.WithClock(func() time.Time { return f.Now }))
			if err := rep.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			bases = append(bases, serve(t, f.proxy(ProxyConfig{Upstream: up, Replica: rep, Limiter: lim})))
		}
		if passed := burst(t, bases, "/api/v5/orders", sec, 20, 5); passed < 5 || passed > 6 {
			t.Fatalf("%d of 20 passed across two nodes, want 5 or 6", passed)
		}
	})
}

func TestProxyUpstreamDown(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	dead := httptest.NewServer(http.NotFoundHandler())
	up, _ := url.Parse(dead.URL)
	dead.Close()
	sec := f.key(keyward.KeyCreate{Name: "Down", Permissions: keyward.Permissions{"orders": "read"}})
	var logs bytes.Buffer
	base := serve(t, f.proxy(ProxyConfig{Upstream: up, Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	req := newRequest(t, "GET", base+"/api/v5/orders?secretparam=s3cr3t")
	req.Header.Set("Authorization", "Bearer "+sec)
	r := do(t, req)
	if !strings.Contains(logs.String(), "upstream request failed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
	for _, leak := range []string{sec, "s3cr3t", "Bearer"} {
		if strings.Contains(logs.String(), leak) {
			t.Fatalf("the log holds %q: %s", leak, logs.String())
		}
	}
	if r.status != http.StatusBadGateway || r.problem == nil || r.problem.Code != codeBadGateway {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for _, leak := range []string{up.Host, "dial", "refused", "127.0.0.1"} {
		if strings.Contains(r.body, leak) {
			t.Fatalf("the answer reveals %q: %s", leak, r.body)
		}
	}
}

func TestNewProxyChecksConfig(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	up, _ := url.Parse("http://127.0.0.1:9")
	cases := []struct {
		name string
		cfg  ProxyConfig
		ok   bool
	}{
		{name: "valid", cfg: ProxyConfig{Upstream: up, Replica: f.Rep, IdentityKey: testIdentityKey}, ok: true},
		{name: "no upstream", cfg: ProxyConfig{Replica: f.Rep, IdentityKey: testIdentityKey}},
		{name: "relative upstream", cfg: ProxyConfig{Upstream: &url.URL{Path: "/x"}, Replica: f.Rep, IdentityKey: testIdentityKey}},
		{name: "no replica", cfg: ProxyConfig{Upstream: up, IdentityKey: testIdentityKey}},
		{name: "short identity key", cfg: ProxyConfig{Upstream: up, Replica: f.Rep, IdentityKey: []byte("short")}},
		{name: "unknown source", cfg: ProxyConfig{Upstream: up, Replica: f.Rep, IdentityKey: testIdentityKey, Sources: []string{"cookie"}}},
		{name: "source twice", cfg: ProxyConfig{Upstream: up, Replica: f.Rep, IdentityKey: testIdentityKey, Sources: []string{"query", "query"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewProxy(c.cfg)
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestStripQuery(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{name: "none", in: "a=1&b=2", want: "a=1&b=2"},
		{name: "empty", in: "", want: ""},
		{name: "only", in: "apiKey=k", want: ""},
		{name: "first", in: "apiKey=k&a=1", want: "a=1"},
		{name: "middle", in: "a=1&apiKey=k&b=2", want: "a=1&b=2"},
		{name: "last", in: "a=1&apiKey=k", want: "a=1"},
		{name: "every copy", in: "apiKey=k&a=1&apiKey=j", want: "a=1"},
		{name: "encoded name", in: "a=1&api%4Bey=k", want: "a=1"},
		{name: "semicolon", in: "a=1;apiKey=k&b=2", want: "a=1&b=2"},
		{name: "no value", in: "apiKey&a=1", want: "a=1"},
		{name: "similar names kept", in: "apikey=1&apiKeys=2&xapiKey=3", want: "apikey=1&apiKeys=2&xapiKey=3"},
		{name: "values untouched", in: "q=a%20b+c&apiKey=k&r=%zz", want: "q=a%20b+c&r=%zz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := stripQuery(c.in); got != c.want {
				t.Fatalf("stripQuery(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestConcurrentProxying(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	up := echo(t)
	sec := f.key(keyward.KeyCreate{Name: "Busy", Permissions: keyward.Permissions{"orders": "read"}})
	base := serve(t, f.proxy(ProxyConfig{Upstream: up, Limiter: ratelimit.New()}))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				req, _ := http.NewRequest("GET", base+"/api/v5/orders?n="+strconv.Itoa(w*100+i), nil)
				req.Header.Set("X-API-Key", sec)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				var s seen
				err = json.NewDecoder(res.Body).Decode(&s)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					errs <- "status " + res.Status
					return
				}
				if _, err := verifyIdentity(upstreamRequest(&s), testIdentityKey, time.Minute, time.Now()); err != nil {
					errs <- err.Error()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
