package demoapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
)

// call sends one request to h and decodes the JSON answer.
func call(t *testing.T, h http.Handler, method, target, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json", method, target, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, target, err, rec.Body)
	}
	return rec.Code, out
}

func items(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	raw, ok := out["items"].([]any)
	if !ok {
		t.Fatalf("answer has no items list: %v", out)
	}
	list := make([]map[string]any, len(raw))
	for i, v := range raw {
		list[i] = v.(map[string]any)
	}
	return list
}

// requestFor builds a valid request for a catalog method from its path.
func requestFor(t *testing.T, m *catalog.Method) *http.Request {
	t.Helper()
	req, err := Sample(m, "main")
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestEveryCatalogMethod(t *testing.T) {
	for _, m := range catalog.Builtin().Methods() {
		if m.Keyward {
			continue // answered by keyward itself, never by the platform's API
		}
		t.Run(m.ID, func(t *testing.T) {
			req := requestFor(t, m)
			rec := httptest.NewRecorder()
			New(Options{}).ServeHTTP(rec, req)
			want := http.StatusOK
			if strings.HasSuffix(m.ID, ".create") {
				want = http.StatusCreated
			}
			if rec.Code != want {
				t.Fatalf("%s %s: status %d, want %d\n%s", req.Method, req.URL, rec.Code, want, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: answer is not JSON: %s", req.Method, req.URL, rec.Body)
			}
		})
	}
}

func TestStoreFilter(t *testing.T) {
	api := New(Options{})
	tests := []struct {
		path, store string
	}{
		{"/api/v5/orders", "main"},
		{"/api/v5/orders", "online"},
		{"/api/v5/products", "online"},
		{"/api/v5/inventory", "main"},
		{"/api/v5/discounts", "online"},
		{"/api/v5/subscriptions", "main"},
		{"/api/v5/payments", "online"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"?store="+tt.store, func(t *testing.T) {
			code, all := call(t, api, "GET", tt.path, "")
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			code, out := call(t, api, "GET", tt.path+"?store="+tt.store, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, out)
			}
			got := items(t, out)
			if len(got) == 0 || len(got) >= len(items(t, all)) {
				t.Fatalf("store %s: %d of %d records, want some but not all", tt.store, len(got), len(items(t, all)))
			}
			for _, r := range got {
				if r["store"] != tt.store {
					t.Errorf("record %v of store %v in the list of store %s", r["id"], r["store"], tt.store)
				}
			}
		})
	}
	if code, _ := call(t, api, "GET", "/api/v5/orders/ord_1?store=online", ""); code != http.StatusNotFound {
		t.Errorf("order of main read through store online: status %d, want 404", code)
	}
	if code, _ := call(t, api, "GET", "/api/v5/orders?store=nowhere", ""); code != http.StatusNotFound {
		t.Errorf("unknown store: status %d, want 404", code)
	}
}

func TestCustomerSearch(t *testing.T) {
	api := New(Options{})
	tests := []struct{ name, path string }{
		{"phone", "/api/v5/customers/by-phone/+49%2030%201234%205678"},
		{"phone digits", "/api/v5/customers/by-phone/4930" + "12345678"},
		{"email", "/api/v5/customers/by-email/emma.schneider@example.com"},
		{"email case", "/api/v5/customers/by-email/Emma.Schneider@Example.com"},
	}
	for _, tt := range tests {
		for _, store := range []string{"", "?store=main", "?store=online"} {
			t.Run(tt.name+store, func(t *testing.T) {
				code, out := call(t, api, "GET", tt.path+store, "")
				if code != http.StatusOK {
					t.Fatalf("status %d: %v", code, out)
				}
				got := items(t, out)
				if len(got) != 1 || got[0]["id"] != "cus_1" {
					t.Fatalf("found %v, want customer cus_1 only", got)
				}
			})
		}
	}
	code, out := call(t, api, "GET", "/api/v5/customers/by-email/nobody@example.com", "")
	if code != http.StatusOK || len(items(t, out)) != 0 {
		t.Errorf("unknown email: status %d, %v; want 200 and no customers", code, out)
	}
	// The customer has orders in both stores.
	for _, store := range []string{"main", "online"} {
		_, out := call(t, api, "GET", "/api/v5/orders?customer_id=cus_1&store="+store, "")
		if len(items(t, out)) == 0 {
			t.Errorf("customer cus_1 has no orders in store %s", store)
		}
	}
}

func TestJobRoundTrip(t *testing.T) {
	api := New(Options{})
	code, job := call(t, api, "POST", "/api/v5/jobs", `{"merchant_id":"merchant_2","title":"Deliver beans","status":"open"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: status %d: %v", code, job)
	}
	id, _ := job["id"].(string)
	if !strings.HasPrefix(id, "job_") || job["merchant_id"] != "merchant_2" {
		t.Fatalf("create answered %v", job)
	}
	steps := []struct {
		method, body string
		want         int
		check        func(map[string]any) bool
	}{
		{"GET", "", http.StatusOK, func(j map[string]any) bool { return j["title"] == "Deliver beans" }},
		{"PUT", `{"status":"done"}`, http.StatusOK, func(j map[string]any) bool { return j["status"] == "done" && j["title"] == "Deliver beans" }},
		{"GET", "", http.StatusOK, func(j map[string]any) bool { return j["status"] == "done" }},
		{"PUT", `{"merchant_id":"merchant_1"}`, http.StatusBadRequest, func(j map[string]any) bool { return j["error"] != nil }},
		{"DELETE", "", http.StatusOK, func(j map[string]any) bool { return j["deleted"] == true }},
		{"GET", "", http.StatusNotFound, func(j map[string]any) bool { return j["error"] != nil }},
		{"DELETE", "", http.StatusNotFound, func(j map[string]any) bool { return j["error"] != nil }},
	}
	for i, s := range steps {
		code, out := call(t, api, s.method, "/api/v5/jobs/"+id, s.body)
		if code != s.want || !s.check(out) {
			t.Fatalf("step %d, %s: status %d, %v; want %d", i, s.method, code, out, s.want)
		}
	}
}

func TestMerchantFilter(t *testing.T) {
	api := New(Options{})
	tests := []struct {
		path     string
		merchant string
		want     int
	}{
		{"/api/v5/jobs", "merchant_1", 2},
		{"/api/v5/jobs", "merchant_2", 2},
		{"/api/v5/jobs", "merchant_9", 0},
		{"/api/v5/jobs", "", 4},
		{"/api/v5/jobs/search?q=deliver", "merchant_1", 1},
		{"/api/v5/jobs/search?q=deliver", "merchant_2", 0},
		{"/api/v5/jobs/search?status=open", "merchant_2", 1},
		{"/api/v5/actions", "merchant_1", 2},
		{"/api/v5/actions/search?q=roasted", "merchant_1", 0},
		{"/api/v5/actions/search?q=roasted", "merchant_2", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.merchant, func(t *testing.T) {
			target := tt.path
			if tt.merchant != "" {
				sep := "?"
				if strings.Contains(target, "?") {
					sep = "&"
				}
				target += sep + "merchant_id=" + tt.merchant
			}
			code, out := call(t, api, "GET", target, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, out)
			}
			got := items(t, out)
			if len(got) != tt.want {
				t.Fatalf("%d records, want %d: %v", len(got), tt.want, got)
			}
			for _, r := range got {
				if tt.merchant != "" && r["merchant_id"] != tt.merchant {
					t.Errorf("record %v of %v in the list of %s", r["id"], r["merchant_id"], tt.merchant)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	api := New(Options{})
	tests := []struct {
		name, method, target, body string
		header                     []string
		want                       int
	}{
		{"unknown order", "GET", "/api/v5/orders/ord_999", "", nil, 404},
		{"unknown customer", "PUT", "/api/v5/customers/cus_999", `{"city":"Rome"}`, nil, 404},
		{"unknown product delete", "DELETE", "/api/v5/products/prod_999?store=main", "", nil, 404},
		{"unknown job", "GET", "/api/v5/jobs/job_999", "", nil, 404},
		{"unknown webhook", "DELETE", "/api/v5/webhooks/wh_999", "", nil, 404},
		{"unknown sku", "GET", "/api/v5/stores/main/inventory/NOPE", "", nil, 404},
		{"unknown store", "GET", "/api/v5/stores/nowhere/information", "", nil, 404},
		{"unknown endpoint", "GET", "/api/v5/nothing", "", nil, 404},
		{"bad JSON", "POST", "/api/v5/jobs", `{"title":`, nil, 400},
		{"JSON not an object", "POST", "/api/v5/customers", `["a"]`, nil, 400},
		{"two objects", "PUT", "/api/v5/jobs/job_1", `{} {}`, nil, 400},
		{"empty body", "POST", "/api/v5/webhooks", "", nil, 400},
		{"bad JSON on update", "PUT", "/api/v5/orders/ord_1?store=main", `{status}`, nil, 400},
		{"bad order status", "PUT", "/api/v5/orders/ord_1", `{"status":"lost"}`, nil, 400},
		{"create without store", "POST", "/api/v5/orders", `{"items":[{"sku":"X","quantity":1,"price":1}]}`, nil, 400},
		{"body names another store", "POST", "/api/v5/discounts?store=main", `{"code":"X","store":"online"}`, nil, 400},
		{"inventory without X-Store", "PUT", "/api/v5/inventory/COF-ESP-250", `{"quantity":3}`, nil, 400},
		{"negative stock", "PUT", "/api/v5/inventory/COF-ESP-250", `{"quantity":-1}`, []string{"X-Store", "main"}, 400},
		{"duplicate email", "POST", "/api/v5/customers", `{"email":"ana.costa@example.com"}`, nil, 409},
		{"refund too much", "POST", "/api/v5/payments/pay_1/refund", `{"amount":1000}`, nil, 400},
		{"refund a refunded payment", "POST", "/api/v5/payments/pay_3/refund", "", nil, 409},
		{"webhook without url", "POST", "/api/v5/webhooks", `{"events":["x"]}`, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := call(t, api, tt.method, tt.target, tt.body, tt.header...)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %v", code, tt.want, out)
			}
			if msg, _ := out["error"].(string); msg == "" {
				t.Fatalf("answer has no error message: %v", out)
			}
		})
	}
}

func TestOrderStatusHistory(t *testing.T) {
	api := New(Options{})
	for _, status := range []string{"paid", "paid", "shipped"} {
		if code, out := call(t, api, "PUT", "/api/v5/orders/ord_4?store=main", `{"status":"`+status+`"}`); code != http.StatusOK {
			t.Fatalf("status %s: %d %v", status, code, out)
		}
	}
	_, out := call(t, api, "GET", "/api/v5/orders/ord_4/history", "")
	var got []string
	for _, h := range items(t, out) {
		got = append(got, h["status"].(string))
	}
	if strings.Join(got, ",") != "new,paid,shipped" {
		t.Fatalf("history %v, want new,paid,shipped", got)
	}
}

func TestSubscriptionCancelAndRefund(t *testing.T) {
	api := New(Options{})
	steps := []struct {
		method, target, body string
		want                 int
		field, value         string
	}{
		{"POST", "/api/v5/subscriptions/sub_1/cancel", "", 200, "status", "cancelled"},
		{"POST", "/api/v5/subscriptions/sub_1/cancel", "", 409, "", ""},
		{"PUT", "/api/v5/subscriptions/sub_1", `{"status":"active"}`, 409, "", ""},
		{"GET", "/api/v5/subscriptions/sub_1", "", 200, "status", "cancelled"},
		{"POST", "/api/v5/payments/pay_1/refund", `{"amount":5}`, 200, "status", "partially_refunded"},
		{"POST", "/api/v5/payments/pay_1/refund", "", 200, "status", "refunded"},
		{"POST", "/api/v5/payments/pay_1/refund", "", 409, "", ""},
	}
	for i, s := range steps {
		code, out := call(t, api, s.method, s.target, s.body)
		if code != s.want || s.field != "" && out[s.field] != s.value {
			t.Fatalf("step %d, %s %s: status %d, %v; want %d with %s=%s", i, s.method, s.target, code, out, s.want, s.field, s.value)
		}
	}
	_, p := call(t, api, "GET", "/api/v5/payments/pay_1", "")
	if p["refunded"] != p["amount"] {
		t.Fatalf("refunded %v of %v", p["refunded"], p["amount"])
	}
}

func TestConcurrentCreates(t *testing.T) {
	api := New(Options{})
	const workers, each = 8, 50
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req := httptest.NewRequest("POST", "/api/v5/jobs", strings.NewReader(fmt.Sprintf(`{"merchant_id":"merchant_%d","title":"job %d"}`, w, i)))
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				var job map[string]any
				if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &job) != nil {
					t.Errorf("create: status %d: %s", rec.Code, rec.Body)
					return
				}
				ids[w] = append(ids[w], job["id"].(string))
				// Reads run alongside the writes.
				api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v5/jobs?merchant_id=merchant_1", nil))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("id %s given twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
	_, out := call(t, api, "GET", "/api/v5/jobs", "")
	if n := len(items(t, out)); n != workers*each+4 {
		t.Fatalf("%d jobs listed, want %d", n, workers*each+4)
	}
}

// sign sets the identity headers the gateway would, following the scheme
// of docs/identity.md: a version line, then timestamp, request id, key,
// tenant, stores, merchant, method id, HTTP method, path and query as on
// the wire, and Content-Digest, one a line.
func sign(r *http.Request, key []byte, at time.Time, body string) {
	ts := strconv.FormatInt(at.Unix(), 10)
	var rid [16]byte
	rand.Read(rid[:])
	h := map[string]string{
		identity.HeaderTimestamp: ts, identity.HeaderRequestID: hex.EncodeToString(rid[:]), identity.HeaderKeyID: "key_1",
		identity.HeaderTenant: "demo.test", identity.HeaderStores: "main", identity.HeaderMethod: "orders.list",
	}
	digest := ""
	if body != "" {
		d := sha256.Sum256([]byte(body))
		digest = "sha-256=:" + base64.StdEncoding.EncodeToString(d[:]) + ":"
		h[identity.HeaderContentDigest] = digest
	}
	path, query, _ := strings.Cut(r.RequestURI, "?")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.Join([]string{"keyward-identity-v2", ts, h[identity.HeaderRequestID], "key_1", "demo.test", "main", "",
		"orders.list", r.Method, path, query, digest}, "\n")))
	h[identity.HeaderSignature] = "v2=" + hex.EncodeToString(mac.Sum(nil))
	for k, v := range h {
		r.Header.Set(k, v)
	}
}

func TestIdentityKey(t *testing.T) {
	key := []byte(strings.Repeat("k", identity.MinKey))
	api := New(Options{IdentityKey: key})
	tests := []struct {
		name   string
		key    []byte // signing key; nil sends no identity
		at     time.Time
		method string
		target string
		body   string
		change func(*http.Request)
		want   int
	}{
		{name: "no identity", at: time.Now(), want: http.StatusUnauthorized},
		{name: "signed by the gateway", key: key, at: time.Now(), want: http.StatusOK},
		{name: "with a body", key: key, at: time.Now(), method: "POST", target: "/api/v5/jobs",
			body: `{"title":"Pack the spring orders"}`, want: http.StatusCreated},
		{name: "signed with another key", key: []byte(strings.Repeat("x", identity.MinKey)), at: time.Now(), want: http.StatusUnauthorized},
		{name: "stale", key: key, at: time.Now().Add(-time.Hour), want: http.StatusUnauthorized},
		{name: "query changed", key: key, at: time.Now(), change: func(r *http.Request) {
			r.RequestURI = "/api/v5/orders?store=online"
		}, want: http.StatusUnauthorized},
		{name: "body changed", key: key, at: time.Now(), method: "POST", target: "/api/v5/jobs",
			body: `{"title":"Pack the spring orders"}`, change: func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(`{"title":"Pack the autumn orders"}`))
			}, want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target := "GET", "/api/v5/orders?store=main"
			if tt.method != "" {
				method, target = tt.method, tt.target
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(method, target, body)
			if tt.key != nil {
				sign(req, tt.key, tt.at, tt.body)
			}
			if tt.change != nil {
				tt.change(req)
			}
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
		})
	}
	t.Run("replayed", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/api/v5/orders?store=main", nil)
		sign(req, key, time.Now(), "")
		for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req.Clone(req.Context()))
			if rec.Code != want || (want == http.StatusUnauthorized && !strings.Contains(rec.Body.String(), "already seen")) {
				t.Fatalf("delivery %d: status %d, want %d: %s", i+1, rec.Code, want, rec.Body)
			}
		}
	})
}
