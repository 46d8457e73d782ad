package api_test

import (
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A key's quota is set on create, merged by PATCH (a member left out
// keeps its value, null removes the quota), changes the key's ETag, and
// a bad one is refused naming the field, changing nothing.
func TestKeyQuotaThroughTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, k := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "Daily", "permissions": map[string]any{"orders": "read"},
			"quota": map[string]any{"limit": 10000, "period": "day"}})
		if code != 201 {
			t.Fatalf("create: %d %v", code, k)
		}
		path := "/api/v1/keys/" + k["id"].(string)
		code, h, got := e.send(e.admin, "GET", path, "", nil)
		u, _ := got["quota_usage"].(map[string]any)
		if code != 200 || u["used"] != 0.0 || u["remaining"] != 10000.0 || u["reset_at"] == nil {
			t.Fatalf("GET: %d %v", code, got)
		}
		tag := h.Get("ETag")

		code, got = e.patch(e.admin, path, `{"quota": {"limit": 20000}}`)
		if q, _ := got["quota"].(map[string]any); code != 200 || q["limit"] != 20000.0 || q["period"] != "day" {
			t.Fatalf("patch the limit: %d %v", code, got)
		}
		if _, h, _ := e.send(e.admin, "GET", path, "", nil); h.Get("ETag") == tag {
			t.Errorf("the ETag %s did not change with the quota", tag)
		}
		for _, c := range []struct{ name, body string }{
			{"no period", `{"quota": {"limit": 5, "period": "week"}}`},
			{"zero", `{"quota": {"limit": -1}}`},
			{"a string", `{"quota": "10000/day"}`},
		} {
			if code, p := e.patch(e.admin, path, c.body); code != 400 || (p["field"] != "quota" && p["code"] != "invalid_argument") {
				t.Errorf("%s: %d %v", c.name, code, p)
			}
		}
		code, got = e.patch(e.admin, path, `{"quota": null}`)
		if code != 200 || got["quota"] != nil {
			t.Fatalf("null: %d %v", code, got)
		}
		if code, p := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "NoPeriod", "quota": map[string]any{"limit": 5}}); code != 400 || p["field"] != "quota" {
			t.Errorf("a quota without a period: %d %v", code, p)
		}
	})
}
