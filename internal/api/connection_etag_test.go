package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Connections carry an ETag like every other record a client changes: a
// PATCH or DELETE whose If-Match names an older version is refused with
// 412 and the current ETag, and changes nothing.
func TestConnectionsHaveAnETag(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, service.WithOutbound(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}))
		f := connectortest.New(t, "shopify")
		send := func(method, path, ifMatch string, body any) (*http.Response, map[string]any) {
			t.Helper()
			var b []byte
			if body != nil {
				b, _ = json.Marshal(body)
			}
			req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if ifMatch != "" {
				req.Header.Set("If-Match", ifMatch)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			out := map[string]any{}
			json.NewDecoder(res.Body).Decode(&out)
			return res, out
		}
		res, c := send("POST", "/api/v1/connections", "", map[string]any{"type": "shopify", "name": "Main shop", "api_url": f.URL,
			"access_token": connectortest.Token, "fields": map[string]string{"shop_domain": "fake"}})
		if res.StatusCode != 201 || res.Header.Get("ETag") == "" {
			t.Fatalf("create: %d, ETag %q, %v", res.StatusCode, res.Header.Get("ETag"), c)
		}
		path := "/api/v1/connections/" + c["id"].(string)
		res, _ = send("GET", path, "", nil)
		first := res.Header.Get("ETag")
		if first == "" {
			t.Fatal("GET answers no ETag")
		}
		res, _ = send("PATCH", path, first, map[string]any{"name": "Renamed"})
		second := res.Header.Get("ETag")
		if res.StatusCode != 200 || second == "" || second == first {
			t.Fatalf("PATCH with the current ETag: %d, ETag %q after %q", res.StatusCode, second, first)
		}
		for _, m := range []string{"PATCH", "DELETE"} {
			var body any
			if m == "PATCH" {
				body = map[string]any{"name": "Lost update"}
			}
			res, p := send(m, path, first, body)
			if res.StatusCode != 412 || res.Header.Get("ETag") != second {
				t.Fatalf("%s with an old ETag: %d, ETag %q, %v", m, res.StatusCode, res.Header.Get("ETag"), p)
			}
		}
		if _, got := send("GET", path, "", nil); got["name"] != "Renamed" {
			t.Fatalf("after refused changes: %v", got)
		}
		if res, _ := send("DELETE", path, second, nil); res.StatusCode != 204 {
			t.Fatalf("DELETE with the current ETag: %d", res.StatusCode)
		}
	})
}
