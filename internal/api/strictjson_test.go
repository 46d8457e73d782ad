package api_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A body that readers could take differently is refused with a stable
// code and changes nothing: a duplicate member (encoding/json keeps the
// last), text that is not UTF-8 (it would be stored as U+FFFD), a member
// spelt with another case, deep nesting, a second value. Merge patches are
// read the same way.
func TestAmbiguousJSONRefusedAndChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, k := e.do(e.admin, "POST", "/api/v1/keys", `{"name": "base", "description": "before", "permissions": {"orders": "read"}}`)
		if code != 201 {
			t.Fatalf("create key: %d %v", code, k)
		}
		keyPath := "/api/v1/keys/" + k["id"].(string)
		deep := `{"name": "deep", "permissions": {"orders": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`
		cases := []struct {
			name, method, path, body, code string
		}{
			{"duplicate permission", "POST", "/api/v1/keys", `{"name": "dup", "permissions": {"orders": "read", "orders": "write"}}`, "duplicate_member"},
			{"duplicate escaped", "POST", "/api/v1/keys", `{"name": "dup", "n\u0061me": "other", "permissions": {"orders": "read"}}`, "duplicate_member"},
			{"other case", "POST", "/api/v1/keys", `{"name": "case", "Permissions": {"orders": "write"}, "permissions": {"orders": "read"}}`, "invalid_argument"},
			{"description not UTF-8", "POST", "/api/v1/keys", "{\"name\": \"bad\", \"description\": \"a\xffb\", \"permissions\": {\"orders\": \"read\"}}", "invalid_utf8"},
			{"lone surrogate", "POST", "/api/v1/keys", `{"name": "bad\ud800", "permissions": {"orders": "read"}}`, "invalid_utf8"},
			{"too deep", "POST", "/api/v1/keys", deep, "nesting_too_deep"},
			{"second value", "POST", "/api/v1/keys", `{"name": "two", "permissions": {"orders": "read"}} {"name": "three"}`, "invalid_argument"},
			{"merchant name not UTF-8", "POST", "/api/v1/merchants", "{\"name\": \"Acme\xc3\"}", "invalid_utf8"},
			{"merchant duplicate", "POST", "/api/v1/merchants", `{"name": "Acme", "name": "Other"}`, "duplicate_member"},
			{"webhook URL surrogate", "POST", "/api/v1/webhooks", `{"store": "main", "url": "https://hooks.example.com/\udc00", "events": ["*"]}`, "invalid_utf8"},
			{"patch duplicate", "PATCH", keyPath, `{"description": "one", "description": "two"}`, "duplicate_member"},
			{"patch not UTF-8", "PATCH", keyPath, "{\"description\": \"\xed\xa0\x80\"}", "invalid_utf8"},
			{"patch too deep", "PATCH", keyPath, `{"permissions": ` + strings.Repeat(`{"a": `, 40) + "1" + strings.Repeat("}", 41), "nesting_too_deep"},
		}
		counts := map[string]int{}
		for _, p := range []string{"/api/v1/keys", "/api/v1/merchants", "/api/v1/webhooks"} {
			counts[p] = count(e, p)
		}
		for _, c := range cases {
			code, p := e.do(e.admin, c.method, c.path, c.body)
			if code != 400 || p["code"] != c.code {
				t.Errorf("%s: %d %v, want 400 %s", c.name, code, p, c.code)
			}
		}
		for p, n := range counts {
			if got := count(e, p); got != n {
				t.Errorf("%s: %d records after the refusals, want %d", p, got, n)
			}
		}
		if code, k = e.do(e.admin, "GET", keyPath, nil); code != 200 || k["description"] != "before" {
			t.Errorf("a refused patch changed the key: %d %v", code, k)
		}
		perms, _ := k["permissions"].(map[string]any)
		if perms["orders"] != "read" {
			t.Errorf("permissions = %v, want orders read", perms)
		}
	})
}
