package gateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// capture is an upstream transport that keeps the last request forwarded
// and answers it with an empty JSON object.
type capture struct {
	mu   sync.Mutex
	out  *http.Request
	body []byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
	}
	c.mu.Lock()
	c.out, c.body = r, b
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

func (c *capture) take() (*http.Request, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, body := c.out, c.body
	c.out, c.body = nil, nil
	return out, body
}

// fuzzGateway is a demo tenant with a key for all stores, a key for the
// online store and a merchant, behind a proxy whose upstream is a capture.
type fuzzGateway struct {
	p       *Proxy
	plat    *keywardtest.Platform
	up      *capture
	creds   []func(*http.Request)
	secrets []string // the all-stores key, the online key, the merchant's auth key
	account string   // the merchant's API Account ID
}

func newFuzzGateway(tb testing.TB, cat *catalog.Catalog) *fuzzGateway {
	plat := keywardtest.NewWithCatalog(tb, storetest.Open(tb, store.SQLite), cat)
	perms := keyward.Permissions{}
	for _, r := range cat.Resources() {
		perms[r] = keyward.LevelWrite
	}
	all := plat.CreateKey(keyward.KeyCreate{Name: "all", Permissions: perms}).Secrets[0].Secret
	online := plat.CreateKey(keyward.KeyCreate{Name: "online", Permissions: perms,
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}}).Secrets[0].Secret
	mu := plat.MerchantUser("Acme", "a@acme.test")
	up := &capture{}
	u, _ := url.Parse("http://upstream.test")
	p, err := NewProxy(ProxyConfig{Upstream: u, Replica: plat.Rep, IdentityKey: testIdentityKey, Transport: up})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzGateway{p: p, plat: plat, up: up, secrets: []string{all, online, mu.AuthKey}, account: mu.AccountID,
		creds: []func(*http.Request){
			func(r *http.Request) { r.Header.Set("X-API-Key", all) },
			func(r *http.Request) { r.Header.Set("X-API-Key", online) },
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+online) },
			func(r *http.Request) {
				q := "apiKey=" + online
				if r.URL.RawQuery != "" {
					q = r.URL.RawQuery + "&" + q
				}
				r.URL.RawQuery = q
			},
			func(r *http.Request) { r.SetBasicAuth(mu.AccountID, mu.AuthKey) },
		}}
}

// FeedCatalog is the built-in catalog plus a method that may switch to
// WebSocket (orders.feed), with method overrides and path parameters
// allowed when lenient is set.
func FeedCatalog(tb testing.TB, lenient bool) *catalog.Catalog {
	y, err := os.ReadFile("../catalog/commerce.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	if lenient {
		y = append([]byte("options: {method_override: true, path_params: true}\n"), y...)
	}
	y = append(y, `
  - id: orders.feed
    method: GET
    path: /api/v5/orders/feed
    block: Orders
    resource: orders
    access: read
    store: {in: query, name: store}
    summary: Live order updates
    upgrade: websocket
`...)
	c, err := catalog.Load(bytes.NewReader(y))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// FuzzGatewayForwardsWhatItChecked sends arbitrary requests through the
// gateway and checks that whatever reaches the upstream is exactly what
// the gateway decided on: the same method, path and store, read the way
// lenient servers read them too, allowed by the credential's policy, with
// no credential left in it, and signed.
func FuzzGatewayForwardsWhatItChecked(f *testing.F) {
	gws := []*fuzzGateway{newFuzzGateway(f, catalog.Builtin()), newFuzzGateway(f, FeedCatalog(f, true))}
	for _, s := range []struct{ method, target, headers, body string }{
		{"GET", "/api/v5/orders?store=online", "", ""},
		{"GET", "/api/v5/orders?store=online&store=main", "", ""},
		{"GET", "/api/v5/orders?store=online;store=main", "", ""},
		{"GET", "/api/v5/orders?st%6Fre=main&store=online", "", ""},
		{"GET", "/api/v5/orders?store[]=main", "", ""},
		{"GET", "/api/v5/orders/..;/payments?store=online", "", ""},
		{"GET", "/api/v5/orders;a=b/statuses?store=online", "", ""},
		{"POST", "/api/v5/orders?store=online", "X-HTTP-Method-Override: DELETE\r\n", "{}"},
		{"POST", "/api/v5/orders/ord_1?store=online", "X-HTTP-Method-Override: PUT\r\n", "{}"},
		{"POST", "/api/v5/orders?store=online", "Content-Type: application/x-www-form-urlencoded\r\n", "_method=DELETE"},
		{"PUT", "/api/v5/inventory/SKU-1", "X-Store: online\r\nX_Store: main\r\n", `{"quantity": 1}`},
		{"PUT", "/api/v5/inventory/SKU-1", "X-Store: online\r\nConnection: X-Store\r\n", `{"quantity": 1}`},
		{"GET", "/api/v5/orders/feed?store=online", "Connection: Upgrade\r\nUpgrade: websocket\r\n", ""},
		{"GET", "/api/v5/orders?store=online", "Connection: Upgrade\r\nUpgrade: h2c\r\n", ""},
		{"GET", "/api/v5/orders?store=online", "Authorization: Bearer\tkwk_AAAAAAAAAAAAAAAAAAAAAA\r\nCookie: keyward_session=kws_x; a=b\r\n", ""},
		{"POST", "/api/v5/jobs", "", `{"title": "x", "merchant_id": "mer_other"}`},
		{"POST", "/api/v5/actions", "", `{"job_id": "job_1"}`},
		{"GET", "/api/v5/jobs?merchant_id=mer_other;merchant_id=x", "", ""},
		{"GET", "/api/v5/stores/online/inventory/SKU-1", "", ""},
		{"GET", "/api/v5/stores/main%2F..%2Fonline/inventory/x", "", ""},
		{"GET", "/api/v5/orders/%252e%252e/payments?store=online", "", ""},
		{"GET", "/api/v5/orders?store=online&%20store=main", "", ""},
		{"GET", "/api/v5/orders?store=online&store%00=main", "", ""},
		{"GET", "/api/v5/orders?store=online&%2573tore=main", "", ""},
		{"GET", "/api/v5/orders?store=online&st.ore=main&s+tore=main", "", ""},
		{"GET", "/api/v5/orders?store=online&%EF%BD%93tore=main", "", ""},
		{"GET", "/api/v5/orders?store=online&x=%26store%3Dmain", "", ""},
		{"POST", "/api/v5/orders?store=online&.method=DELETE", "", "{}"},
	} {
		for cred := range 5 {
			for g := range 2 {
				f.Add(uint8(g), uint8(cred), s.method, s.target, s.headers, []byte(s.body))
			}
		}
	}
	f.Fuzz(func(t *testing.T, which, cred uint8, method, target, headers string, body []byte) {
		gw := gws[int(which)%len(gws)]
		raw := method + " " + target + " HTTP/1.1\r\nHost: gateway.test\r\n" + headers
		if !strings.HasSuffix(raw, "\r\n") {
			raw += "\r\n"
		}
		raw += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
		in, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || in.URL.IsAbs() || in.URL.Path == "" || in.URL.Path[0] != '/' {
			return
		}
		in.RemoteAddr = "192.0.2.1:4321"
		gw.creds[int(cred)%len(gw.creds)](in)
		// What the gateway decides on, read before it changes anything.
		inMethod, inPath := in.Method, in.URL.EscapedPath()
		decided, routed, _ := readRoute(gw.p.cat, in.Method, in.URL, in.Header.Clone())
		gw.p.ServeHTTP(httptest.NewRecorder(), in)
		out, outBody := gw.up.take()
		if out == nil {
			return
		}
		if !routed {
			t.Fatalf("forwarded a request that matches no catalog method: %s %s", inMethod, target)
		}
		if err := checkForwarded(gw, decided, inMethod, inPath, out, outBody); err != nil {
			t.Fatalf("%s %s\n%s\nforwarded as %s %s %v:\n%v", method, target, headers, out.Method, out.URL.RequestURI(), out.Header, err)
		}
	})
}

// lenientReadings are ways servers read a raw query parameter name, each
// written here apart from the gateway's own fold.
var lenientReadings = []func(string) string{
	func(k string) string { return lenientValue(k) }, // as Go and most servers
	func(k string) string { // PHP
		k = lenientValue(k)
		k, _, _ = strings.Cut(k, "\x00")
		k = strings.TrimLeft(k, " ")
		k = strings.NewReplacer(".", "_", " ", "_").Replace(k)
		k, _, _ = strings.Cut(k, "[")
		return k
	},
	func(k string) string { // decoding twice, trimming what is not printable
		k = lenientValue(lenientValue(k))
		k, _, _ = strings.Cut(k, "\x00")
		return strings.TrimFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f })
	},
}

// lenientValue decodes a query name or value once, keeping an invalid
// escape as it is.
func lenientValue(v string) string {
	if d, err := url.QueryUnescape(v); err == nil {
		return d
	}
	return v
}

// checkForwarded holds the invariant: what reached the upstream is what
// the gateway checked.
func checkForwarded(gw *fuzzGateway, decided route, inMethod, inPath string, out *http.Request, body []byte) error {
	m := decided.m
	if out.Method != inMethod {
		return fmt.Errorf("method %s, received %s", out.Method, inMethod)
	}
	if out.URL.EscapedPath() != inPath {
		return fmt.Errorf("path %s, received %s", out.URL.EscapedPath(), inPath)
	}
	if got := out.Header.Get(identity.HeaderMethod); got != m.ID || len(out.Header[identity.HeaderMethod]) != 1 {
		return fmt.Errorf("identity names %q, decided %s", out.Header[identity.HeaderMethod], m.ID)
	}
	// The upstream reads the request the same way: same method, same
	// store, nothing ambiguous left in it.
	again, ok, ref := readRoute(gw.p.cat, out.Method, out.URL, out.Header)
	if ref != nil || !ok || again.m != m || again.store != decided.store {
		return fmt.Errorf("read again upstream: %+v %v %v, decided %s on %q", again, ok, ref, m.ID, decided.store)
	}
	// Lenient servers split the query on ";" too, decode names twice,
	// trim them, cut them at NUL, read "." and " " as "_" (PHP), name[]
	// as name and compare names ignoring case: every value of the store
	// parameter they could see is the store decided on, and none of them
	// sees a _method the catalog does not allow.
	for part := range strings.FieldsFuncSeq(out.URL.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		for _, read := range lenientReadings {
			k, v := read(k), lenientValue(v)
			if m.Store.In == catalog.StoreQuery && strings.EqualFold(k, m.Store.Name) && v != decided.store {
				return fmt.Errorf("the upstream may read store %q, decided %q", v, decided.store)
			}
			if !gw.p.cat.Options().MethodOverride && strings.EqualFold(k, overrideParam) {
				return fmt.Errorf("the upstream may read a method override in %q", part)
			}
		}
	}
	if m.Store.In == catalog.StoreHeader {
		for name, vals := range out.Header {
			if equalHeader(name, strings.ToLower(m.Store.Name)) && (len(vals) != 1 || vals[0] != decided.store) {
				return fmt.Errorf("the upstream may read store %q from %s, decided %q", vals, name, decided.store)
			}
		}
	}
	// The method the upstream acts on is the one decided on.
	acted := out.Method
	for name, vals := range out.Header {
		for _, o := range overrideHeaders {
			if equalHeader(name, o) {
				if !gw.p.cat.Options().MethodOverride {
					return fmt.Errorf("method override %s forwarded", name)
				}
				acted = strings.ToUpper(strings.TrimSpace(vals[0]))
			}
		}
	}
	if acted != m.HTTPMethod && !(acted == http.MethodHead && m.HTTPMethod == http.MethodGet) {
		return fmt.Errorf("the upstream acts as %s, decided %s", acted, m.HTTPMethod)
	}
	if strings.Contains(out.URL.Path, ";") && !gw.p.cat.Options().PathParams {
		return fmt.Errorf("path parameters forwarded")
	}
	if up := out.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, m.Upgrade) {
		return fmt.Errorf("upgrade to %q forwarded for %s", up, m.ID)
	}
	// The policy allows what was forwarded.
	allowed := false
	for _, s := range gw.secrets[:2] {
		if res := gw.plat.Rep.Verify(s, m, decided.store); res.Allowed() && out.Header.Get(identity.HeaderKeyID) == res.Cred.KeyID {
			allowed = true
		}
	}
	if res := gw.plat.Rep.VerifyMerchant(gw.account, gw.secrets[2], m, decided.store); res.Allowed() && out.Header.Get(identity.HeaderKeyID) == res.Cred.KeyID {
		allowed = res.Cred.MerchantID() == out.Header.Get(identity.HeaderMerchant)
	}
	if !allowed {
		return fmt.Errorf("forwarded %s on %q, which the key may not do", m.ID, decided.store)
	}
	// No credential is left anywhere in the request.
	seen := out.URL.RawQuery + "\n" + string(body)
	if q, err := url.QueryUnescape(out.URL.RawQuery); err == nil {
		seen += "\n" + q
	}
	for name, vals := range out.Header {
		for _, v := range vals {
			seen += "\n" + name + ": " + v
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(v, "Basic "))); err == nil {
				seen += "\n" + string(b)
			}
		}
	}
	for _, s := range gw.secrets {
		if strings.Contains(seen, s) {
			return fmt.Errorf("a secret reached the upstream")
		}
	}
	return nil
}

func TestForceQueryRemovesEveryReading(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                      "merchant_id=mer_a",
		"status=open":                           "status=open&merchant_id=mer_a",
		"merchant_id=mer_b":                     "merchant_id=mer_a",
		"MERCHANT_ID=mer_b&merchant_id[]=mer_c": "merchant_id=mer_a",
		"merchant%5Fid=mer_b;x=1":               "x=1&merchant_id=mer_a",
	} {
		if got := forceQuery(raw, "merchant_id", "mer_a"); got != want {
			t.Errorf("forceQuery(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestReadRouteStore reads the store where the catalog says, and refuses
// what some server would read otherwise.
func TestReadRouteStore(t *testing.T) {
	cat := catalog.Builtin()
	for _, c := range []struct {
		name, verb, target string
		header             http.Header
		wantID, want, code string
	}{
		{name: "query", verb: "GET", target: "/api/v5/orders?store=paris", wantID: "orders.list", want: "paris"},
		{name: "query among others", verb: "GET", target: "/api/v5/orders?limit=5&store=lyon&page=2", wantID: "orders.list", want: "lyon"},
		{name: "query escaped value", verb: "GET", target: "/api/v5/orders?store=caf%C3%A9+paris", wantID: "orders.list", want: "café paris"},
		{name: "query escaped key", verb: "GET", target: "/api/v5/orders?st%6Fre=nice", code: keyward.CodeStoreAmbiguous},
		{name: "query prefix is not the key", verb: "GET", target: "/api/v5/orders?stores=x&xstore=y", wantID: "orders.list", want: ""},
		{name: "query empty value", verb: "GET", target: "/api/v5/orders?store=", wantID: "orders.list", want: ""},
		{name: "query key without value", verb: "GET", target: "/api/v5/orders?store", wantID: "orders.list", want: ""},
		{name: "query absent", verb: "GET", target: "/api/v5/orders", wantID: "orders.list", want: ""},
		{name: "query twice", verb: "GET", target: "/api/v5/orders?store=a&store=b", code: keyward.CodeStoreAmbiguous},
		{name: "query bad escape", verb: "GET", target: "/api/v5/orders?store=%zz", code: keyward.CodeStoreAmbiguous},
		{name: "query in a ; pair", verb: "GET", target: "/api/v5/orders?store=a;b&store=c", code: keyward.CodeStoreAmbiguous},
		{name: "query in another case", verb: "GET", target: "/api/v5/orders?Store=a", code: keyward.CodeStoreAmbiguous},
		{name: "path", verb: "GET", target: "/api/v5/stores/paris/information", wantID: "store_information.get", want: "paris"},
		{name: "path and the same in the query", verb: "GET", target: "/api/v5/stores/paris/information?store=paris", wantID: "store_information.get", want: "paris"},
		{name: "path and another in the query", verb: "GET", target: "/api/v5/stores/paris/information?store=lyon", code: keyward.CodeStoreAmbiguous},
		{name: "query and another in a header", verb: "GET", target: "/api/v5/orders?store=paris", header: http.Header{"X-Store": {"lyon"}}, code: keyward.CodeStoreAmbiguous},
		{name: "header", verb: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"lyon"}}, wantID: "inventory.update", want: "lyon"},
		{name: "header absent", verb: "PUT", target: "/api/v5/inventory/SKU-1", wantID: "inventory.update", want: ""},
		{name: "header absent, store in the query", verb: "PUT", target: "/api/v5/inventory/SKU-1?store=x", code: keyward.CodeStoreAmbiguous},
		{name: "header twice", verb: "PUT", target: "/api/v5/inventory/SKU-1", header: http.Header{"X-Store": {"a", "b"}}, code: keyward.CodeStoreAmbiguous},
		{name: "no location", verb: "GET", target: "/api/v5/customers?store=paris", wantID: "customers.list", want: ""},
	} {
		u, _ := url.ParseRequestURI(c.target)
		rt, ok, ref := readRoute(cat, c.verb, u, c.header)
		switch {
		case c.code != "":
			if ref == nil || ref.code != c.code {
				t.Errorf("%s: %+v %v, want %s", c.name, rt, ref, c.code)
			}
		case ref != nil || !ok || rt.m.ID != c.wantID || rt.store != c.want:
			t.Errorf("%s: %v %v %v, want %s on %q", c.name, rt.m, rt.store, ref, c.wantID, c.want)
		}
	}
}
