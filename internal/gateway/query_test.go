package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// TestQuerySpellingsRefusedEverywhere sends, with a key limited to the
// online store, every other spelling of a parameter the catalog gives
// meaning to: the gateway, forward-auth and POST /v1/verify refuse each
// alike, and nothing reaches the upstream. Plain queries reach it as sent.
func TestQuerySpellingsRefusedEverywhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tb := newTestbed(t, db, nil)
		online := tb.CreateKey(keyward.KeyCreate{Name: "online", Permissions: keyward.Permissions{"orders": "write", "jobs": "read", "store_information": "read"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}}).Secrets[0].Secret
		authz, err := gateway.NewAuthz(gateway.AuthzConfig{Replica: tb.Rep, IdentityKey: hardenKey})
		if err != nil {
			t.Fatal(err)
		}
		verifier := &gateway.Verifier{Replica: tb.Rep}
		const sa, ir = keyward.CodeStoreAmbiguous, keyward.CodeInvalidRequest
		refused := []struct {
			name, method, target string
			header               http.Header
			code                 string
		}{
			{"leading space", "GET", "/api/v5/orders?store=online&%20store=main", nil, sa},
			{"trailing space", "GET", "/api/v5/orders?store=online&store%20=main", nil, sa},
			{"trailing plus", "GET", "/api/v5/orders?store=online&store+=main", nil, sa},
			{"leading plus", "GET", "/api/v5/orders?store=online&+store=main", nil, sa},
			{"NUL", "GET", "/api/v5/orders?store=online&store%00=main", nil, sa},
			{"NUL then more", "GET", "/api/v5/orders?store=online&store%00x=main", nil, sa},
			{"tab", "GET", "/api/v5/orders?store=online&store%09=main", nil, sa},
			{"line feed", "GET", "/api/v5/orders?store=online&%0Astore=main", nil, sa},
			{"vertical tab", "GET", "/api/v5/orders?store=online&store%0B=main", nil, sa},
			{"DEL", "GET", "/api/v5/orders?store=online&store%7F=main", nil, sa},
			{"brackets", "GET", "/api/v5/orders?store=online&store[]=main", nil, sa},
			{"encoded brackets", "GET", "/api/v5/orders?store=online&store%5B%5D=main", nil, sa},
			{"indexed", "GET", "/api/v5/orders?store=online&store[0]=main", nil, sa},
			{"encoded index", "GET", "/api/v5/orders?store=online&store%5b0%5d=main", nil, sa},
			{"capitalised", "GET", "/api/v5/orders?store=online&Store=main", nil, sa},
			{"upper case", "GET", "/api/v5/orders?STORE=main", nil, sa},
			{"semicolon", "GET", "/api/v5/orders?store=online;store=main", nil, sa},
			{"encoded name", "GET", "/api/v5/orders?store=online&st%6Fre=main", nil, sa},
			{"encoded twice", "GET", "/api/v5/orders?store=online&%2573tore=main", nil, sa},
			{"IIS %u escape", "GET", "/api/v5/orders?store=online&%u0073tore=main", nil, sa},
			{"fullwidth letter", "GET", "/api/v5/orders?store=online&%EF%BD%93tore=main", nil, sa},
			{"ligature", "GET", "/api/v5/orders?store=online&%EF%AC%86ore=main", nil, sa},
			{"zero-width space", "GET", "/api/v5/orders?store=online&s%E2%80%8Btore=main", nil, sa},
			{"long s", "GET", "/api/v5/orders?store=online&%C5%BFtore=main", nil, sa},
			{"Cyrillic look-alike", "GET", "/api/v5/orders?store=online&%D1%95tore=main", nil, sa},
			{"overlong UTF-8", "GET", "/api/v5/orders?store=online&%C1%B3tore=main", nil, sa},
			{"overlong NUL", "GET", "/api/v5/orders?store=online&store%C0%80=main", nil, sa},
			{"overlong name", "GET", "/api/v5/orders?store=online&" + strings.Repeat("%20", 2000) + "store=main", nil, sa},
			{"pair hidden in a value", "GET", "/api/v5/orders?store=online&x=%26store%3Dmain", nil, sa},
			{"pair hidden twice", "GET", "/api/v5/orders?store=online&x=%2526store%253Dmain", nil, sa},
			{"pair hidden in a name", "GET", "/api/v5/orders?store=online&x%26store=main", nil, sa},
			{"named twice alike", "GET", "/api/v5/orders?store=online&store=online", nil, sa},
			{"value with NUL", "GET", "/api/v5/orders?store=online%00main", nil, sa},
			{"value with a space", "GET", "/api/v5/orders?store=online%20", nil, sa},
			{"value encoded twice", "GET", "/api/v5/orders?store=%256Fnline", nil, sa},
			{"path store and another in the query", "GET", "/api/v5/stores/online/information?store=main", nil, sa},
			{"query store and another in a header", "GET", "/api/v5/orders?store=online", http.Header{"X-Store": {"main"}}, sa},
			{"method override after a dot", "POST", "/api/v5/orders?store=online&.method=DELETE", nil, ir},
			{"method override in upper case", "POST", "/api/v5/orders?store=online&_METHOD=DELETE", nil, ir},
			{"method override with NUL", "POST", "/api/v5/orders?store=online&_method%00=DELETE", nil, ir},
			{"method override with a space", "POST", "/api/v5/orders?store=online&%20_method=DELETE", nil, ir},
			{"owner filter with a dot", "GET", "/api/v5/jobs?merchant_id=mer_a&merchant.id=mer_b", nil, ir},
			{"owner filter with a space", "GET", "/api/v5/jobs?merchant%20id=mer_b", nil, ir},
			{"owner filter in upper case", "GET", "/api/v5/jobs?MERCHANT_ID=mer_b", nil, ir},
		}
		for _, c := range refused {
			h := apiKey(online)
			for k, v := range c.header {
				h[k] = v
			}
			before := tb.reached()
			status, prob := tb.do(t, c.method, c.target, h, "")
			if status != http.StatusBadRequest || prob["code"] != c.code {
				t.Errorf("gateway, %s: %d %v, want 400 %s", c.name, status, prob["code"], c.code)
			}
			if n := tb.reached() - before; n != 0 {
				t.Errorf("gateway, %s: %d requests reached the upstream", c.name, n)
			}

			req := httptest.NewRequest("GET", gateway.AuthzForward, nil)
			for k, v := range h {
				req.Header[k] = v
			}
			req.Header.Set("X-Forwarded-Method", c.method)
			req.Header.Set("X-Forwarded-Uri", c.target)
			w := httptest.NewRecorder()
			authz.ServeHTTP(w, req)
			var pr map[string]any
			json.Unmarshal(w.Body.Bytes(), &pr)
			if w.Code != http.StatusBadRequest || pr["code"] != c.code {
				t.Errorf("forward-auth, %s: %d %v, want 400 %s", c.name, w.Code, pr["code"], c.code)
			}

			headers := map[string]string{}
			for k := range c.header {
				headers[k] = c.header.Get(k)
			}
			vr, err := verifier.Decide(context.Background(), gateway.VerifyRequest{Key: online,
				Request: &gateway.HTTPRequest{Method: c.method, Path: c.target, Headers: headers}})
			if err != nil || vr.Valid || vr.Code != c.code {
				t.Errorf("verify, %s: %+v %v, want %s", c.name, vr, err, c.code)
			}
		}

		// get sends a GET with the online key and counts what reached the
		// upstream.
		get := func(target string) (int, map[string]any, int) {
			before := tb.reached()
			status, prob := tb.do(t, "GET", target, apiKey(online), "")
			return status, prob, tb.reached() - before
		}
		// Plain spellings pass, and the upstream receives the query as sent.
		for _, target := range []string{
			"/api/v5/orders?store=online&page=2",
			"/api/v5/orders?store=online&stores=main&st_ore=x&method=card",
			"/api/v5/orders?store=online&filter[status]=open&sort.by=date",
			"/api/v5/orders?store=online&q=a%26b&note=caf%C3%A9",
			"/api/v5/stores/online/information?store=online",
		} {
			if status, prob, n := get(target); status != http.StatusOK || n != 1 {
				t.Errorf("%s: %d %v, %d reached", target, status, prob, n)
				continue
			}
			if got := tb.last().URI; got != target {
				t.Errorf("%s: the upstream received %s", target, got)
			}
		}

		// Path spellings never take the online key to another store or
		// method: each is refused before the upstream.
		for _, target := range []string{
			"/api/v5/stores/main/information",
			"//api/v5/stores/main/information",
			"/api/v5/./stores/main/information",
			"/api/v5/stores/online/../main/information",
			"/api/v5/stores/online/%2e%2e/main/information",
			"/api/v5/stores/online%2F..%2Fmain/information",
			"/api/v5/stores/online./information",
			"/api/v5/stores/online%20/information",
			"/api/v5/stores/online%00/information",
			"/api/v5/stores/%EF%BD%8Fnline/information",
			"/api/v5/stores/online/information.",
			"/api/v5/stores/online/information%2F",
			"/api/v5/stores/online;x=main/information",
		} {
			if status, prob, n := get(target); status < 400 || status >= 500 || n != 0 {
				t.Errorf("%s: %d %v, %d reached the upstream", target, status, prob, n)
			}
		}
	})
}
