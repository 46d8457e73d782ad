package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

var hardenKey = bytes.Repeat([]byte("h"), 32)

// received is one request as the upstream received it.
type received struct {
	Method, URI string
	Header      http.Header
	Body        string
}

// testbed is the demo tenant behind the real gateway, in front of a demo
// platform API that can be replaced (as a restart would), recording every
// request that reaches it.
type testbed struct {
	*keywardtest.Platform
	gw    *httptest.Server
	upURL string
	api   atomic.Pointer[demoapi.API]
	// upgrade, when set, answers 101 to upgrade requests and then echoes
	// the tunnel's bytes, as an upstream offering a raw tunnel would.
	upgrade atomic.Bool
	// gzip, when set, has the upstream compress every answer whose request
	// accepts gzip.
	gzip atomic.Bool

	mu   sync.Mutex
	seen []received
}

func newTestbed(t *testing.T, db *store.DB, limiter *ratelimit.Limiter) *testbed {
	t.Helper()
	tb := &testbed{Platform: keywardtest.NewWithCatalog(t, db, gateway.FeedCatalog(t, false))}
	tb.api.Store(demoapi.New(demoapi.Options{}))
	// Requests marked X-Test-Direct stand for the platform's own writes,
	// which do not come through the gateway.
	direct := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tb.api.Load().ServeHTTP(w, r) })
	checked := identity.Middleware(hardenKey, direct)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tb.mu.Lock()
		tb.seen = append(tb.seen, received{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
		tb.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if tb.upgrade.Load() && r.Header.Get("Upgrade") != "" {
			tunnel(w, r)
			return
		}
		if r.Header.Get("X-Test-Direct") != "" {
			direct.ServeHTTP(w, r)
			return
		}
		if tb.gzip.Load() && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			w = gzipAnswer{w, gz}
		}
		checked.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	tb.upURL = up.URL
	u, _ := url.Parse(up.URL)
	p, err := gateway.NewProxy(gateway.ProxyConfig{Upstream: u, Replica: tb.Rep, IdentityKey: hardenKey, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	tb.gw = httptest.NewServer(p)
	t.Cleanup(tb.gw.Close)
	return tb
}

// gzipAnswer compresses what a handler writes.
type gzipAnswer struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (g gzipAnswer) Write(b []byte) (int, error) { return g.gz.Write(b) }

func (g gzipAnswer) WriteHeader(status int) {
	g.ResponseWriter.Header().Del("Content-Length")
	g.ResponseWriter.WriteHeader(status)
}

// tunnel answers 101 and echoes every byte back.
func tunnel(w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw)
}

// reached returns how many requests have reached the upstream.
func (tb *testbed) reached() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.seen)
}

// since returns the requests that reached the upstream after the first n.
func (tb *testbed) since(n int) []received {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]received(nil), tb.seen[n:]...)
}

func (tb *testbed) last() received {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.seen[len(tb.seen)-1]
}

// rawRequest sends bytes as they are to the gateway and reads one answer.
func (tb *testbed) rawRequest(t *testing.T, raw string) (int, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tb.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// do sends a request through the gateway.
func (tb *testbed) do(t *testing.T, method, target string, h http.Header, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, tb.gw.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = nil, 0
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func basic(u *keyward.MerchantUser) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u.AccountID, u.AuthKey)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

func apiKey(secret string) http.Header { return http.Header{"X-Api-Key": {secret}} }

func with(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

// TestGatewayTricks sends every trick with each kind of credential and
// counts what reached the upstream: nothing, for every refusal.
func TestGatewayTricks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tb := newTestbed(t, db, nil)
		all := tb.CreateKey(keyward.KeyCreate{Name: "all", Permissions: keyward.Permissions{"orders": "write", "inventory": "write"}}).Secrets[0].Secret
		online := tb.CreateKey(keyward.KeyCreate{Name: "online", Permissions: keyward.Permissions{"orders": "write", "inventory": "write"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}}).Secrets[0].Secret
		acme := tb.MerchantUser("Acme", "ops@acme.test")
		other := tb.tenant(t, "othertenant")

		creds := map[string]http.Header{"all-stores key": apiKey(all), "online key": apiKey(online), "merchant": basic(acme)}
		type trick struct {
			name, method, target string
			header               http.Header
			body                 string
			// want is the status for each credential kind; code the
			// problem code when refused (the same for every kind).
			want map[string]int
			code string
		}
		ok := func(all, onl, mer int) map[string]int {
			return map[string]int{"all-stores key": all, "online key": onl, "merchant": mer}
		}
		same := func(s int) map[string]int { return ok(s, s, s) }
		tricks := []trick{
			{name: "plain read (control)", method: "GET", target: "/api/v5/orders?store=online", want: ok(200, 200, 403), code: ""},
			{name: "dot-dot segment", method: "GET", target: "/api/v5/orders/../payments?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "encoded dot-dot", method: "GET", target: "/api/v5/orders/%2e%2e/payments?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "encoded slash", method: "GET", target: "/api/v5/orders%2Fstatuses?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "dot-dot encoded twice", method: "GET", target: "/api/v5/orders/%252e%252e/payments?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "lower-case method", method: "get", target: "/api/v5/orders?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "encoded null byte", method: "GET", target: "/api/v5/orders/ord_1%00.json?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "path parameter", method: "GET", target: "/api/v5/orders;jsessionid=1?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "dot-dot hidden by a path parameter", method: "GET", target: "/api/v5/orders/..;/payments?store=online", want: same(400), code: keyward.CodeInvalidRequest},
			{name: "method override header", method: "POST", target: "/api/v5/orders?store=online", header: http.Header{"X-Http-Method-Override": {"DELETE"}}, body: `{}`, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "method override, underscore header", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"X_http_method": {"DELETE"}}, want: same(400), code: keyward.CodeInvalidRequest},
			// IIS's URL Rewrite and frameworks on it (and Symfony, Zend
			// before 2018) route by these headers instead of the path.
			{name: "path override header", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"X-Original-Url": {"/api/v5/payments?store=main"}}, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "path override, rewrite header", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"X_rewrite_url": {"/api/v5/payments?store=main"}}, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "method override in the query", method: "POST", target: "/api/v5/orders?store=online&_method=DELETE", body: `{}`, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "method override in a form body", method: "POST", target: "/api/v5/orders?store=online", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: "_method=DELETE", want: ok(400, 400, 403), code: keyward.CodeInvalidRequest},
			{name: "store twice", method: "GET", target: "/api/v5/orders?store=online&store=main", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store after ;", method: "GET", target: "/api/v5/orders?store=online;store=main", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store in a ; pair", method: "GET", target: "/api/v5/orders?x=1;store=main&store=online", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store encoded twice", method: "GET", target: "/api/v5/orders?store=online&st%6Fre=main", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store as array", method: "GET", target: "/api/v5/orders?store=online&store[]=main", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store in another case", method: "GET", target: "/api/v5/orders?STORE=main", want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header twice", method: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"online", "main"}}, body: `{"quantity": 1}`, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header listed", method: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"online, main"}}, body: `{"quantity": 1}`, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header with underscore too", method: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"online"}, "X_store": {"main"}}, body: `{"quantity": 1}`, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header with a dot too", method: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"online"}, "X.Store": {"main"}}, body: `{"quantity": 1}`, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header with a dot on a query method", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"X.Store": {"main"}}, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store header dropped by Connection", method: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"online"}, "Connection": {"X-Store"}}, body: `{"quantity": 1}`, want: same(400), code: keyward.CodeStoreAmbiguous},
			{name: "store of another tenant", method: "GET", target: "/api/v5/orders?store=" + other, want: ok(403, 403, 403), code: ""},
			{name: "store that does not exist", method: "GET", target: "/api/v5/orders?store=nowhere", want: ok(403, 403, 403), code: ""},
			{name: "h2c upgrade", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQAAP__"}}, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "websocket upgrade on a plain method", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "Upgrade header alone", method: "GET", target: "/api/v5/orders?store=online", header: http.Header{"Upgrade": {"websocket"}}, want: same(400), code: keyward.CodeInvalidRequest},
			{name: "h2c on the websocket method", method: "GET", target: "/api/v5/orders/feed?store=online", header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, want: same(400), code: keyward.CodeInvalidRequest},
		}
		for _, tr := range tricks {
			for kind, cred := range creds {
				before := tb.reached()
				h := cred.Clone()
				for k, v := range tr.header {
					h[k] = v
				}
				status, prob := tb.do(t, tr.method, tr.target, h, tr.body)
				want := tr.want[kind]
				if status != want {
					t.Errorf("%s, %s: status %d, want %d (%v)", tr.name, kind, status, want, prob)
					continue
				}
				if status < 300 {
					if tb.reached() != before+1 {
						t.Errorf("%s, %s: allowed, but %d requests reached the upstream", tr.name, kind, tb.reached()-before)
					}
					continue
				}
				if n := tb.reached() - before; n != 0 {
					t.Errorf("%s, %s: refused %d, yet %d requests reached the upstream", tr.name, kind, status, n)
				}
				if tr.code != "" && kind != "merchant" && prob["code"] != tr.code {
					t.Errorf("%s, %s: code %v, want %s", tr.name, kind, prob["code"], tr.code)
				}
			}
		}
	})
}

// tenant creates another tenant with a store and a licence, and returns
// that store's id.
func (tb *testbed) tenant(t *testing.T, domain string) string {
	t.Helper()
	ten, err := tb.Svc.CreateTenant(tb.Op, keyward.TenantCreate{Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Svc.GrantLicence(tb.Op, domain, keyward.LicenceGrant{}); err != nil {
		t.Fatal(err)
	}
	ctx := keyward.WithActor(context.Background(), service.SystemActor(ten, "test"))
	s, err := tb.Svc.CreateStore(ctx, keyward.StoreCreate{Code: "elsewhere", Name: "Elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// TestGatewayUpgrades shows a connection upgrade reaches the upstream only
// for a method the catalog marks upgradable, and only to its protocol.
func TestGatewayUpgrades(t *testing.T) {
	tb := newTestbed(t, storetest.Open(t, store.SQLite), nil)
	tb.upgrade.Store(true)
	key := tb.CreateKey(keyward.KeyCreate{Name: "feed", Permissions: keyward.Permissions{"orders": "read"}}).Secrets[0].Secret

	// Refused: h2c asked on an ordinary route; the tunnel never opens and
	// the refund inside it never reaches the upstream.
	status, prob := tb.rawRequest(t, "GET /api/v5/orders?store=main HTTP/1.1\r\nHost: x\r\nX-API-Key: "+key+
		"\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPOST /api/v5/payments/pay_1/refund HTTP/1.1\r\nHost: x\r\n\r\n")
	if status != http.StatusBadRequest || prob["code"] != keyward.CodeInvalidRequest || tb.reached() != 0 {
		t.Fatalf("h2c upgrade: %d %v, %d reached", status, prob, tb.reached())
	}

	// Allowed: the catalog's websocket method opens a tunnel to it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(tb.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /api/v5/orders/feed?store=main HTTP/1.1\r\nHost: x\r\nX-API-Key: "+key+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket upgrade: %v %v", res, err)
	}
	seen := tb.last()
	if seen.Header.Get(identity.HeaderMethod) != "orders.feed" || seen.Header.Get("Upgrade") != "websocket" || seen.Header.Get("X-Api-Key") != "" {
		t.Fatalf("upstream saw %v", seen.Header)
	}
	io.WriteString(conn, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("tunnel echo: %q %v", buf, err)
	}
}

// TestOwnershipFollowsTheUpstream restarts the upstream, which then hands
// out the same record ids again, and checks every answer about a record
// agrees with the merchant the upstream names.
func TestOwnershipFollowsTheUpstream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tb := newTestbed(t, db, nil)
		acme, beta := tb.MerchantUser("Acme", "ops@acme.test"), tb.MerchantUser("Beta", "ops@beta.test")
		A, B := basic(acme), basic(beta)

		status, job := tb.do(t, "POST", "/api/v5/jobs", A, `{"title": "Acme's job"}`)
		if status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, job)
		}
		id := job["id"].(string)

		// The platform API restarts with empty collections: ids start again.
		tb.api.Store(demoapi.New(demoapi.Options{}))
		status, bjob := tb.do(t, "POST", "/api/v5/jobs", B, `{"title": "Beta's job", "notes": "Beta only"}`)
		if status != http.StatusCreated || bjob["id"] != id {
			t.Fatalf("Beta's create after the restart: %d %v (want id %s again)", status, bjob, id)
		}
		if status, got := tb.do(t, "GET", "/api/v5/jobs/"+id, B, ""); status != http.StatusOK || got["notes"] != "Beta only" {
			t.Errorf("Beta reads its own job: %d %v", status, got)
		}
		before := tb.reached()
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			body := ""
			if m == "PUT" {
				body = `{"title": "taken"}`
			}
			if status, got := tb.do(t, m, "/api/v5/jobs/"+id, A, body); status != http.StatusNotFound {
				t.Errorf("Acme %s %s: %d %v, want 404", m, id, status, got)
			}
		}
		if n := tb.reached() - before; n != 0 {
			t.Errorf("%d of Acme's requests on Beta's job reached the upstream", n)
		}

		// A record the upstream now says is someone else's, though the
		// gateway recorded it as Beta's, is never handed to Beta.
		tb.api.Store(demoapi.New(demoapi.Options{}))
		admin := tb.CreateKey(keyward.KeyCreate{Name: "admin", Permissions: keyward.Permissions{"jobs": "write"}}).Secrets[0].Secret
		if status, got := tb.do(t, "POST", "/api/v5/jobs", apiKey(admin), `{"title": "platform job", "notes": "internal"}`); status != http.StatusCreated || got["id"] != id {
			t.Fatalf("admin create: %d %v", status, got)
		}
		if status, got := tb.do(t, "GET", "/api/v5/jobs/"+id, B, ""); status != http.StatusNotFound || got["notes"] != nil {
			t.Errorf("Beta reads a job the upstream gives no merchant: %d %v", status, got)
		}
		if owner, _ := tb.Rep.OwnerOf(tb.tenantID(t), "jobs", id); owner != "" {
			t.Errorf("owner after the admin's create: %q, want none", owner)
		}

		// The platform restarts again and creates the id for itself, not
		// through the gateway: Beta's writes to it are refused before
		// they reach the upstream, which is asked only whose it is.
		tb.api.Store(demoapi.New(demoapi.Options{}))
		bjob2 := tb.do2(t, "POST", "/api/v5/jobs", B, `{"title": "Beta's second"}`)
		tb.api.Store(demoapi.New(demoapi.Options{}))
		tb.direct(t, "POST", "/api/v5/jobs", `{"title": "platform's own", "merchant_id": "mer_platform"}`)
		for _, m := range []string{"PUT", "DELETE"} {
			before := tb.reached()
			if status, got := tb.do(t, m, "/api/v5/jobs/"+bjob2, B, `{"title": "taken"}`); status != http.StatusNotFound {
				t.Errorf("Beta %s on a job the platform re-created: %d %v", m, status, got)
			}
			for _, r := range tb.since(before) {
				if r.Method != "GET" {
					t.Errorf("Beta's %s on the platform's job reached the upstream", r.Method)
				}
			}
		}

		// Deleting releases the record; a reused id is then free.
		_, own := tb.do(t, "POST", "/api/v5/jobs", A, `{"title": "short-lived"}`)
		oid := own["id"].(string)
		if status, _ := tb.do(t, "DELETE", "/api/v5/jobs/"+oid, A, ""); status != http.StatusOK && status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		if owner, ok := tb.Rep.OwnerOf(tb.tenantID(t), "jobs", oid); ok {
			t.Errorf("deleted record still owned by %s", owner)
		}
	})
}

// TestOwnershipReadsCompressedAnswers has clients that accept gzip, as most
// HTTP libraries do, in front of an upstream that compresses: the gateway
// must still read whose each record is.
func TestOwnershipReadsCompressedAnswers(t *testing.T) {
	tb := newTestbed(t, storetest.Open(t, store.SQLite), nil)
	tb.gzip.Store(true)
	acme, beta := tb.MerchantUser("Acme", "ops@acme.test"), tb.MerchantUser("Beta", "ops@beta.test")
	A, B := with(basic(acme), "Accept-Encoding", "gzip"), with(basic(beta), "Accept-Encoding", "gzip")

	status, job := tb.do(t, "POST", "/api/v5/jobs", A, `{"title": "Acme's job"}`)
	id, _ := job["id"].(string)
	if status != http.StatusCreated || id == "" {
		t.Fatalf("create: %d %v", status, job)
	}
	if owner, _ := tb.Rep.OwnerOf(tb.tenantID(t), "jobs", id); owner != acme.MerchantID {
		t.Fatalf("owner %q, want %s", owner, acme.MerchantID)
	}
	if status, got := tb.do(t, "GET", "/api/v5/jobs/"+id, A, ""); status != http.StatusOK || got["title"] != "Acme's job" {
		t.Errorf("Acme reads its job: %d %v", status, got)
	}
	if status, got := tb.do(t, "GET", "/api/v5/jobs/"+id, B, ""); status != http.StatusNotFound || got["title"] == "Acme's job" {
		t.Errorf("Beta reads Acme's job: %d %v", status, got)
	}
	// Answers the gateway does not read keep the coding the client asked for.
	key := tb.CreateKey(keyward.KeyCreate{Name: "reader", Permissions: keyward.Permissions{"orders": "read"}}).Secrets[0].Secret
	req, _ := http.NewRequest("GET", tb.gw.URL+"/api/v5/orders?store=main", nil)
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("orders: %d, Content-Encoding %q, want gzip passed through", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
}

// do2 creates a record through the gateway and returns its id.
func (tb *testbed) do2(t *testing.T, method, target string, h http.Header, body string) string {
	t.Helper()
	status, got := tb.do(t, method, target, h, body)
	id, _ := got["id"].(string)
	if status != http.StatusCreated || id == "" {
		t.Fatalf("%s %s: %d %v", method, target, status, got)
	}
	return id
}

// direct writes to the platform API without passing the gateway, as the
// platform's own back office would.
func (tb *testbed) direct(t *testing.T, method, target, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, tb.upURL+target, strings.NewReader(body))
	req.Header.Set("X-Test-Direct", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode > 299 {
		t.Fatalf("direct %s %s: %d", method, target, res.StatusCode)
	}
}

func (tb *testbed) tenantID(t *testing.T) string {
	t.Helper()
	ten, err := tb.Svc.TenantByDomain(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	return ten.ID
}

// TestMerchantReferences checks an action may name only its merchant's own
// jobs, on create and on update.
func TestMerchantReferences(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tb := newTestbed(t, db, nil)
		A, B := basic(tb.MerchantUser("Acme", "ops@acme.test")), basic(tb.MerchantUser("Beta", "ops@beta.test"))
		_, aj := tb.do(t, "POST", "/api/v5/jobs", A, `{"title": "Acme's"}`)
		_, bj := tb.do(t, "POST", "/api/v5/jobs", B, `{"title": "Beta's"}`)
		acmeJob, betaJob := aj["id"].(string), bj["id"].(string)

		before := tb.reached()
		for _, body := range []string{
			`{"job_id": "` + acmeJob + `", "kind": "pickup"}`,
			`{"job_id": "job_999", "kind": "pickup"}`,
			`{"job_id": ["` + betaJob + `"], "kind": "pickup"}`,
		} {
			if status, got := tb.do(t, "POST", "/api/v5/actions", B, body); status != http.StatusUnprocessableEntity || got["code"] != keyward.CodeReferenceNotFound {
				t.Errorf("Beta creates %s: %d %v", body, status, got)
			}
		}
		if n := tb.reached() - before; n != 0 {
			t.Errorf("%d refused actions reached the upstream", n)
		}
		status, act := tb.do(t, "POST", "/api/v5/actions", B, `{"job_id": "`+betaJob+`", "kind": "pickup"}`)
		if status != http.StatusCreated {
			t.Fatalf("Beta's action on its own job: %d %v", status, act)
		}
		before = tb.reached()
		if status, got := tb.do(t, "PUT", "/api/v5/actions/"+act["id"].(string), B, `{"job_id": "`+acmeJob+`"}`); status != http.StatusUnprocessableEntity {
			t.Errorf("Beta moves its action to Acme's job: %d %v", status, got)
		}
		if tb.reached() != before {
			t.Error("the refused update reached the upstream")
		}
	})
}

// TestIdentityCoversQueryAndBody replays what the upstream received, with
// another merchant's filter, another body, or as it was: each is refused.
func TestIdentityCoversQueryAndBody(t *testing.T) {
	tb := newTestbed(t, storetest.Open(t, store.SQLite), nil)
	acme := tb.MerchantUser("Acme", "ops@acme.test")
	tb.do(t, "POST", "/api/v5/jobs", basic(acme), `{"title": "x"}`)
	created := tb.last()
	if status, _ := tb.do(t, "GET", "/api/v5/jobs", basic(acme), ""); status != http.StatusOK {
		t.Fatal(status)
	}
	listed := tb.last()

	replay := func(r received, uri, body string) int {
		req, _ := http.NewRequest(r.Method, tb.upURL+uri, strings.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	other := strings.Replace(listed.URI, "merchant_id=", "merchant_id=mer_other&x=", 1)
	if s := replay(listed, strings.Replace(listed.URI, "merchant_id=", "merchant_id=mer_other", 1), ""); s != http.StatusUnauthorized {
		t.Errorf("replay with another merchant's filter: %d", s)
	}
	if s := replay(listed, other, ""); s != http.StatusUnauthorized {
		t.Errorf("replay with an extra parameter: %d", s)
	}
	if s := replay(created, created.URI, strings.Replace(created.Body, `"x"`, `"y"`, 1)); s != http.StatusUnauthorized {
		t.Errorf("replay with another body: %d", s)
	}
	if s := replay(listed, listed.URI, ""); s != http.StatusUnauthorized {
		t.Errorf("exact replay: %d", s)
	}
}

// TestGatewayStripsEveryCredential sends keyward secrets in every place a
// client might put them beside a valid key: none reaches the upstream, and
// neither do keyward's own cookies.
func TestGatewayStripsEveryCredential(t *testing.T) {
	tb := newTestbed(t, storetest.Open(t, store.SQLite), nil)
	key := tb.CreateKey(keyward.KeyCreate{Name: "k", Permissions: keyward.Permissions{"orders": "read"}}).Secrets[0].Secret
	other := tb.CreateKey(keyward.KeyCreate{Name: "other", Permissions: keyward.Permissions{"orders": "read"}}).Secrets[0].Secret
	acme := tb.MerchantUser("Acme", "ops@acme.test")
	basicKey := basic(&keyward.MerchantUser{AccountID: "x", AuthKey: other})["Authorization"][0]
	for _, c := range []struct {
		name, target string
		header       http.Header
	}{
		{name: "bearer with a tab", target: "/api/v5/orders?store=main", header: http.Header{"Authorization": {"Bearer\t" + other}}},
		{name: "bearer without a space", target: "/api/v5/orders?store=main", header: http.Header{"Authorization": {"Bearer" + other}}},
		{name: "another scheme", target: "/api/v5/orders?store=main", header: http.Header{"Authorization": {"Token " + other}}},
		{name: "an API key in Basic", target: "/api/v5/orders?store=main", header: http.Header{"Authorization": {basicKey}}},
		{name: "underscore header", target: "/api/v5/orders?store=main", header: http.Header{"X_api_key": {other}}},
		{name: "a custom header", target: "/api/v5/orders?store=main", header: http.Header{"X-Token": {other}}},
		{name: "merchant headers", target: "/api/v5/orders?store=main", header: http.Header{"X-Account-Id": {acme.AccountID}, "X_auth_key": {acme.AuthKey}}},
		{name: "keyward's session cookie", target: "/api/v5/orders?store=main", header: http.Header{"Cookie": {"theme=dark; keyward_session=kws_abc; __Host-keyward_session=x"}}},
		{name: "a secret in a cookie", target: "/api/v5/orders?store=main", header: http.Header{"Cookie": {"t=" + other + "; theme=dark"}}},
		{name: "a secret in another query parameter", target: "/api/v5/orders?store=main&token=" + other},
		{name: "a secret percent-encoded in the query", target: "/api/v5/orders?store=main&t=" + url.QueryEscape("x "+other)},
	} {
		h := apiKey(key)
		for k, v := range c.header {
			h[k] = v
		}
		status, prob := tb.do(t, "GET", c.target, h, "")
		if status != http.StatusOK {
			t.Errorf("%s: %d %v", c.name, status, prob)
			continue
		}
		seen := tb.last()
		all := seen.URI
		for name, vals := range seen.Header {
			all += "\n" + name + ": " + strings.Join(vals, ", ")
		}
		for _, s := range []string{key, other, acme.AuthKey, acme.AccountID, "keyward_session", "kws_"} {
			if strings.Contains(all, s) || strings.Contains(all, url.QueryEscape(s)) {
				t.Errorf("%s: %q reached the upstream:\n%s", c.name, s, all)
			}
		}
		if strings.Contains(c.name, "cookie") && !strings.Contains(seen.Header.Get("Cookie"), "theme=dark") {
			t.Errorf("%s: the platform's own cookie was dropped: %q", c.name, seen.Header.Get("Cookie"))
		}
	}
}

// TestVerifyDecidesAsTheGateway sends the same requests to /v1/verify and
// through the gateway: the codes agree, and both take from one rate limit.
func TestVerifyDecidesAsTheGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		limiter := ratelimit.New()
		tb := newTestbed(t, db, limiter)
		verify := httptest.NewServer(&gateway.Verifier{Replica: tb.Rep, Limiter: limiter})
		t.Cleanup(verify.Close)
		online := tb.CreateKey(keyward.KeyCreate{Name: "online", Permissions: keyward.Permissions{"orders": "write", "inventory": "write"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}}).Secrets[0].Secret
		all := tb.CreateKey(keyward.KeyCreate{Name: "all", Permissions: keyward.Permissions{"orders": "write"}}).Secrets[0].Secret
		other := tb.tenant(t, "othertenant")

		ask := func(in gateway.VerifyRequest) gateway.VerifyResponse {
			t.Helper()
			b, _ := json.Marshal(in)
			res, err := http.Post(verify.URL, "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out gateway.VerifyResponse
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		for _, c := range []struct {
			key, method, target string
			header              map[string]string
		}{
			{online, "GET", "/api/v5/orders?store=online", nil},
			{online, "GET", "/api/v5/orders/..", nil},
			{online, "GET", "/api/v5/orders/../payments?store=online", nil},
			{online, "GET", "/api/v5/orders;x=1?store=online", nil},
			{online, "GET", "/api/v5/orders?store=online&store=main", nil},
			{online, "GET", "/api/v5/orders?store=main", nil},
			{online, "POST", "/api/v5/orders?store=online", map[string]string{"X-HTTP-Method-Override": "DELETE"}},
			{online, "PUT", "/api/v5/inventory/SKU-1", map[string]string{"X-Store": "online, main"}},
			{online, "PUT", "/api/v5/inventory/SKU-1", map[string]string{"X-Store": "online"}},
			{online, "GET", "/api/v5/orders", nil},
			{all, "GET", "/api/v5/orders?store=" + other, nil},
			{all, "GET", "/api/v5/orders?store=nowhere", nil},
			{all, "GET", "/api/v5/nothing", nil},
		} {
			got := ask(gateway.VerifyRequest{Key: c.key, Request: &gateway.HTTPRequest{Method: c.method, Path: c.target, Headers: c.header}, DryRun: true})
			h := apiKey(c.key)
			for k, v := range c.header {
				h.Set(k, v)
			}
			body := ""
			if c.method != "GET" {
				body = `{"quantity": 1}`
			}
			before := tb.reached()
			status, prob := tb.do(t, c.method, c.target, h, body)
			forwarded := tb.reached() > before
			gwCode, _ := prob["code"].(string)
			if forwarded {
				gwCode = keyward.CodeValid
			}
			if got.Code != gwCode || got.Valid != forwarded {
				t.Errorf("%s %s %v: verify %s, gateway %d %s", c.method, c.target, c.header, got.Code, status, gwCode)
			}
		}

		// A key with a limit of 3 a second: verify takes from it as the
		// gateway does, and a dry run only looks.
		three := 3
		limited := tb.CreateKey(keyward.KeyCreate{Name: "limited", Permissions: keyward.Permissions{"orders": "read"}, RateLimit: three}).Secrets[0].Secret
		req := gateway.VerifyRequest{Key: limited, Method: "orders.list"}
		for range 5 {
			req.DryRun = true
			if got := ask(req); got.Code != keyward.CodeValid || got.RateLimit == nil || got.RateLimit.Remaining != 3 {
				t.Fatalf("dry run: %+v", got)
			}
		}
		req.DryRun = false
		for i := range 2 {
			if got := ask(req); got.Code != keyward.CodeValid || got.RateLimit.Remaining != 2-i {
				t.Fatalf("verify %d: %+v", i, got)
			}
		}
		if status, _ := tb.do(t, "GET", "/api/v5/orders?store=main", apiKey(limited), ""); status != http.StatusOK {
			t.Fatalf("gateway, third request: %d", status)
		}
		got := ask(req)
		if got.Valid || got.Code != keyward.CodeRateLimited || got.RetryAfter < 1 {
			t.Fatalf("fourth request: %+v", got)
		}
		if status, prob := tb.do(t, "GET", "/api/v5/orders?store=main", apiKey(limited), ""); status != http.StatusTooManyRequests {
			t.Fatalf("gateway after verify used the limit: %d %v", status, prob)
		}
	})
}
