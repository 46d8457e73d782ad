package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// env is a running admin API over a seeded demo tenant.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	svc      *service.Service
	admin    string // token of a user holding every feature
	operator string
	demo     *service.Demo
}

const operatorToken = "test-operator-token-0123456789abcdef"

func newEnv(t *testing.T, db *store.DB, opts ...service.Option) *env {
	t.Helper()
	ctx := context.Background()
	kr, err := seal.ParseKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(db, catalog.Builtin(), append([]service.Option{service.WithKeyring(kr), service.WithPasswordHasher(secret.TestHasher())}, opts...)...)
	if _, err := svc.EnsureOperatorToken(ctx, operatorToken); err != nil {
		t.Fatal(err)
	}
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(svc, nil).Register(mux)
	srv := httptest.NewServer(httpx.Common(mux))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, svc: svc, admin: demo.Token, operator: operatorToken, demo: demo}
}

// do sends a request and decodes the JSON answer into a map.
func (e *env) do(token, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		e.t.Fatalf("%s %s: error answered with %q, want application/problem+json", method, path, res.Header.Get("Content-Type"))
	}
	return res.StatusCode, out
}

// userWith creates a user holding a new profile with the features and
// returns its token and the profile's id.
func (e *env) userWith(email string, features ...keyward.Feature) (token, profileID string) {
	e.t.Helper()
	code, p := e.do(e.admin, "POST", "/api/v1/profiles", map[string]any{"name": "P " + email, "features": features})
	if code != 201 {
		e.t.Fatalf("create profile: %d %v", code, p)
	}
	code, u := e.do(e.admin, "POST", "/api/v1/users", map[string]any{"email": email, "profile_id": p["id"]})
	if code != 201 {
		e.t.Fatalf("create user: %d %v", code, u)
	}
	ctx := context.Background()
	ten, _ := e.svc.TenantByDomain(ctx, "demo")
	_, tok, err := e.svc.CreateToken(keyward.WithActor(ctx, service.SystemActor(ten, "test")), email, keyward.TokenCreate{Name: "t"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, p["id"].(string)
}

func count(e *env, path string) int {
	e.t.Helper()
	code, out := e.do(e.admin, "GET", path, nil)
	if code != 200 {
		e.t.Fatalf("GET %s: %d %v", path, code, out)
	}
	return len(out["data"].([]any))
}

func TestBadInputGetsProblemAndChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		big := append([]byte(`{"code":"`), bytes.Repeat([]byte("a"), httpx.MaxBody)...)
		big = append(big, `"}`...)
		cases := []struct {
			name, token, method, path string
			body                      any
			status                    int
			code, field               string
		}{
			{"unknown field", e.admin, "POST", "/api/v1/stores", `{"code":"x1","colour":"red"}`, 400, "invalid_argument", "colour"},
			{"wrong type", e.admin, "POST", "/api/v1/stores", `{"code":42}`, 400, "invalid_argument", "code"},
			{"not JSON", e.admin, "POST", "/api/v1/stores", `{"code":`, 400, "invalid_argument", ""},
			{"two objects", e.admin, "POST", "/api/v1/stores", `{"code":"x2"}{"code":"x3"}`, 400, "invalid_argument", ""},
			{"oversized body", e.admin, "POST", "/api/v1/stores", big, 413, "payload_too_large", ""},
			{"duplicate store code", e.admin, "POST", "/api/v1/stores", `{"code":"main"}`, 409, "conflict", "code"},
			{"duplicate profile name", e.admin, "POST", "/api/v1/profiles", `{"name":"Administrator","features":[]}`, 409, "conflict", "name"},
			{"duplicate user email", e.admin, "POST", "/api/v1/users", map[string]any{"email": "admin@demo.test", "profile_id": "Administrator"}, 409, "conflict", "email"},
			{"unknown feature", e.admin, "POST", "/api/v1/profiles", `{"name":"X","features":["api_management","teleport"]}`, 400, "invalid_argument", "features"},
			{"unknown profile for user", e.admin, "POST", "/api/v1/users", `{"email":"z@demo.test","profile_id":"prf_nope"}`, 400, "invalid_argument", "profile_id"},
			{"bad email", e.admin, "POST", "/api/v1/users", `{"email":"not-an-address","profile_id":"Administrator"}`, 400, "invalid_argument", "email"},
			{"unknown tenant licence", e.operator, "PUT", "/operator/v1/tenants/nowhere/licence", `{"max_keys":3}`, 404, "not_found", ""},
			{"unknown tenant", e.operator, "GET", "/operator/v1/tenants/nowhere", nil, 404, "not_found", ""},
			{"duplicate tenant", e.operator, "POST", "/operator/v1/tenants", `{"domain":"demo"}`, 409, "conflict", ""},
			{"bad tenant domain", e.operator, "POST", "/operator/v1/tenants", `{"domain":"My Business"}`, 400, "invalid_argument", "domain"},
			{"negative max keys", e.operator, "PUT", "/operator/v1/tenants/demo/licence", `{"max_keys":-1}`, 400, "invalid_argument", "max_keys"},
			{"bad limit", e.admin, "GET", "/api/v1/audit?limit=lots", nil, 400, "invalid_argument", "limit"},
		}
		before := map[string]int{"/api/v1/stores": count(e, "/api/v1/stores"), "/api/v1/profiles": count(e, "/api/v1/profiles"),
			"/api/v1/users": count(e, "/api/v1/users"), "/api/v1/audit?limit=500": count(e, "/api/v1/audit?limit=500")}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, p := e.do(c.token, c.method, c.path, c.body)
				if status != c.status || p["code"] != c.code {
					t.Fatalf("got %d %v, want %d %s", status, p, c.status, c.code)
				}
				if c.field != "" && p["field"] != c.field {
					t.Fatalf("field = %v, want %s", p["field"], c.field)
				}
				if d, _ := p["detail"].(string); len(d) < 10 {
					t.Fatalf("detail %q does not tell a person what to do", d)
				}
			})
		}
		for path, n := range before {
			if got := count(e, path); got != n {
				t.Errorf("%s: %d entries after bad input, want %d", path, got, n)
			}
		}
		_, l := e.do(e.operator, "GET", "/operator/v1/tenants/demo/licence", nil)
		if l["max_keys"] != float64(100) {
			t.Errorf("licence changed by bad input: %v", l)
		}
	})
}

func TestFeatureGrantAppliesOnNextRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		tok, profileID := e.userWith("clerk@demo.test", keyward.FeatureAudit)
		newUser := map[string]any{"email": "new@demo.test", "profile_id": "Administrator"}

		status, p := e.do(tok, "POST", "/api/v1/users", newUser)
		if status != 403 || p["code"] != "feature_required" {
			t.Fatalf("without users: got %d %v, want 403 feature_required", status, p)
		}
		if d, _ := p["details"].(map[string]any); d["feature"] != "users" {
			t.Fatalf("problem does not name the missing feature: %v", p)
		}
		if status, _ := e.do(tok, "GET", "/api/v1/audit", nil); status != 200 {
			t.Fatalf("audit with the audit feature: %d", status)
		}

		status, _ = e.do(e.admin, "PATCH", "/api/v1/profiles/"+profileID, map[string]any{"features": []string{"audit", "users"}})
		if status != 200 {
			t.Fatalf("grant users: %d", status)
		}
		status, u := e.do(tok, "POST", "/api/v1/users", newUser)
		if status != 201 || u["email"] != "new@demo.test" {
			t.Fatalf("with users, same token, next request: got %d %v, want 201", status, u)
		}
		if pw, _ := u["password"].(string); len(pw) < 16 {
			t.Fatalf("generated password not returned once: %v", u)
		}
		if list := count(e, "/api/v1/users"); list != 3 {
			t.Fatalf("users = %d, want 3", list)
		}
	})
}

func TestRoutesRefuseTheWrongCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		noFeatures, _ := e.userWith("nobody@demo.test")
		cases := []struct {
			name, token, method, path string
			status                    int
			code                      string
		}{
			{"anonymous tenant route", "", "GET", "/api/v1/stores", 401, "unauthenticated"},
			{"garbage token", "kwp_notatoken", "GET", "/api/v1/stores", 401, "unauthenticated"},
			{"anonymous operator route", "", "GET", "/operator/v1/tenants", 401, "unauthenticated"},
			{"user on operator route", e.admin, "GET", "/operator/v1/tenants", 403, "forbidden"},
			{"operator on tenant route", e.operator, "GET", "/api/v1/stores", 403, "forbidden"},
			{"no users feature", noFeatures, "GET", "/api/v1/users", 403, "feature_required"},
			{"no audit feature", noFeatures, "GET", "/api/v1/audit", 403, "feature_required"},
			{"no api_management for store create", noFeatures, "POST", "/api/v1/stores", 403, "feature_required"},
			{"any user lists stores", noFeatures, "GET", "/api/v1/stores", 200, ""},
			{"operator lists tenants", e.operator, "GET", "/operator/v1/tenants", 200, ""},
			{"health without auth", "", "GET", "/healthz", 200, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, p := e.do(c.token, c.method, c.path, `{"code":"zz"}`)
				if status != c.status || (c.code != "" && p["code"] != c.code) {
					t.Fatalf("got %d %v, want %d %s", status, p, c.status, c.code)
				}
			})
		}
	})
}

func TestAuditRecordsWhoWhatWhereAndNoSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		status, tok := e.do(e.admin, "POST", "/api/v1/tokens", map[string]any{"name": "ci"})
		if status != 201 {
			t.Fatalf("create token: %d", status)
		}
		secretTok := tok["token"].(string)
		e.do(e.admin, "PATCH", "/api/v1/stores/main", map[string]any{"name": "High Street"})
		status, page := e.do(e.admin, "GET", "/api/v1/audit?limit=1", nil)
		if status != 200 {
			t.Fatal(status)
		}
		entries := page["data"].([]any)
		if len(entries) != 1 || page["next_cursor"] == nil {
			t.Fatalf("paging: %v", page)
		}
		ent := entries[0].(map[string]any)
		if ent["actor"] != "admin@demo.test" || ent["action"] != "store.update" || ent["address"] != "127.0.0.1" {
			t.Fatalf("newest entry: %v", ent)
		}
		if ch := ent["changes"].(map[string]any); ch["name"] != "High Street" {
			t.Fatalf("changed fields not recorded: %v", ent)
		}
		_, all := e.do(e.admin, "GET", "/api/v1/audit?limit=500", nil)
		raw, _ := json.Marshal(all)
		for _, s := range []string{secretTok, e.demo.Token, e.demo.Password, secretTok[8:20]} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("audit log holds a secret")
			}
		}
		_, list := e.do(e.admin, "GET", "/api/v1/tokens", nil)
		raw, _ = json.Marshal(list)
		if bytes.Contains(raw, []byte(secretTok)) || !bytes.Contains(raw, []byte(secretTok[len(secretTok)-4:])) {
			t.Fatalf("token list must show the hint and never the token: %s", raw)
		}
	})
}
