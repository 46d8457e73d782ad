package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// allowed_addresses is a member of the key's and the merchant user's
// merge patch: it replaces the allowlist (canonical and sorted), moves
// the ETag, null or [] allows any address again, and a bad entry is a 400
// naming the field, changing nothing.
func TestAllowedAddressesThroughREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, _, k := e.send(e.admin, "POST", "/api/v1/keys", `{"name": "office", "permissions": {"orders": "read"}, "allowed_addresses": ["203.0.113.7", "::ffff:198.51.100.0/120"]}`, nil)
		if code != 201 || fmt.Sprint(k["allowed_addresses"]) != "[198.51.100.0/24 203.0.113.7]" {
			t.Fatalf("create: %d %v", code, k)
		}
		_, _, m := e.send(e.admin, "POST", "/api/v1/merchants", `{"name": "Acme"}`, nil)
		_, _, u := e.send(e.admin, "POST", "/api/v1/merchants/"+m["id"].(string)+"/users", `{"email": "ops@acme.test", "level": 2, "api_access": true}`, nil)
		for _, path := range []string{"/api/v1/keys/" + k["id"].(string), "/api/v1/merchants/" + m["id"].(string) + "/users/" + u["id"].(string)} {
			var h http.Header // merchant users are listed, not read one by one
			if path == "/api/v1/keys/"+k["id"].(string) {
				_, h, _ = e.send(e.admin, "GET", path, "", nil)
			}
			code, h2, got := e.send(e.admin, "PATCH", path, `{"allowed_addresses": ["2001:db8::/32"]}`, nil)
			if code != 200 || fmt.Sprint(got["allowed_addresses"]) != "[2001:db8::/32]" || (h != nil && h2.Get("ETag") == h.Get("ETag")) {
				t.Fatalf("PATCH %s: %d %v, ETag %q after %v", path, code, got, h2.Get("ETag"), h)
			}
			code, _, p := e.send(e.admin, "PATCH", path, `{"allowed_addresses": ["10.1.2.3/8"]}`, nil)
			if code != 400 || p["field"] != "allowed_addresses" {
				t.Fatalf("a range with host bits: %d %v", code, p)
			}
			for _, clear := range []string{`null`, `[]`} {
				e.send(e.admin, "PATCH", path, `{"allowed_addresses": ["192.0.2.1"]}`, nil)
				code, _, got := e.send(e.admin, "PATCH", path, `{"allowed_addresses": `+clear+`}`, nil)
				if _, ok := got["allowed_addresses"]; code != 200 || ok {
					t.Fatalf("PATCH %s with %s: %d %v", path, clear, code, got)
				}
			}
		}
	})
}
