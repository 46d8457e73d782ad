package api_test

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Two administrators editing one record: each answer carries the record's
// ETag, and a change sent with an If-Match that is no longer current is
// refused with 412 and the current ETag, changing nothing.
func TestIfMatchRefusesALostUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		_, _, k := e.send(e.admin, "POST", "/api/v1/keys", `{"name": "shared", "permissions": {"orders": "read"}}`, nil)
		_, _, m := e.send(e.admin, "POST", "/api/v1/merchants", `{"name": "Acme"}`, nil)
		_, _, p := e.send(e.admin, "POST", "/api/v1/profiles", `{"name": "Editors", "features": []}`, nil)
		_, _, wh := e.send(e.admin, "POST", "/api/v1/webhooks", `{"store": "main", "url": "https://hooks.example.com/in", "events": ["*"]}`, nil)
		for _, c := range []struct {
			name, token, path, method, change string
		}{
			{"key", e.admin, "/api/v1/keys/" + k["id"].(string), "PATCH", `{"description": "from %s"}`},
			{"store", e.admin, "/api/v1/stores/main", "PATCH", `{"name": "Main %s"}`},
			{"profile", e.admin, "/api/v1/profiles/" + p["id"].(string), "PATCH", `{"name": "Editors %s"}`},
			{"merchant", e.admin, "/api/v1/merchants/" + m["id"].(string), "PATCH", `{"name": "Acme %s"}`},
			{"licence", e.operator, "/operator/v1/tenants/demo/licence", "PUT", `{"max_keys": %s}`},
			{"webhook endpoint", e.admin, "/api/v1/webhooks/" + wh["id"].(string), "PATCH", `{"description": "from %s"}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				code, h, _ := e.send(c.token, "GET", c.path, "", nil)
				tag := h.Get("ETag")
				if code != 200 || tag == "" {
					t.Fatalf("GET %s: %d, ETag %q", c.path, code, tag)
				}
				body := func(who string) string { return fmt.Sprintf(c.change, who) }
				// Ana saves first, with the ETag she read.
				code, h, _ = e.send(c.token, c.method, c.path, body("11"), map[string]string{"If-Match": tag})
				newTag := h.Get("ETag")
				if code != 200 || newTag == "" || newTag == tag {
					t.Fatalf("first change: %d, ETag %q after %q", code, newTag, tag)
				}
				// Ben read the same version; his change is refused.
				code, h, prob := e.send(c.token, c.method, c.path, body("22"), map[string]string{"If-Match": tag})
				if code != 412 || prob["code"] != "precondition_failed" || h.Get("ETag") != newTag {
					t.Fatalf("stale change: %d %v, ETag %q, want 412 with %q", code, prob, h.Get("ETag"), newTag)
				}
				if d, _ := prob["details"].(map[string]any); d["current_etag"] != newTag {
					t.Errorf("412 must name the current version: %v", prob)
				}
				_, h, _ = e.send(c.token, "GET", c.path, "", nil)
				if h.Get("ETag") != newTag {
					t.Errorf("a refused change moved the version: %q, want %q", h.Get("ETag"), newTag)
				}
				// Without If-Match, a change applies as before.
				if code, _, _ = e.send(c.token, c.method, c.path, body("33"), nil); code != 200 {
					t.Errorf("change without If-Match: %d", code)
				}
			})
		}

		path := "/api/v1/keys/" + k["id"].(string)
		_, h, _ := e.send(e.admin, "GET", path, "", nil)
		if code, _, _ := e.send(e.admin, "DELETE", path, "", map[string]string{"If-Match": `"1"`}); code != 412 {
			t.Errorf("DELETE with a stale If-Match: %d, want 412", code)
		}
		if code, _, _ := e.send(e.admin, "DELETE", path, "", map[string]string{"If-Match": h.Get("ETag")}); code != 204 {
			t.Errorf("DELETE with the current If-Match: %d, want 204", code)
		}
	})
}

// A merchant user has no GET of its own: its ETag comes with the answers
// that create and change it.
func TestIfMatchOnAMerchantUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		_, _, m := e.send(e.admin, "POST", "/api/v1/merchants", `{"name": "Acme"}`, nil)
		users := "/api/v1/merchants/" + m["id"].(string) + "/users"
		code, h, u := e.send(e.admin, "POST", users, `{"email": "ops@acme.test", "level": 1}`, nil)
		tag := h.Get("ETag")
		if code != 201 || tag == "" {
			t.Fatalf("create: %d, ETag %q, %v", code, tag, u)
		}
		path := users + "/" + u["id"].(string)
		code, h, _ = e.send(e.admin, "PATCH", path, `{"name": "Ops"}`, map[string]string{"If-Match": tag})
		if code != 200 || h.Get("ETag") == "" || h.Get("ETag") == tag {
			t.Fatalf("change with the current ETag: %d, ETag %q", code, h.Get("ETag"))
		}
		if code, _, p := e.send(e.admin, "PATCH", path, `{"name": "Stale"}`, map[string]string{"If-Match": tag}); code != 412 {
			t.Errorf("change with a stale ETag: %d %v", code, p)
		}
	})
}
