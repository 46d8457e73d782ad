package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A PATCH is a JSON Merge Patch: null removes a member (its documented
// default applies), a member left out keeps its value, and nested
// permissions merge per resource.
func TestPatchNullRemovesAndAbsentKeeps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, k := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{
			"name": "patched", "description": "nightly sync", "permissions": map[string]any{"orders": "write", "customers": "read", "payments": "none"},
			"methods": []string{"orders.list"}, "expires_at": "2099-01-01T00:00:00Z", "rate_limit": 7,
		})
		if code != 201 {
			t.Fatalf("create: %d %v", code, k)
		}
		if p := k["permissions"].(map[string]any); len(p) != 2 || p["payments"] != nil {
			t.Fatalf(`"none" is no access: permissions = %v`, p)
		}
		path := "/api/v1/keys/" + k["id"].(string)

		code, got := e.patch(e.admin, path, `{"methods": null, "expires_at": null, "rate_limit": null, "description": null, "permissions": {"customers": null, "payments": "read"}}`)
		if code != 200 {
			t.Fatalf("patch: %d %v", code, got)
		}
		if got["methods"] != nil || got["expires_at"] != nil || got["rate_limit"].(float64) != 0 || got["description"] != "" {
			t.Errorf("null must remove methods, expires_at, rate_limit and description: %v", got)
		}
		if p := got["permissions"].(map[string]any); len(p) != 2 || p["orders"] != "write" || p["payments"] != "read" {
			t.Errorf("permissions must merge per resource, null removing one: %v", p)
		}
		if got["name"] != "patched" || got["enabled"] != true {
			t.Errorf("members left out must keep their value: %v", got)
		}

		for _, c := range []struct{ name, body, field string }{
			{"a required member", `{"name": null}`, "name"},
			{"enabled", `{"enabled": null, "description": "x"}`, "enabled"},
			{"an empty allowlist", `{"methods": []}`, "methods"},
			{"not an object", `[{"op": "remove", "path": "/methods"}]`, ""},
		} {
			code, p := e.patch(e.admin, path, c.body)
			if code != 400 || (c.field != "" && p["field"] != c.field) {
				t.Errorf("%s: %s answered %d %v, want 400 naming %q", c.name, c.body, code, p, c.field)
			}
		}
		if _, now := e.do(e.admin, "GET", path, nil); now["description"] != "" || now["name"] != "patched" {
			t.Errorf("a refused patch changed the key: %v", now)
		}

		code, got = e.patch(e.admin, path, `{"permissions": null}`)
		if code != 200 || len(got["permissions"].(map[string]any)) != 0 {
			t.Errorf(`"permissions": null must leave no access: %d %v`, code, got)
		}

		code, l := e.do(e.operator, "PUT", "/operator/v1/tenants/demo/licence", `{"max_keys": 5, "rate_limit": 9}`)
		if code != 200 || l["max_keys"].(float64) != 5 {
			t.Fatalf("licence: %d %v", code, l)
		}
		code, l = e.do(e.operator, "PUT", "/operator/v1/tenants/demo/licence", `{"max_keys": null}`)
		if code != 200 || l["max_keys"].(float64) != 0 || l["rate_limit"].(float64) != 9 || l["api_access"] != true {
			t.Errorf("licence PUT: null must remove max_keys and keep the rest: %d %v", code, l)
		}
	})
}

// send makes a request with the headers given and answers the status,
// the response's headers and its JSON object.
func (e *env) send(token, method, path, body string, header map[string]string) (int, http.Header, map[string]any) {
	e.t.Helper()
	if body != "" {
		header = maps.Clone(header)
		if _, set := header["Content-Type"]; !set {
			if header == nil {
				header = map[string]string{}
			}
			header["Content-Type"] = "application/json"
		}
	}
	return e.sendRaw(token, method, path, body, header)
}

// sendRaw is send with no header of its own but Authorization.
func (e *env) sendRaw(token, method, path, body string, header map[string]string) (int, http.Header, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	return res.StatusCode, res.Header, out
}

// patch sends a merge patch.
func (e *env) patch(token, path, body string) (int, map[string]any) {
	e.t.Helper()
	code, _, out := e.send(token, "PATCH", path, body, map[string]string{"Content-Type": "application/merge-patch+json"})
	return code, out
}
