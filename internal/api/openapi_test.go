package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	vErrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// verifyRoute is the data-plane route the document describes besides
// Routes(); it is registered next to the admin API and needs no auth.
var verifyRoute = api.Route{Method: "POST", Path: "/v1/verify", Auth: api.AuthNone}

// eventsRoute is the data-plane route by which the platform sends events.
// Its credential is an API key, decided by the data plane.
var eventsRoute = api.Route{Method: "POST", Path: "/v1/events", Auth: authAPIKey}

const authAPIKey api.Auth = "api key"

// documentedRoutes returns every route the document must describe.
func documentedRoutes() []api.Route {
	return append(api.New(nil, nil).Routes(), verifyRoute, eventsRoute)
}

// rawDoc is the part of the document the structural checks read.
type rawDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	Security json.RawMessage                       `json:"security"`
	Paths    map[string]map[string]json.RawMessage `json:"paths"`
	// Components is kept whole so any "$ref" can be followed.
	Components map[string]map[string]json.RawMessage `json:"components"`
}

// rawOp is one operation of the document.
type rawOp struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []json.RawMessage          `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
	pathParams  []json.RawMessage          // parameters of the path item
}

// httpMethods are the operation keys of a path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// parseDoc reads the embedded document into its operations, keyed by
// "METHOD /path".
func parseDoc(t *testing.T) (*rawDoc, map[string]*rawOp) {
	t.Helper()
	var d rawDoc
	if err := json.Unmarshal(api.OpenAPI(), &d); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	ops := map[string]*rawOp{}
	for path, item := range d.Paths {
		var shared []json.RawMessage
		if p, ok := item["parameters"]; ok {
			if err := json.Unmarshal(p, &shared); err != nil {
				t.Fatalf("%s: parameters: %v", path, err)
			}
		}
		for key, raw := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var o rawOp
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			o.pathParams = shared
			ops[strings.ToUpper(key)+" "+path] = &o
		}
	}
	return &d, ops
}

// resolve follows a "$ref" to a component of the document, if raw is one.
func (d *rawDoc) resolve(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 || !strings.HasPrefix(ref, "#/components/") {
			t.Fatalf("unsupported $ref %q", ref)
		}
		target, ok := d.Components[parts[0]][parts[1]]
		if !ok {
			t.Fatalf("$ref %q points nowhere", ref)
		}
		m = nil
		if err := json.Unmarshal(target, &m); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	t.Fatalf("$ref chain too long at %v", m)
	return nil
}

// TestOpenAPIDocumentIsValid checks the embedded document against the
// OpenAPI 3.1 specification schema and that every $ref resolves.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	d, _ := parseDoc(t)
	if d.OpenAPI != "3.1.0" || d.Info.Title != "keyward" || d.Info.Version != "1" {
		t.Errorf("openapi %q, info %q %q; want 3.1.0, keyward, 1", d.OpenAPI, d.Info.Title, d.Info.Version)
	}
	if len(d.Servers) != 1 || d.Servers[0].URL != "/" {
		t.Errorf("servers = %v, want one server \"/\"", d.Servers)
	}

	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		t.Fatalf("libopenapi cannot read the document: %v", err)
	}
	if v := doc.GetSpecInfo().Version; v != "3.1.0" {
		t.Errorf("libopenapi reads version %q, want 3.1.0", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Errorf("building the model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("not a valid OpenAPI 3.1 document: %s", describe(e))
		}
	}

	refRE := regexp.MustCompile(`"\$ref":\s*"([^"]*)"`)
	for _, m := range refRE.FindAllStringSubmatch(string(api.OpenAPI()), -1) {
		parts := strings.Split(strings.TrimPrefix(m[1], "#/components/"), "/")
		if len(parts) != 2 || d.Components[parts[0]][parts[1]] == nil {
			t.Errorf("$ref %q points nowhere", m[1])
		}
	}
}

// nonProblem lists the error responses whose body is not problem details:
// a stale replica answers verify with the usual decision body, code
// UNAVAILABLE, and status 503.
var nonProblem = map[string]bool{"POST /v1/verify 503": true}

// TestOpenAPICoversEveryRoute compares the documented operations with the
// route table plus POST /v1/verify, both ways, and checks each operation is
// complete: id, summary, path parameters, strict request bodies and
// problem responses.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	d, ops := parseDoc(t)
	want := map[string]bool{}
	for _, rt := range documentedRoutes() {
		key := rt.Method + " " + rt.Path
		want[key] = true
		if ops[key] == nil {
			t.Errorf("route %s is missing from openapi.json", key)
		}
	}
	var keys []string
	for key := range ops {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	ids := map[string]string{}
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	for _, key := range keys {
		o := ops[key]
		if !want[key] {
			t.Errorf("openapi.json documents %s, which no route serves", key)
		}
		method, path, _ := strings.Cut(key, " ")
		if o.OperationID == "" || o.Summary == "" {
			t.Errorf("%s: operationId %q and summary %q must both be set", key, o.OperationID, o.Summary)
		}
		if prev, dup := ids[o.OperationID]; dup {
			t.Errorf("%s and %s share operationId %q", prev, key, o.OperationID)
		}
		ids[o.OperationID] = key

		declared := map[string]bool{}
		for _, p := range append(slices.Clone(o.pathParams), o.Parameters...) {
			pm := d.resolve(t, p)
			if pm["in"] == "path" {
				declared[pm["name"].(string)] = true
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v must be required", key, pm["name"])
				}
			}
		}
		var inPath []string
		for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
			}
		}
		for name := range declared {
			if !slices.Contains(inPath, name) {
				t.Errorf("%s: declares path parameter %q the path lacks", key, name)
			}
		}

		if o.RequestBody != nil && (method == "GET" || method == "DELETE") {
			t.Errorf("%s: documents a request body the route does not read", key)
		}
		if o.RequestBody != nil {
			var rb struct {
				Required bool `json:"required"`
				Content  map[string]struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"content"`
			}
			json.Unmarshal(o.RequestBody, &rb)
			mt, ok := rb.Content["application/json"]
			// A PATCH is a JSON Merge Patch, read as
			// application/merge-patch+json or as plain JSON alike; every
			// other write reads application/json only.
			patch, isPatch := rb.Content["application/merge-patch+json"]
			if isPatch != (method == "PATCH") {
				t.Errorf("%s: application/merge-patch+json is read on PATCH only, and on every PATCH", key)
			}
			types := 1
			if isPatch {
				types = 2
			}
			if !rb.Required || !ok || len(rb.Content) != types || (isPatch && !bytes.Equal(patch.Schema, mt.Schema)) {
				t.Errorf("%s: requestBody must be required and application/json only (and application/merge-patch+json alike for a patch)", key)
			} else if s := d.resolve(t, mt.Schema); s["additionalProperties"] != false {
				t.Errorf("%s: request body schema must say additionalProperties: false; unknown fields are refused", key)
			}
			for _, status := range []string{"400", "413", "415"} {
				if o.Responses[status] == nil {
					t.Errorf("%s: reads a body but does not document %s", key, status)
				}
			}
		}
		if strings.Contains(path, "{") && o.Responses["404"] == nil {
			t.Errorf("%s: names an object but does not document 404", key)
		}

		success := 0
		for status, raw := range o.Responses {
			r := d.resolve(t, raw)
			if status < "400" {
				success++
				continue
			}
			if nonProblem[key+" "+status] {
				continue
			}
			content, _ := r["content"].(map[string]any)
			pj, _ := content["application/problem+json"].(map[string]any)
			schema, _ := pj["schema"].(map[string]any)
			if len(content) != 1 || schema["$ref"] != "#/components/schemas/Problem" {
				t.Errorf("%s: response %s must be application/problem+json with the Problem schema", key, status)
			}
		}
		if success != 1 {
			t.Errorf("%s: documents %d success responses, want 1", key, success)
		}
	}
}

// TestOpenAPISecurityMatchesRouteAuth checks each operation asks for the
// token its route's Auth requires, and nothing for open routes.
func TestOpenAPISecurityMatchesRouteAuth(t *testing.T) {
	d, ops := parseDoc(t)
	if len(d.Security) > 0 && string(d.Security) != "null" {
		t.Errorf("top-level security %s: security is set per operation", d.Security)
	}
	schemes := map[string]string{
		"personalToken":     `{"type":"http","scheme":"bearer"}`,
		"operatorToken":     `{"type":"http","scheme":"bearer"}`,
		"merchantBasic":     `{"type":"http","scheme":"basic"}`,
		"merchantAccountId": `{"type":"apiKey","in":"header","name":"X-Account-Id"}`,
		"merchantAuthKey":   `{"type":"apiKey","in":"header","name":"X-Auth-Key"}`,
	}
	for name, want := range schemes {
		var got, w map[string]any
		json.Unmarshal(d.Components["securitySchemes"][name], &got)
		json.Unmarshal([]byte(want), &w)
		for k, v := range w {
			if got[k] != v {
				t.Errorf("security scheme %s = %v, want %s", name, got, want)
				break
			}
		}
	}
	// wantSecurity is each Auth's security requirement, as JSON.
	wantSecurity := map[api.Auth]string{
		api.AuthNone:     `[]`,
		api.AuthTenant:   `[{"personalToken":[]}]`,
		api.AuthSelf:     `[{"personalToken":[]}]`,
		api.AuthOperator: `[{"operatorToken":[]}]`,
		authAPIKey:       `[{"apiKey":[]}]`,
		// HTTP Basic, or both X-Account-Id and X-Auth-Key.
		api.AuthMerchant: `[{"merchantBasic":[]},{"merchantAccountId":[],"merchantAuthKey":[]}]`,
	}
	for _, rt := range documentedRoutes() {
		key := rt.Method + " " + rt.Path
		o := ops[key]
		if o == nil {
			continue // reported by TestOpenAPICoversEveryRoute
		}
		want, ok := wantSecurity[rt.Auth]
		if !ok {
			t.Errorf("%s: route Auth %q has no security requirement in this test; add one", key, rt.Auth)
			continue
		}
		got := "absent"
		if o.Security != nil {
			b, _ := json.Marshal(*o.Security)
			got = string(b)
		}
		if got != want {
			t.Errorf("%s: security %s; the route's Auth is %s, want %s", key, got, rt.Auth, want)
		}
		if rt.Auth != api.AuthNone && o.Responses["401"] == nil {
			t.Errorf("%s: needs credentials but does not document 401", key)
		}
		if rt.Auth != api.AuthNone && rt.Auth != authAPIKey && o.Responses["403"] == nil {
			t.Errorf("%s: refuses the other kinds of token but does not document 403", key)
		}
	}
}

// docEnv is the admin API and the verify endpoint over one database, with a
// validator of the document.
type docEnv struct {
	*env
	verify  *httptest.Server
	replica *replica.Replica
	// strict also reports properties the document does not declare.
	strict validator.Validator
	// lenient checks only what the schemas require, for bodies that are
	// open objects by nature, such as the OpenAPI document itself.
	lenient validator.Validator
}

// mapPaths are the body members whose keys are data (resource names,
// changed fields, problem extras), not declared properties.
var mapPaths = []string{"$.body.permissions.*", "$.body.**.permissions.*", "$.body.**.changes.*", "$.body.details.*"}

// newDocEnv starts the admin API over a fresh SQLite database seeded with
// the demo tenant, and the verify endpoint over a replica of it.
func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	e := newEnv(t, storetest.Open(t, store.SQLite))
	rep := replica.New(e.svc.DB(), e.svc.Catalog())
	if err := rep.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(verifyRoute.Method+" "+verifyRoute.Path, &gateway.Verifier{Replica: rep})
	vs := httptest.NewServer(httpx.Common(mux))
	t.Cleanup(vs.Close)

	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	strict, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictMode(),
		config.WithRejectUndeclaredRequestBody(),
		config.WithStrictIgnorePaths(mapPaths...),
		config.WithStrictIgnoredHeadersExtra("Cache-Control", "Referrer-Policy", "X-Content-Type-Options", "X-Frame-Options", "Retry-After"))
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	lenient, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &docEnv{env: e, verify: vs, replica: rep, strict: strict, lenient: lenient}
}

// credential adds a caller's credentials to a request.
type credential func(*http.Request)

// bearer sends a token as "Authorization: Bearer"; "" sends nothing.
func bearer(token string) credential {
	return func(r *http.Request) {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
}

// merchantBasic sends merchant credentials with HTTP Basic authentication.
func merchantBasic(account, key string) credential {
	return func(r *http.Request) { r.SetBasicAuth(account, key) }
}

// merchantHeaders sends merchant credentials as X-Account-Id and X-Auth-Key.
func merchantHeaders(account, key string) credential {
	return func(r *http.Request) {
		r.Header.Set("X-Account-Id", account)
		r.Header.Set("X-Auth-Key", key)
	}
}

// check sends a request, requires the status, and validates the answer
// against the document's response for that status. A conforming request
// is validated as well; a request that breaks the document on purpose
// (conforming false) must be refused by the document too, so the document
// and the server agree on what is wrong.
func (de *docEnv) check(t *testing.T, auth credential, method, path string, body any, status int, conforming bool) map[string]any {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	base := de.srv.URL
	if path == verifyRoute.Path {
		base = de.verify.URL
	}
	newReq := func() *http.Request {
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		auth(req)
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req
	}
	res, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, status, answer)
	}
	res.Body = io.NopCloser(bytes.NewReader(answer))

	v := de.strict
	if path == "/api/v1/openapi.json" {
		v = de.lenient
	}
	if conforming {
		if ok, errs := v.ValidateHttpRequestResponse(newReq(), res); !ok {
			t.Errorf("%s %s (%d) disagrees with openapi.json:\n%s\nanswer: %s", method, path, status, describeAll(errs), clip(answer))
		}
	} else {
		if ok, errs := v.ValidateHttpResponse(newReq(), res); !ok {
			t.Errorf("%s %s (%d) answer disagrees with openapi.json:\n%s\nanswer: %s", method, path, status, describeAll(errs), clip(answer))
		}
		if ok, _ := v.ValidateHttpRequest(newReq()); ok {
			t.Errorf("%s %s: the server refuses this request with %d but openapi.json accepts it", method, path, status)
		}
	}
	out := map[string]any{}
	if len(answer) > 0 {
		json.Unmarshal(answer, &out)
	}
	return out
}

// clip shortens an answer for a failure message.
func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + " …"
	}
	return string(b)
}

// describe renders a validation error with each schema failure's location.
func describe(e *vErrors.ValidationError) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Message, e.Reason)
	for i, f := range e.SchemaValidationErrors {
		if i == 8 {
			fmt.Fprintf(&b, "\n    and %d more", len(e.SchemaValidationErrors)-i)
			break
		}
		fmt.Fprintf(&b, "\n    at %s: %s", f.FieldPath, f.Reason)
	}
	return b.String()
}

// describeAll renders validation errors one per line.
func describeAll(errs []*vErrors.ValidationError) string {
	var lines []string
	for _, e := range errs {
		lines = append(lines, "  "+describe(e))
	}
	return strings.Join(lines, "\n")
}

// TestOpenAPIDescribesRealAnswers drives the API over a real SQLite
// database and validates requests and answers against the document.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	de := newDocEnv(t)
	admin, op, anon := bearer(de.admin), bearer(de.operator), bearer("")

	t.Run("stores", func(t *testing.T) {
		de.check(t, admin, "GET", "/api/v1/stores", nil, 200, true)
		de.check(t, admin, "POST", "/api/v1/stores", map[string]any{"code": "north", "name": "North Mall"}, 201, true)
		de.check(t, admin, "GET", "/api/v1/stores/north", nil, 200, true)
		de.check(t, admin, "PATCH", "/api/v1/stores/north", map[string]any{"name": "North Mall East"}, 200, true)
		if st := de.check(t, admin, "PATCH", "/api/v1/stores/north", map[string]any{"active": false}, 200, true); st["active"] != false {
			t.Fatalf("a deactivated store answers %v", st)
		}
		de.check(t, admin, "PATCH", "/api/v1/stores/north", map[string]any{"active": "no"}, 400, false)
		if st := de.check(t, admin, "PATCH", "/api/v1/stores/north", map[string]any{"active": true}, 200, true); st["active"] != true {
			t.Fatalf("a reactivated store answers %v", st)
		}
	})

	t.Run("profiles and users", func(t *testing.T) {
		de.check(t, admin, "POST", "/api/v1/profiles", map[string]any{"name": "Clerks", "features": []string{"audit"}}, 201, true)
		de.check(t, admin, "GET", "/api/v1/profiles", nil, 200, true)
		u := de.check(t, admin, "POST", "/api/v1/users", map[string]any{"email": "clerk@demo.test", "name": "Clerk", "profile_id": "Clerks"}, 201, true)
		if pw, _ := u["password"].(string); pw == "" {
			t.Errorf("generated password missing from the create answer: %v", u)
		}
		de.check(t, admin, "PATCH", "/api/v1/users/clerk@demo.test", map[string]any{"active": false}, 200, true)
		de.check(t, admin, "GET", "/api/v1/users", nil, 200, true)
	})

	t.Run("tokens", func(t *testing.T) {
		tok := de.check(t, admin, "POST", "/api/v1/tokens", map[string]any{"name": "ci", "expires_at": "2099-01-01T00:00:00Z"}, 201, true)
		de.check(t, admin, "GET", "/api/v1/tokens", nil, 200, true)
		if id, _ := tok["id"].(string); id != "" {
			de.check(t, admin, "DELETE", "/api/v1/tokens/"+id, nil, 204, true)
		}
	})

	t.Run("account", func(t *testing.T) {
		de.check(t, admin, "GET", "/api/v1/me", nil, 200, true)
		de.check(t, admin, "POST", "/api/v1/users", map[string]any{"email": "ana@demo.test", "profile_id": "Clerks", "password": "first long password"}, 201, true)
		de.check(t, anon, "POST", "/api/v1/signin", map[string]any{"email": "ana@demo.test", "password": "wrong password"}, 401, true)
		tok := de.check(t, anon, "POST", "/api/v1/signin", map[string]any{"email": "ana@demo.test", "password": "first long password", "name": "laptop"}, 201, true)
		ana, _ := tok["token"].(string)
		r := de.check(t, admin, "POST", "/api/v1/users/ana@demo.test/password-reset", nil, 200, true)
		temp, _ := r["password"].(string)
		p := de.check(t, bearer(ana), "GET", "/api/v1/audit", nil, 403, true)
		if p["code"] != "password_change_required" {
			t.Errorf("a call before the forced change: %v", p)
		}
		if me := de.check(t, bearer(ana), "GET", "/api/v1/me", nil, 200, true); me["must_change_password"] != true {
			t.Errorf("me after a reset: %v", me)
		}
		de.check(t, anon, "POST", "/api/v1/signin", map[string]any{"email": "ana@demo.test", "password": temp}, 403, true)
		de.check(t, bearer(ana), "POST", "/api/v1/me/password", map[string]any{"current_password": temp, "new_password": "short"}, 400, false)
		de.check(t, bearer(ana), "POST", "/api/v1/me/password", map[string]any{"current_password": temp, "new_password": "second long password"}, 204, true)
		de.check(t, bearer(ana), "GET", "/api/v1/me/tokens", nil, 200, true)
		mine := de.check(t, bearer(ana), "POST", "/api/v1/me/tokens", map[string]any{"name": "ci", "expires_at": "2099-01-01T00:00:00Z"}, 201, true)
		id, _ := mine["id"].(string)
		de.check(t, admin, "DELETE", "/api/v1/me/tokens/"+id, nil, 404, true)
		de.check(t, bearer(ana), "DELETE", "/api/v1/me/tokens/"+id, nil, 204, true)
		de.check(t, admin, "POST", "/api/v1/users/admin@demo.test/password-reset", nil, 400, true)
	})

	t.Run("catalog", func(t *testing.T) {
		de.check(t, admin, "GET", "/api/v1/catalog", nil, 200, true)
	})

	var keyID, secret string
	t.Run("keys", func(t *testing.T) {
		k := de.check(t, admin, "POST", "/api/v1/keys", map[string]any{
			"name": "THQ", "description": "Head office till", "permissions": map[string]string{"orders": "read"},
			"stores": map[string]any{"access": "selected", "ids": []string{"main"}}, "rate_limit": 5,
		}, 201, true)
		secrets, _ := k["secrets"].([]any)
		if len(secrets) != 2 {
			t.Fatalf("a new key has %d secrets, want 2: %v", len(secrets), k)
		}
		for _, s := range secrets {
			if s.(map[string]any)["secret"] == nil {
				t.Errorf("create answer lacks a secret's plain text: %v", s)
			}
		}
		keyID, _ = k["id"].(string)
		secret, _ = secrets[0].(map[string]any)["secret"].(string)
		de.check(t, admin, "POST", "/api/v1/keys", map[string]any{
			"name": "web", "permissions": map[string]string{"orders": "write"}, "methods": []string{"orders.list"},
			"expires_at": "2099-01-01T00:00:00Z",
		}, 201, true)
		de.check(t, admin, "GET", "/api/v1/keys", nil, 200, true)
		de.check(t, admin, "GET", "/api/v1/keys?enabled=true&access=selected&store=main&limit=1", nil, 200, true)
		got := de.check(t, admin, "GET", "/api/v1/keys/"+keyID, nil, 200, true)
		if raw, _ := json.Marshal(got); bytes.Contains(raw, []byte(`"secret"`)) {
			t.Errorf("GET of a key shows a secret: %s", raw)
		}
		de.check(t, admin, "POST", "/api/v1/keys/"+keyID+"/roll", map[string]any{"slot": 2, "grace": "24h"}, 200, true)
	})

	t.Run("handovers", func(t *testing.T) {
		h := de.check(t, admin, "POST", "/api/v1/handovers", map[string]any{
			"kind": "key_secret", "subject_id": keyID, "secret": secret, "ttl": "1h", "require_code": true, "note": "ERP team",
		}, 201, true)
		id, _ := h["id"].(string)
		de.check(t, admin, "GET", "/api/v1/handovers?kind=key_secret&state=waiting", nil, 200, true)
		de.check(t, admin, "GET", "/api/v1/handovers/"+id, nil, 200, true)
		de.check(t, admin, "POST", "/api/v1/handovers", map[string]any{"kind": "key_secret", "subject_id": keyID, "secret": "kw_other"}, 400, true)
	})

	t.Run("verify", func(t *testing.T) {
		if err := de.replica.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := de.check(t, anon, "POST", "/v1/verify", map[string]any{"key": secret, "method": "orders.list", "store": "main"}, 200, true)
		if r["code"] != "VALID" {
			t.Errorf("verify: %v, want VALID", r)
		}
		r = de.check(t, anon, "POST", "/v1/verify", map[string]any{"key": secret, "request": map[string]string{"method": "POST", "path": "/api/v5/orders"}, "store": "main"}, 200, true)
		if r["code"] != "INSUFFICIENT_PERMISSION" {
			t.Errorf("verify: %v, want INSUFFICIENT_PERMISSION", r)
		}
		de.check(t, anon, "POST", "/v1/verify", map[string]any{"key": "kwk_unknown", "method": "orders.list"}, 200, true)
		// "Exactly one of method and request" is said in words, not as a
		// oneOf, which client generators cannot follow.
		de.check(t, anon, "POST", "/v1/verify", map[string]any{"key": secret}, 400, true)
		de.check(t, admin, "PATCH", "/api/v1/keys/"+keyID, map[string]any{"enabled": false}, 200, true)
		if err := de.replica.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		r = de.check(t, anon, "POST", "/v1/verify", map[string]any{"key": secret, "method": "orders.list", "store": "main"}, 200, true)
		if r["code"] != "DISABLED" {
			t.Errorf("verify after disabling: %v, want DISABLED", r)
		}
	})

	t.Run("audit", func(t *testing.T) {
		p := de.check(t, admin, "GET", "/api/v1/audit?limit=2", nil, 200, true)
		if c, _ := p["next_cursor"].(string); c != "" {
			de.check(t, admin, "GET", "/api/v1/audit?limit=2&cursor="+c, nil, 200, true)
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		w := de.check(t, admin, "POST", "/api/v1/webhooks", map[string]any{
			"store": "main", "url": "https://example.com/hooks/keyward", "events": []string{"order.created"}, "description": "ERP",
		}, 201, true)
		if s, _ := w["secret"].(string); s == "" {
			t.Errorf("create answer lacks the signing secret: %v", w)
		}
		id, _ := w["id"].(string)
		de.check(t, admin, "GET", "/api/v1/webhooks?store=main", nil, 200, true)
		got := de.check(t, admin, "GET", "/api/v1/webhooks/"+id, nil, 200, true)
		if got["secret"] != nil {
			t.Errorf("GET of a webhook shows its secret: %v", got)
		}
		de.check(t, admin, "PATCH", "/api/v1/webhooks/"+id, map[string]any{"events": []string{"*"}, "enabled": false}, 200, true)
		de.check(t, admin, "POST", "/api/v1/webhooks", map[string]any{"store": "main", "url": "ftp://example.com/", "events": []string{"*"}}, 400, false)
		de.check(t, admin, "DELETE", "/api/v1/webhooks/"+id, nil, 204, true)
	})

	t.Run("merchants", func(t *testing.T) {
		m := de.check(t, admin, "POST", "/api/v1/merchants", map[string]any{"name": "Acme Seller", "stores": []string{"main"}}, 201, true)
		mid, _ := m["id"].(string)
		de.check(t, admin, "GET", "/api/v1/merchants", nil, 200, true)
		de.check(t, admin, "GET", "/api/v1/merchants/"+mid, nil, 200, true)
		de.check(t, admin, "PATCH", "/api/v1/merchants/"+mid, map[string]any{"stores": []string{"main", "online"}}, 200, true)
		u := de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users", map[string]any{
			"email": "seller@acme.test", "name": "Seller", "level": 2, "api_access": true,
		}, 201, true)
		uid, _ := u["id"].(string)
		account, _ := u["api_account_id"].(string)
		key, _ := u["api_auth_key"].(string)
		if account == "" || key == "" {
			t.Fatalf("API access on, but no account id or auth key in the create answer: %v", u)
		}
		de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users", map[string]any{"email": "clerk@acme.test", "level": 1}, 201, true)
		de.check(t, admin, "GET", "/api/v1/merchants/"+mid+"/users", nil, 200, true)
		de.check(t, admin, "GET", "/api/v1/merchants/api-access", nil, 200, true)
		de.check(t, merchantBasic(account, key), "GET", "/api/v1/merchant/credentials", nil, 200, true)
		de.check(t, merchantHeaders(account, key), "GET", "/api/v1/merchant/credentials", nil, 200, true)
		de.check(t, merchantBasic(account, key), "GET", "/api/v1/stores", nil, 403, false)
		de.check(t, merchantBasic(account, "kwm_wrong"), "GET", "/api/v1/merchant/credentials", nil, 401, true)
		r := de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users/"+uid+"/auth-key", nil, 200, true)
		if k, _ := r["api_auth_key"].(string); k == "" || k == key {
			t.Errorf("regenerate answer lacks a new auth key: %v", r)
		}
		// With a grace the old key keeps working until the answer says.
		newKey, _ := r["api_auth_key"].(string)
		r = de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users/"+uid+"/auth-key?grace=24h", nil, 200, true)
		if r["previous_auth_key_expires_at"] == nil {
			t.Errorf("a regeneration with a grace does not say when the old key stops: %v", r)
		}
		de.check(t, merchantBasic(account, newKey), "GET", "/api/v1/merchant/credentials", nil, 200, true)
		de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users/"+uid+"/auth-key?grace=200h", nil, 400, true)
		de.check(t, admin, "POST", "/api/v1/merchants/"+mid+"/users/"+uid+"/auth-key?grace=soon", nil, 400, true)
		de.check(t, admin, "PATCH", "/api/v1/merchants/"+mid+"/users/"+uid, map[string]any{"name": "Top Seller"}, 200, true)
		de.check(t, admin, "DELETE", "/api/v1/merchants/api-access/"+account, nil, 204, true)
		de.check(t, admin, "DELETE", "/api/v1/merchants/"+mid, nil, 204, true)
	})

	t.Run("operator", func(t *testing.T) {
		de.check(t, op, "GET", "/operator/v1/tenants", nil, 200, true)
		de.check(t, op, "POST", "/operator/v1/tenants", map[string]any{"domain": "acme", "name": "Acme"}, 201, true)
		de.check(t, op, "GET", "/operator/v1/tenants/acme", nil, 200, true)
		de.check(t, op, "GET", "/operator/v1/tenants/demo/licence", nil, 200, true)
		de.check(t, op, "PUT", "/operator/v1/tenants/acme/licence", map[string]any{"max_keys": 3, "expires_at": "2099-01-01T00:00:00Z"}, 200, true)
		de.check(t, op, "DELETE", "/operator/v1/tenants/acme/licence", nil, 200, true)
		a := de.check(t, op, "POST", "/operator/v1/tenants/acme/admins", map[string]any{"email": "owner@acme.test", "name": "Owner"}, 201, true)
		if u, _ := a["sign_in_url"].(string); !strings.Contains(u, "/signin/link/?token=kwl_") {
			t.Errorf("first administrator: %v", a)
		}
		de.check(t, op, "POST", "/operator/v1/tenants/nowhere/admins", map[string]any{"email": "owner@nowhere.test"}, 404, true)
	})

	t.Run("service", func(t *testing.T) {
		de.check(t, anon, "GET", "/healthz", nil, 200, true)
		de.check(t, anon, "GET", "/readyz", nil, 200, true)
		de.check(t, anon, "GET", "/api/v1/openapi.json", nil, 200, true)
	})

	t.Run("problems", func(t *testing.T) {
		p := de.check(t, admin, "POST", "/api/v1/stores", `{"code":"south","colour":"red"}`, 400, false)
		if p["code"] != "invalid_argument" || p["field"] != "colour" {
			t.Errorf("unknown field: %v", p)
		}
		de.check(t, admin, "GET", "/api/v1/keys?access=some", nil, 400, false)
		de.check(t, admin, "GET", "/api/v1/keys/key_nope", nil, 404, true)
		de.check(t, op, "GET", "/operator/v1/tenants/nowhere/licence", nil, 404, true)
		de.check(t, anon, "GET", "/api/v1/stores", nil, 401, false)
		de.check(t, op, "GET", "/api/v1/stores", nil, 403, true)
		de.check(t, admin, "POST", "/api/v1/stores", map[string]any{"code": "main"}, 409, true)
		de.check(t, admin, "DELETE", "/api/v1/profiles/Clerks", nil, 409, true)
		de.check(t, admin, "DELETE", "/api/v1/keys/"+keyID, nil, 204, true)
	})

	// Last: the operator token changes.
	t.Run("operator token", func(t *testing.T) {
		r := de.check(t, op, "POST", "/operator/v1/token", nil, 200, true)
		fresh, _ := r["token"].(string)
		de.check(t, op, "GET", "/operator/v1/tenants", nil, 401, true)
		de.check(t, bearer(fresh), "GET", "/operator/v1/tenants", nil, 200, true)
	})
}
