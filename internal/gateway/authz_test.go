package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// authzPlatform is the demo tenant, a forward-auth handler and the demo
// platform API, with a stand-in for a proxy: it asks forward-auth, and
// forwards an allowed request with the answer's identity headers and
// without the credential headers, as the documented configurations do.
type authzPlatform struct {
	*keywardtest.Platform
	authz    *gateway.Authz
	srv      *httptest.Server
	upstream http.Handler
}

var authzIdentityKey = bytes.Repeat([]byte("k"), 32)

func newAuthzPlatform(t *testing.T, db *store.DB, limiter *ratelimit.Limiter) *authzPlatform {
	t.Helper()
	p := &authzPlatform{Platform: keywardtest.New(t, db)}
	a, err := gateway.NewAuthz(gateway.AuthzConfig{Replica: p.Rep, IdentityKey: authzIdentityKey, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	p.authz = a
	p.srv = httptest.NewServer(a)
	t.Cleanup(p.srv.Close)
	p.upstream = demoapi.New(demoapi.Options{IdentityKey: authzIdentityKey})
	return p
}

// ask sends the forward-auth subrequest a proxy of flavor sends for req.
func (p *authzPlatform) ask(flavor string, req *http.Request) *http.Response {
	p.TB.Helper()
	target := req.URL.RequestURI()
	var sub *http.Request
	switch flavor {
	case gateway.AuthzNginx, gateway.AuthzHAProxy:
		sub, _ = http.NewRequest(http.MethodGet, p.srv.URL+flavor, nil)
		sub.Header = req.Header.Clone()
		sub.Header.Set("X-Original-Method", req.Method)
		sub.Header.Set("X-Original-URI", target)
	case gateway.AuthzForward:
		sub, _ = http.NewRequest(http.MethodGet, p.srv.URL+flavor, nil)
		sub.Header = req.Header.Clone()
		sub.Header.Set("X-Forwarded-Method", req.Method)
		sub.Header.Set("X-Forwarded-Uri", target)
		sub.Header.Set("X-Forwarded-Host", "api.example.test")
	case gateway.AuthzEnvoy:
		sub, _ = http.NewRequest(req.Method, p.srv.URL+flavor+target, nil)
		sub.Header = req.Header.Clone()
	}
	res, err := http.DefaultClient.Do(sub)
	if err != nil {
		p.TB.Fatal(err)
	}
	return res
}

// through makes req through the stand-in proxy and returns the status, the
// decoded answer and the request the upstream received (nil if none).
func (p *authzPlatform) through(flavor string, req *http.Request) (int, map[string]any, *http.Request) {
	p.TB.Helper()
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	ans := p.ask(flavor, req)
	defer ans.Body.Close()
	raw, _ := io.ReadAll(ans.Body)
	out := map[string]any{}
	if ans.StatusCode != http.StatusOK {
		if flavor == gateway.AuthzNginx {
			// The documented error page sends the real status and problem.
			json.Unmarshal([]byte(ans.Header.Get(gateway.HeaderAuthzProblem)), &out)
			st := 0
			json.Unmarshal([]byte(ans.Header.Get(gateway.HeaderAuthzStatus)), &st)
			return st, out, nil
		}
		json.Unmarshal(raw, &out)
		return ans.StatusCode, out, nil
	}
	up := req.Clone(context.Background())
	up.RequestURI = req.URL.RequestURI()
	for _, name := range []string{"X-Api-Key", "Authorization", "X-Account-Id", "X-Auth-Key"} {
		up.Header.Del(name)
	}
	for name, vals := range ans.Header {
		if strings.HasPrefix(name, "X-Keyward-") && name != gateway.HeaderAuthzStatus {
			up.Header[name] = vals
		}
	}
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	p.upstream.ServeHTTP(rec, up)
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, up
}

var authzFlavors = []string{gateway.AuthzNginx, gateway.AuthzHAProxy, gateway.AuthzForward, gateway.AuthzEnvoy}

func TestAuthzAnswersAsTheGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newAuthzPlatform(t, db, ratelimit.New())
		cpa := p.CreateKey(keyward.KeyCreate{Name: "CPA", Permissions: keyward.Permissions{"orders": "read"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}, Methods: []string{"orders.statuses.list"}})
		re := p.CreateKey(keyward.KeyCreate{Name: "RE", Permissions: keyward.Permissions{"orders": "write", "payments": "read"}})
		off := false
		disabled := p.CreateKey(keyward.KeyCreate{Name: "Off", Permissions: keyward.Permissions{"orders": "read"}, Enabled: &off})
		key := func(k *keyward.Key) string { return k.Secrets[0].Secret }

		cases := []struct {
			name, method, target string
			header               map[string]string
			status               int
			code                 string
		}{
			{"allowed", "GET", "/api/v5/orders/statuses?store=online", map[string]string{"X-API-Key": key(cpa)}, 200, ""},
			{"allowed by bearer", "GET", "/api/v5/orders?store=main", map[string]string{"Authorization": "Bearer " + key(re)}, 200, ""},
			{"no key", "GET", "/api/v5/orders?store=main", nil, 401, "unauthenticated"},
			{"unknown key", "GET", "/api/v5/orders?store=main", map[string]string{"X-API-Key": "kwk_" + strings.Repeat("a", 49)}, 401, "NOT_FOUND"},
			{"disabled", "GET", "/api/v5/orders?store=main", map[string]string{"X-API-Key": key(disabled)}, 401, "DISABLED"},
			{"method not allowed", "GET", "/api/v5/orders?store=online", map[string]string{"X-API-Key": key(cpa)}, 403, "METHOD_NOT_ALLOWED"},
			{"store not allowed", "GET", "/api/v5/orders/statuses?store=main", map[string]string{"X-API-Key": key(cpa)}, 403, "STORE_NOT_ALLOWED"},
			{"insufficient permission", "POST", "/api/v5/payments?store=main", map[string]string{"X-API-Key": key(re)}, 403, "INSUFFICIENT_PERMISSION"},
			{"store twice", "GET", "/api/v5/orders/statuses?store=online&store=main", map[string]string{"X-API-Key": key(cpa)}, 400, "STORE_AMBIGUOUS"},
			{"path parameter", "GET", "/api/v5/orders;jsessionid=1/statuses?store=online", map[string]string{"X-API-Key": key(cpa)}, 400, "INVALID_REQUEST"},
			{"method override", "POST", "/api/v5/orders?store=main", map[string]string{"X-API-Key": key(re), "X-HTTP-Method-Override": "DELETE"}, 400, "INVALID_REQUEST"},
			{"path override", "GET", "/api/v5/orders/statuses?store=online", map[string]string{"X-API-Key": key(cpa), "X-Original-URL": "/api/v5/payments?store=main"}, 400, "INVALID_REQUEST"},
			{"key in the query", "GET", "/api/v5/orders?store=main&apiKey=" + key(re), nil, 400, "INVALID_REQUEST"},
			{"unknown route", "GET", "/api/v5/nothing-here", map[string]string{"X-API-Key": key(re)}, 404, "UNKNOWN_METHOD"},
		}
		for _, flavor := range authzFlavors {
			for _, c := range cases {
				req := httptest.NewRequest(c.method, c.target, nil)
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				status, out, up := p.through(flavor, req)
				if status != c.status || (c.code != "" && out["code"] != c.code) {
					t.Errorf("%s %s: %d %v, want %d %s", flavor, c.name, status, out, c.status, c.code)
					continue
				}
				if up != nil && (up.Header.Get(identity.HeaderKeyID) == "" || up.Header.Get("X-Api-Key") != "") {
					t.Errorf("%s %s: upstream headers %v", flavor, c.name, up.Header)
				}
			}
			// The second request of a key allowed one per second is refused.
			slow := p.CreateKey(keyward.KeyCreate{Name: "Slow" + strings.ReplaceAll(flavor, "/", "-"), Permissions: keyward.Permissions{"orders": "read"}, RateLimit: 1})
			req := func() *http.Request {
				r := httptest.NewRequest("GET", "/api/v5/orders?store=main", nil)
				r.Header.Set("X-API-Key", key(slow))
				return r
			}
			if status, _, _ := p.through(flavor, req()); status != 200 {
				t.Fatalf("%s: first request of the slow key: %d", flavor, status)
			}
			if status, out, _ := p.through(flavor, req()); status != 429 || out["code"] != "RATE_LIMITED" {
				t.Errorf("%s: second request of the slow key: %d %v", flavor, status, out)
			}
			if res := p.ask(flavor, req()); res.Header.Get("Retry-After") == "" || res.Header.Get("Ratelimit-Limit") != "1" {
				t.Errorf("%s: a rate-limited answer's headers: %v", flavor, res.Header)
			}
		}
	})
}

func TestAuthzNginxSquashesStatuses(t *testing.T) {
	p := newAuthzPlatform(t, storetest.Open(t, store.SQLite), nil)
	re := p.CreateKey(keyward.KeyCreate{Name: "RE", Permissions: keyward.Permissions{"orders": "read"}})
	req := httptest.NewRequest("GET", "/api/v5/orders?store=main&store=online", nil)
	req.Header.Set("X-API-Key", re.Secrets[0].Secret)
	res := p.ask(gateway.AuthzNginx, req)
	// auth_request passes on only 401 and 403.
	if res.StatusCode != 403 || res.Header.Get(gateway.HeaderAuthzStatus) != "400" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	var pr map[string]any
	if err := json.Unmarshal([]byte(res.Header.Get(gateway.HeaderAuthzProblem)), &pr); err != nil || pr["code"] != "STORE_AMBIGUOUS" || pr["status"] != 400.0 {
		t.Fatalf("problem header: %v %v", pr, err)
	}
}

func TestAuthzAccessMatrix(t *testing.T) {
	p := newAuthzPlatform(t, storetest.Open(t, store.SQLite), nil)
	cat := p.Rep.Catalog()
	type cred struct {
		name    string
		secret  string
		allowed func(*catalog.Method) bool
	}
	var creds []cred
	for _, res := range cat.Resources() {
		for _, lvl := range []keyward.Level{keyward.LevelRead, keyward.LevelWrite} {
			k := p.CreateKey(keyward.KeyCreate{Name: res + "-" + string(lvl), Permissions: keyward.Permissions{res: lvl}})
			creds = append(creds, cred{k.Name, k.Secrets[0].Secret, func(m *catalog.Method) bool { return m.Resource == res && lvl.Allows(m.Access) }})
		}
	}
	calls := 0
	for _, c := range creds {
		for _, m := range cat.Methods() {
			if m.Keyward {
				continue // never allowed upstream: TestEventsSendIsNeverForwarded
			}
			req, err := demoapi.Sample(m, "main")
			if err != nil {
				continue // a method the demo API does not serve
			}
			req.Header.Set("X-API-Key", c.secret)
			res := p.ask(gateway.AuthzForward, req)
			res.Body.Close()
			calls++
			if got, want := res.StatusCode == 200, c.allowed(m); got != want {
				t.Errorf("%s: %s answered %d", c.name, m.ID, res.StatusCode)
			}
		}
	}
	t.Logf("%d forward-auth decisions by %d keys over %d methods", calls, len(creds), cat.Len())
}

func TestAuthzMerchantOwnership(t *testing.T) {
	p := newAuthzPlatform(t, storetest.Open(t, store.SQLite), nil)
	a := p.MerchantUser("Merchant A", "a@merchant.test")
	b := p.MerchantUser("Merchant B", "b@merchant.test")
	ten, err := p.Svc.TenantByDomain(p.Ctx, service.DemoDomain)
	if err != nil {
		t.Fatal(err)
	}
	// A's job, as the gateway records it when A creates one.
	if err := p.Rep.SetOwner(context.Background(), ten.ID, "jobs", "job_77", a.MerchantID); err != nil {
		t.Fatal(err)
	}
	as := func(u *keyward.MerchantUser, method, target string) (int, string) {
		req := httptest.NewRequest(method, target, nil)
		req.SetBasicAuth(u.AccountID, u.AuthKey)
		res := p.ask(gateway.AuthzForward, req)
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		code, _ := out["code"].(string)
		if res.StatusCode == 200 && res.Header.Get(identity.HeaderMerchant) != u.MerchantID {
			t.Errorf("allowed without the merchant header: %v", res.Header)
		}
		return res.StatusCode, code
	}
	cases := []struct {
		name           string
		who            *keyward.MerchantUser
		method, target string
		status         int
		code           string
	}{
		{"owner reads its job", a, "GET", "/api/v5/jobs/job_77", 200, ""},
		{"another merchant reads it", b, "GET", "/api/v5/jobs/job_77", 404, "not_found"},
		{"a seed job, nobody's", a, "GET", "/api/v5/jobs/job_1", 404, "not_found"},
		{"owner updates: the gateway's alone", a, "PUT", "/api/v5/jobs/job_77", 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"create: the gateway's alone", a, "POST", "/api/v5/jobs", 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"list filtered to itself", a, "GET", "/api/v5/jobs?merchant_id=" + a.MerchantID, 200, ""},
		{"list unfiltered", a, "GET", "/api/v5/jobs", 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"list filtered to another", b, "GET", "/api/v5/jobs?merchant_id=" + a.MerchantID, 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"list filtered twice", a, "GET", "/api/v5/jobs?merchant_id=" + a.MerchantID + "&merchant_id=" + b.MerchantID, 403, "MERCHANT_METHOD_NOT_ALLOWED"},
		{"orders", a, "GET", "/api/v5/orders?store=main", 403, "MERCHANT_METHOD_NOT_ALLOWED"},
	}
	for _, c := range cases {
		if status, code := as(c.who, c.method, c.target); status != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, code, c.status, c.code)
		}
	}
}

// serveEnvoy serves a's gRPC ext_authz service on a loopback port until
// the test ends, and returns a client of it.
func serveEnvoy(t *testing.T, a *gateway.Authz) authv3.AuthorizationClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	a.Envoy().Register(s)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func TestAuthzEnvoyGRPC(t *testing.T) {
	p := newAuthzPlatform(t, storetest.Open(t, store.SQLite), nil)
	re := p.CreateKey(keyward.KeyCreate{Name: "RE", Permissions: keyward.Permissions{"orders": "write"}})
	client := serveEnvoy(t, p.authz)
	check := func(method, path string, headers map[string]string, body string) *authv3.CheckResponse {
		t.Helper()
		res, err := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: method, Path: path, Host: "api.example.test", Headers: headers, Body: body,
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	body := `{"customer_id":"cus_2","items":[{"sku":"COF-ESP-250","quantity":2,"price":8.9}]}`
	ok := check("POST", "/api/v5/orders?store=main", map[string]string{
		":authority": "api.example.test", "x-api-key": re.Secrets[0].Secret, "content-type": "application/json", "cookie": "a=b",
	}, body)
	if ok.GetStatus().GetCode() != 0 || ok.GetOkResponse() == nil {
		t.Fatalf("allowed request: %v", ok)
	}
	got := map[string]string{}
	for _, h := range ok.GetOkResponse().GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got[identity.HeaderKeyID] != re.ID || got[identity.HeaderMethod] != "orders.create" || got[identity.HeaderContentDigest] != identity.BodyDigest([]byte(body)) {
		t.Fatalf("identity headers: %v", got)
	}
	if rm := ok.GetOkResponse().GetHeadersToRemove(); len(rm) != 1 || rm[0] != "x-api-key" {
		t.Fatalf("headers to remove: %v", rm)
	}
	// The upstream accepts the request as Envoy forwards it.
	up := httptest.NewRequest("POST", "/api/v5/orders?store=main", strings.NewReader(body))
	up.Header.Set("Content-Type", "application/json")
	for k, v := range got {
		up.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	p.upstream.ServeHTTP(rec, up)
	if rec.Code != 201 {
		t.Fatalf("upstream: %d %s", rec.Code, rec.Body)
	}

	denied := check("POST", "/api/v5/payments?store=main", map[string]string{"x-api-key": re.Secrets[0].Secret}, "")
	d := denied.GetDeniedResponse()
	if denied.GetStatus().GetCode() == 0 || d == nil || d.GetStatus().GetCode() != 403 || !strings.Contains(d.GetBody(), `"INSUFFICIENT_PERMISSION"`) {
		t.Fatalf("refused request: %v", denied)
	}
	if strings.Contains(d.GetBody(), re.Secrets[0].Secret) {
		t.Fatal("the refusal quotes the key")
	}
	if none := check("GET", "/api/v5/orders?store=main", nil, ""); none.GetDeniedResponse().GetStatus().GetCode() != 401 {
		t.Fatalf("no key: %v", none)
	}
	// A client's own X-Keyward-* header is refused, whatever its name.
	forged := check("GET", "/api/v5/orders?store=main", map[string]string{"x-api-key": re.Secrets[0].Secret, "x-keyward-scopes": "all"}, "")
	if d := forged.GetDeniedResponse(); d.GetStatus().GetCode() != 400 || !strings.Contains(d.GetBody(), `"INVALID_REQUEST"`) {
		t.Fatalf("a client's x-keyward-scopes: %v", forged)
	}
}
