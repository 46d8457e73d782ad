package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// caller is one kind of credential the admin API may be sent.
type caller struct {
	name string
	// admitted says whether a route lets this caller through.
	admitted func(api.Route) bool
	// send adds the credential to a request for the route.
	send func(api.Route, *http.Request)
	// refusal is the status of a refusal: 401 for a credential that is
	// not one, 403 for a valid credential of another kind.
	refusal int
}

// refusals are the codes with which authorization refuses a caller; any
// other answer means the caller got past it to the handler.
var refusals = map[string]bool{"unauthenticated": true, "forbidden": true, "feature_required": true, "password_change_required": true}

// Every route of the table, called by every kind of caller, lets through
// exactly the callers its Auth (and, for staff, its Feature) declares and
// refuses every other one before its handler runs: 401 without a valid
// credential, 403 with a credential of another kind or lacking the
// feature. A route added without a declaration fails here.
func TestEveryRouteAdmitsOnlyItsDeclaredCallers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		// A staff user holding only each feature, one holding every
		// feature but it, and one holding none.
		only, allBut := map[keyward.Feature]string{}, map[keyward.Feature]string{}
		only[""], _ = e.userWith("none@demo.test")
		allBut[""] = e.admin
		for _, f := range keyward.Features {
			only[f], _ = e.userWith("only-"+string(f)+"@demo.test", f)
			var rest []keyward.Feature
			for _, g := range keyward.Features {
				if g != f {
					rest = append(rest, g)
				}
			}
			allBut[f], _ = e.userWith("allbut-"+string(f)+"@demo.test", rest...)
		}
		// A user holding every feature whose password an administrator
		// has reset: until they choose one, only their own account is open.
		mustChange, _ := e.userWith("reset@demo.test", keyward.Features...)
		if code, out := e.do(e.admin, "POST", "/api/v1/users/reset@demo.test/password-reset", nil); code != 200 {
			t.Fatalf("password reset: %d %v", code, out)
		}
		// Merchant credentials.
		account, authKey := e.merchantCredential()
		// An API key, which is for the platform's API, not this one.
		code, k := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "integration", "permissions": map[string]string{"orders": "read"}})
		if code != 201 {
			t.Fatalf("create key: %d %v", code, k)
		}
		apiKey := k["secrets"].([]any)[0].(map[string]any)["secret"].(string)
		// A back-office session, which is for the web pages only.
		_, session, err := e.svc.SignIn(ctx, e.demo.Email, e.demo.Password, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}

		operator := e.operator
		bearer := func(tok func(api.Route) string) func(api.Route, *http.Request) {
			return func(rt api.Route, r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok(rt)) }
		}
		fixed := func(tok string) func(api.Route) string { return func(api.Route) string { return tok } }
		staff := func(rt api.Route) bool { return rt.Auth == api.AuthTenant || rt.Auth == api.AuthSelf }
		anyone := func(rt api.Route) bool { return rt.Auth == api.AuthNone }
		callers := []caller{
			{"no credential", anyone, func(api.Route, *http.Request) {}, 401},
			{"unknown token", anyone, bearer(fixed("kwp_notatoken")), 401},
			{"API key", anyone, bearer(fixed(apiKey)), 401},
			{"API key as Basic", anyone, func(_ api.Route, r *http.Request) { r.SetBasicAuth(k["id"].(string), apiKey) }, 401},
			{"back-office session", anyone, bearer(fixed(session)), 401},
			{"operator token", func(rt api.Route) bool { return anyone(rt) || rt.Auth == api.AuthOperator },
				bearer(func(api.Route) string { return operator }), 403},
			{"merchant Basic", func(rt api.Route) bool { return anyone(rt) || rt.Auth == api.AuthMerchant },
				func(_ api.Route, r *http.Request) { r.SetBasicAuth(account, authKey) }, 403},
			{"merchant headers", func(rt api.Route) bool { return anyone(rt) || rt.Auth == api.AuthMerchant },
				func(_ api.Route, r *http.Request) {
					r.Header.Set("X-Account-Id", account)
					r.Header.Set("X-Auth-Key", authKey)
				}, 403},
			{"staff holding the route's feature only", func(rt api.Route) bool { return anyone(rt) || staff(rt) },
				bearer(func(rt api.Route) string { return only[rt.Feature] }), 403},
			{"staff holding every other feature", func(rt api.Route) bool { return anyone(rt) || (staff(rt) && rt.Feature == "") },
				bearer(func(rt api.Route) string { return allBut[rt.Feature] }), 403},
			{"staff holding no feature", func(rt api.Route) bool { return anyone(rt) || (staff(rt) && rt.Feature == "") },
				bearer(fixed(only[""])), 403},
			{"staff who must change their password", func(rt api.Route) bool { return anyone(rt) || rt.Auth == api.AuthSelf },
				bearer(fixed(mustChange)), 403},
		}

		param := regexp.MustCompile(`\{[a-z]+\}`)
		for _, rt := range e.routes() {
			if rt.Auth == "" {
				t.Errorf("%s %s declares no Auth: every route says which callers it admits", rt.Method, rt.Path)
			}
			if rt.Feature != "" && rt.Auth != api.AuthTenant {
				t.Errorf("%s %s: a Feature is for staff routes only", rt.Method, rt.Path)
			}
			path := param.ReplaceAllString(rt.Path, "nope")
			open := ""
			for _, c := range callers {
				// An empty object: refused by every handler's validation, so
				// a caller let through changes nothing.
				req, _ := http.NewRequest(rt.Method, e.srv.URL+path, strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				c.send(rt, req)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				problem := problemCode(raw)
				refused := (res.StatusCode == 401 || res.StatusCode == 403) && refusals[problem]
				want := c.admitted(rt)
				if rt.Auth == api.AuthNone {
					// An open route reads no credential: every caller gets
					// the answer the first one got, refusals of its own
					// included (or the sign-in throttle's, as the calls add up).
					if open == "" {
						open = fmt.Sprint(res.StatusCode, problem)
					} else if got := fmt.Sprint(res.StatusCode, problem); got != open && problem != "rate_limited" {
						t.Errorf("%s %s by %s: %s; an open route answers every caller alike (%s)", rt.Method, rt.Path, c.name, got, open)
					}
					continue
				}
				switch {
				case want && refused:
					t.Errorf("%s %s by %s: refused with %d %s; the route admits it", rt.Method, rt.Path, c.name, res.StatusCode, raw)
				case !want && !refused:
					t.Errorf("%s %s by %s: let through (%d %.200s); the route does not admit it", rt.Method, rt.Path, c.name, res.StatusCode, raw)
				case refused && res.StatusCode != c.refusal:
					t.Errorf("%s %s by %s: refused with %d, want %d", rt.Method, rt.Path, c.name, res.StatusCode, c.refusal)
				}
				if rt.Path == "/operator/v1/token" && res.StatusCode == 200 {
					operator = tokenOf(t, raw)
				}
			}
		}
	})
}

// routes is the route table the test server serves.
func (e *env) routes() []api.Route { return api.New(e.svc, nil).Routes() }

// problemCode is the code of a problem details answer, "" for any other.
func problemCode(raw []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(raw, &p)
	return p.Code
}

// tokenOf is the token of a rotated operator token's answer.
func tokenOf(t *testing.T, raw []byte) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		t.Fatalf("rotated operator token: %s", raw)
	}
	return out.Token
}

// merchantCredential creates the merchant Acme with a Level 2 user holding
// API access and returns its API Account ID and Auth Key.
func (e *env) merchantCredential() (account, authKey string) {
	e.t.Helper()
	code, m := e.do(e.admin, "POST", "/api/v1/merchants", map[string]any{"name": "Acme"})
	if code != 201 {
		e.t.Fatalf("create merchant: %d %v", code, m)
	}
	code, u := e.do(e.admin, "POST", "/api/v1/merchants/"+m["id"].(string)+"/users", map[string]any{"email": "ops@acme.test", "level": 2, "api_access": true})
	if code != 201 {
		e.t.Fatalf("create merchant user: %d %v", code, u)
	}
	return u["api_account_id"].(string), u["api_auth_key"].(string)
}
