package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// doc is the OpenAPI document read loosely, as a generator reads it.
type doc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]param          `json:"parameters"`
		Responses  map[string]response       `json:"responses"`
		Schemas    map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

type param struct {
	Ref    string         `json:"$ref"`
	Name   string         `json:"name"`
	In     string         `json:"in"`
	Schema map[string]any `json:"schema"`
}

type response struct {
	Ref     string                    `json:"$ref"`
	Headers map[string]map[string]any `json:"headers"`
}

type operation struct {
	Parameters  []param             `json:"parameters"`
	Security    *[]map[string]any   `json:"security"`
	Responses   map[string]response `json:"responses"`
	RequestBody *struct {
		Content map[string]any `json:"content"`
	} `json:"requestBody"`
}

func readDoc(t *testing.T) doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(api.OpenAPI(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// params resolves an operation's parameters.
func (d doc) params(op operation) []param {
	var out []param
	for _, p := range op.Parameters {
		if p.Ref != "" {
			p = d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
		}
		out = append(out, p)
	}
	return out
}

func (d doc) response(r response) response {
	if r.Ref != "" {
		return d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return r
}

// The document says what a client generator needs, for every operation,
// including those added later: a default error; PATCH read as a merge
// patch; If-Match and 412 where records have ETags; Idempotency-Key and 422
// on authenticated POSTs; cursors as strings; required headers marked.
func TestOpenAPITellsClientAuthorsEverything(t *testing.T) {
	d := readDoc(t)
	n := 0
	for path, ops := range d.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			n++
			where := strings.ToUpper(method) + " " + path
			if _, ok := op.Responses["default"]; !ok {
				t.Errorf(`%s declares no default error; add "default": {"$ref": "#/components/responses/Error"}`, where)
			}
			names := map[string]param{}
			for _, p := range d.params(op) {
				names[p.Name] = p
				if p.Name == "cursor" && p.Schema["type"] != "string" {
					t.Errorf("%s: cursor is %v; cursors are opaque strings", where, p.Schema["type"])
				}
			}
			authed := op.Security == nil || len(*op.Security) > 0
			if _, ok := op.Responses["405"]; !ok {
				t.Errorf(`%s does not declare 405; add "405": {"$ref": "#/components/responses/MethodNotAllowed"}`, where)
			}
			if method == "post" && authed && path != "/v1/verify" && path != "/v1/events" {
				if _, ok := names["Idempotency-Key"]; !ok {
					t.Errorf(`%s does not declare Idempotency-Key; add {"$ref": "#/components/parameters/IdempotencyKey"} to its parameters`, where)
				}
				if _, ok := op.Responses["422"]; !ok {
					t.Errorf(`%s does not declare 422 for a reused Idempotency-Key; add "422": {"$ref": "#/components/responses/IdempotencyKeyReused"}`, where)
				}
				for status, r := range op.Responses {
					if status < "300" && path != "/api/v1/connections/{id}/reveal" && d.response(r).Headers["Idempotent-Replayed"] == nil {
						t.Errorf(`%s %s does not declare the Idempotent-Replayed header a replayed answer carries`, where, status)
					}
				}
			}
			if method == "patch" {
				if _, ok := op.RequestBody.Content["application/merge-patch+json"]; !ok {
					t.Errorf("%s does not read application/merge-patch+json; give its requestBody that media type with the application/json schema (and read it with httpx.DecodePatch)", where)
				}
			}
			if api.Versioned[path] && (method == "patch" || method == "put" || method == "delete") {
				if _, ok := names["If-Match"]; !ok {
					t.Errorf(`%s does not declare If-Match; add {"$ref": "#/components/parameters/IfMatch"} to its parameters`, where)
				}
				if r := d.response(op.Responses["412"]); r.Headers["ETag"] == nil {
					t.Errorf(`%s does not declare 412; add "412": {"$ref": "#/components/responses/PreconditionFailed"}`, where)
				}
			}
			for code, r := range op.Responses {
				for h, v := range d.response(r).Headers {
					if (h == "WWW-Authenticate" || h == "Retry-After") && v["required"] != true {
						t.Errorf("%s %s: header %s is always sent but not marked required", where, code, h)
					}
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("read only %d operations", n)
	}
	if d.Components.Responses["TooManyRequests"].Headers["Retry-After"] == nil {
		t.Error("429 is not declared with Retry-After")
	}
	vr := d.Components.Schemas["VerifyRequest"]
	if _, ok := vr["oneOf"]; ok {
		t.Error("VerifyRequest uses oneOf, which generators cannot follow")
	}
	if req, _ := d.Components.Schemas["StoreAccess"]["required"].([]any); len(req) == 0 || req[0] != "access" {
		t.Error("StoreAccess.access is always answered but not required")
	}
}

// A method a path does not serve is 405 with Allow, not 404; the audit
// cursor is the opaque string the page gave; "none" is no access.
func TestAnswersAClientCanFollow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		mux := http.NewServeMux()
		a := api.New(e.svc, nil)
		a.Register(mux)
		mux.Handle("/", a.Fallback())
		srv := httptest.NewServer(httpx.Common(mux))
		defer srv.Close()
		e.srv = srv

		code, h, p := e.send(e.admin, "PUT", "/api/v1/keys", `{}`, nil)
		if code != 405 || h.Get("Allow") != "GET, HEAD, POST" || p["code"] != "method_not_allowed" {
			t.Errorf("PUT /api/v1/keys: %d, Allow %q, %v; want 405 with Allow", code, h.Get("Allow"), p)
		}
		if code, _, _ := e.send(e.admin, "GET", "/api/v1/nothing-here", "", nil); code != 404 {
			t.Errorf("an unknown path: %d, want 404", code)
		}
		if code, _, _ := e.send(e.admin, "DELETE", "/api/v1/tokens/tok_x", "", map[string]string{"If-Match": `"1"`}); code != 412 {
			t.Errorf("If-Match on a record without an ETag: %d, want it refused", code)
		}

		for _, c := range []string{"s1", "s2", "s3"} {
			e.send(e.admin, "POST", "/api/v1/stores", `{"code": "`+c+`"}`, nil)
		}
		_, _, page := e.send(e.admin, "GET", "/api/v1/audit?limit=2", "", nil)
		cursor, ok := page["next_cursor"].(string)
		if !ok {
			t.Fatalf("audit next_cursor is %T, want a string", page["next_cursor"])
		}
		if code, _, _ := e.send(e.admin, "GET", "/api/v1/audit?limit=2&cursor="+cursor, "", nil); code != 200 {
			t.Errorf("the audit's next_cursor, sent back: %d", code)
		}
		if code, _, p := e.send(e.admin, "GET", "/api/v1/audit?cursor=abc", "", nil); code != 400 || p["field"] != "cursor" {
			t.Errorf("a cursor no page gave: %d %v", code, p)
		}
	})
}

// Keys' and tenants' cursors are opaque like the audit's: the next_cursor
// given is not a raw id, it pages when sent back, and a cursor no page
// gave is refused with 400 naming it.
func TestKeyAndTenantCursorsAreOpaque(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for _, name := range []string{"c1", "c2", "c3"} {
			e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": name})
			e.do(e.operator, "POST", "/operator/v1/tenants", map[string]any{"domain": "cur" + name, "name": name})
		}
		for _, c := range []struct{ token, path, field string }{
			{e.admin, "/api/v1/keys", "id"},
			{e.operator, "/operator/v1/tenants", "domain"},
		} {
			seen := map[string]bool{}
			cursor := ""
			for pages := 0; pages < 20; pages++ {
				code, _, page := e.send(c.token, "GET", c.path+"?limit=1&cursor="+url.QueryEscape(cursor), "", nil)
				if code != 200 {
					t.Fatalf("%s page with cursor %q: %d %v", c.path, cursor, code, page)
				}
				for _, item := range page["data"].([]any) {
					seen[item.(map[string]any)[c.field].(string)] = true
				}
				next, _ := page["next_cursor"].(string)
				if next == "" {
					break
				}
				if seen[next] {
					t.Errorf("%s: next_cursor %q is a raw %s", c.path, next, c.field)
				}
				cursor = next
			}
			if len(seen) < 3 {
				t.Errorf("%s: paging saw %d records", c.path, len(seen))
			}
			for _, bad := range []string{"key_zzz", "demo", "!!!", "keys.", "tenants.%%%"} {
				if code, _, p := e.send(c.token, "GET", c.path+"?cursor="+url.QueryEscape(bad), "", nil); code != 400 || p["field"] != "cursor" {
					t.Errorf("%s with cursor %q: %d %v, want 400 naming cursor", c.path, bad, code, p)
				}
			}
		}
	})
}

// ConnectionCreate says what the server requires: a name, and a type
// among the connector types, which the enum lists in full.
func TestConnectionCreateSaysWhatTheServerRequires(t *testing.T) {
	s := readDoc(t).Components.Schemas["ConnectionCreate"]
	if req, _ := s["required"].([]any); !slices.Contains(req, any("name")) || !slices.Contains(req, any("type")) {
		t.Errorf("ConnectionCreate requires %v, want type and name", s["required"])
	}
	props, _ := s["properties"].(map[string]any)
	typ, _ := props["type"].(map[string]any)
	var enum []string
	for _, v := range typ["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	var want []string
	for _, ct := range connector.Types() {
		want = append(want, ct.ID)
	}
	slices.Sort(enum)
	slices.Sort(want)
	if !slices.Equal(enum, want) {
		t.Errorf("ConnectionCreate.type enum %v, want the connector types %v", enum, want)
	}
}
