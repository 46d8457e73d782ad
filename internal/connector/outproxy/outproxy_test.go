package outproxy_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/connector/outproxy"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

var loopback = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}

type proxyEnv struct {
	svc   *service.Service
	srv   *httptest.Server
	h     *outproxy.Handler
	now   time.Time
	admin string // a personal access token holding every feature
	sys   context.Context
}

func newProxyEnv(t *testing.T, db *store.DB) *proxyEnv {
	t.Helper()
	ctx := context.Background()
	kr, _ := seal.ParseKeyring(seal.GenerateKey())
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(kr), service.WithOutbound(loopback))
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client, err := outbound.NewClient(loopback)
	if err != nil {
		t.Fatal(err)
	}
	e := &proxyEnv{svc: svc, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e.h = &outproxy.Handler{Svc: svc, Client: client, Now: func() time.Time { return e.now }}
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	ten, err := svc.TenantByDomain(ctx, demo.Domain)
	if err != nil {
		t.Fatal(err)
	}
	e.admin, e.sys = demo.Token, keyward.WithActor(ctx, service.SystemActor(ten, "test"))
	return e
}

func (e *proxyEnv) call(t *testing.T, token, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// A platform service calls Shopify through the proxy with its keyward
// token: the proxy sends the connection's access token, not the caller's
// credentials, and the answer comes back without the token.
func TestProxyAddsCredentialsAndStripsThem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newProxyEnv(t, db)
		f := connectortest.New(t, "shopify")
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatal(err)
		}
		res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json?limit=1",
			map[string]string{"X-Shopify-Access-Token": "caller-supplied", "Cookie": "a=b"})
		if res.StatusCode != 200 || !strings.Contains(body, `"orders"`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		if got := f.LastHeader.Get("X-Shopify-Access-Token"); got != connectortest.Token {
			t.Fatalf("the system got token %q", got)
		}
		if f.LastHeader.Get("Authorization") != "" || f.LastHeader.Get("Cookie") != "" || f.LastURL.Query().Get("limit") != "1" {
			t.Fatalf("forwarded %v %v", f.LastHeader, f.LastURL)
		}
		if strings.Contains(body, connectortest.Token) || res.Header.Get("X-Shopify-Access-Token") != "" {
			t.Fatalf("the answer carries the token: %v %s", res.Header, body)
		}
		if res.Header.Get("X-Keyward-Connection") != c.ID {
			t.Fatal("the answer does not name the connection")
		}

		// Refusals: no token, a profile without Connectors, a disabled
		// connection, another tenant's or an unknown id, a path with dot segments.
		if res, _ := e.call(t, "", "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 401 {
			t.Fatalf("no token: %d", res.StatusCode)
		}
		p, _ := e.svc.CreateProfile(e.sys, keyward.ProfileCreate{Name: "Keys only", Features: []keyward.Feature{keyward.FeatureAPIManagement}})
		u, _, err := e.svc.CreateUser(e.sys, keyward.UserCreate{Email: "keys@demo.test", ProfileID: p.ID, Password: "a long enough password 1"})
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := e.svc.CreateToken(e.sys, u.Email, keyward.TokenCreate{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if res, body := e.call(t, tok, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 403 || !strings.Contains(body, "feature_required") {
			t.Fatalf("without Connectors: %d %s", res.StatusCode, body)
		}
		calls := f.Calls()
		if res, _ := e.call(t, e.admin, "GET", "/connections/con_nope/x", nil); res.StatusCode != 404 {
			t.Fatalf("unknown connection: %d", res.StatusCode)
		}
		if res, _ := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/%2e%2e/secret", nil); res.StatusCode != 400 {
			t.Fatalf("dot segments: %d", res.StatusCode)
		}
		off := false
		if _, err := e.svc.UpdateConnection(e.sys, c.ID, keyward.ConnectionUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if res, _ := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 403 {
			t.Fatalf("disabled: %d", res.StatusCode)
		}
		if f.Calls() != calls {
			t.Fatalf("refused requests reached the system: %d", f.Calls()-calls)
		}
	})
}

// A system compressing its answers cannot slip a credential past the
// proxy: an answer it compressed because keyward asked is read decoded and
// redacted, whatever the caller accepts; one compressed unasked, which
// keyward cannot redact, is refused.
func TestProxyRedactsCompressedAnswers(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	var unasked atomic.Value // the content coding to use whatever is asked; "" for none
	unasked.Store("")
	sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := `{"error": "token ` + r.Header.Get("X-Shopify-Access-Token") + ` lacks a scope"}`
		coding := unasked.Load().(string)
		if coding == "" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			coding = "gzip"
		}
		if coding == "" {
			io.WriteString(w, echo)
			return
		}
		w.Header().Set("Content-Encoding", coding)
		gz := gzip.NewWriter(w)
		io.WriteString(gz, echo)
		gz.Close()
	}))
	t.Cleanup(sys.Close)
	c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: sys.URL,
		Fields: connectortest.New(t, "shopify").Values()})
	if err != nil {
		t.Fatal(err)
	}
	path := "/connections/" + c.ID + "/admin/api/2025-10/orders.json"
	for _, accept := range []string{"", "gzip", "gzip, deflate, br"} {
		res, body := e.call(t, e.admin, "GET", path, map[string]string{"Accept-Encoding": accept})
		if res.StatusCode != 200 || strings.Contains(body, connectortest.Token) || !strings.Contains(body, "[redacted]") {
			t.Errorf("Accept-Encoding %q: %d %q", accept, res.StatusCode, body)
		}
		if ce := res.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("Accept-Encoding %q: the redacted answer is labelled %q", accept, ce)
		}
	}
	// keyward asks for gzip itself; any other coding is one it did not ask for.
	for _, coding := range []string{"br", "deflate"} {
		unasked.Store(coding)
		res, body := e.call(t, e.admin, "GET", path, map[string]string{"Accept-Encoding": coding})
		if res.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, connectortest.Token) {
			t.Errorf("compressed unasked with %s: %d %q", coding, res.StatusCode, body)
		}
	}
}

// Each system gets its credentials in its own form through the proxy.
func TestProxyAuthorizesEachSystem(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	for typ, check := range map[string]func(h http.Header) bool{
		"bigcommerce": func(h http.Header) bool { return h.Get("X-Auth-Token") == connectortest.Token },
		"mirakl":      func(h http.Header) bool { return h.Get("Authorization") == connectortest.Token },
		"recharge":    func(h http.Header) bool { return h.Get("X-Recharge-Access-Token") == connectortest.Token },
		"retailcrm":   func(h http.Header) bool { return h.Get("X-Api-Key") == connectortest.Token },
		"klaviyo":     func(h http.Header) bool { return h.Get("Authorization") == "Klaviyo-API-Key pk_"+connectortest.Token },
		"woocommerce": func(h http.Header) bool {
			u, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && u == "ck_"+connectortest.Token && p == "cs_"+connectortest.Secret
		},
		"retailexpress": func(h http.Header) bool { return h.Get("X-Api-Key") == connectortest.Token },
	} {
		f := connectortest.New(t, typ)
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: typ, Name: typ, APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		e.call(t, e.admin, "GET", "/connections/"+c.ID+"/some/path", nil)
		if !check(f.LastHeader) {
			t.Errorf("%s: the system got %v", typ, f.LastHeader)
		}
		if f.LastURL.Path != "/some/path" {
			t.Errorf("%s: path %s", typ, f.LastURL.Path)
		}
	}
}

// Retail Express data calls need a bearer token besides the API key: the
// proxy gets one, keeps it until it runs out, and never hands it out.
func TestProxyKeepsRetailExpressSession(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	f := connectortest.New(t, "retailexpress")
	c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "retailexpress", Name: "REX", APIURL: f.URL, Fields: f.Values()})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	for range 2 {
		res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/v2.1/outlets?page_size=1", nil)
		if res.StatusCode != 200 || !strings.Contains(body, "Fake Outlet") {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	}
	if n := f.Calls() - calls; n != 3 {
		t.Fatalf("%d calls for two requests, want one token call and two data calls", n)
	}
	res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/v2/auth/token", nil)
	if res.StatusCode != 200 || strings.Contains(body, "rex-bearer") || !strings.Contains(body, "[redacted]") {
		t.Fatalf("the token call through the proxy: %d %s", res.StatusCode, body)
	}
}

// Fortnox access tokens last an hour and refresh tokens work once: the
// proxy gets a fresh access token, stores the rotated refresh token at
// once, reuses the token until shortly before it runs out, then refreshes
// with the stored one.
func TestProxyRefreshesFortnoxTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newProxyEnv(t, db)
		f := connectortest.New(t, "fortnox")
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "fortnox", Name: "Books", APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatal(err)
		}
		calls := f.Calls()
		for range 2 {
			if res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/3/companyinformation", nil); res.StatusCode != 200 || !strings.Contains(body, "Fake AB") {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
		}
		if n := f.Calls() - calls; n != 3 {
			t.Fatalf("%d calls for two requests, want one refresh and two data calls", n)
		}
		if got, _ := e.svc.RevealConnectionSecret(e.sys, c.ID, "refresh_token"); got != f.RefreshToken() {
			t.Fatalf("stored refresh token %q, the system's current one %q", got, f.RefreshToken())
		}
		e.now = e.now.Add(time.Hour)
		if res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/3/companyinformation", nil); res.StatusCode != 200 {
			t.Fatalf("an hour later: %d %s", res.StatusCode, body)
		}
		if n := f.Calls() - calls; n != 5 {
			t.Fatalf("%d calls, want a second refresh", n)
		}
		if got, _ := e.svc.RevealConnectionSecret(e.sys, c.ID, "refresh_token"); got != f.RefreshToken() {
			t.Fatalf("after the second refresh: stored %q, current %q", got, f.RefreshToken())
		}
		if v, err := e.svc.VerifyConnection(e.sys, c.ID); err != nil || !v.OK() {
			t.Fatalf("verify after the proxy's refreshes: %+v, %v", v, err)
		}
	})
}
