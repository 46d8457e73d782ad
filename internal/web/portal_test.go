package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
)

// portalUser adds a merchant user and sets their portal password through
// the service, returning the user and the password.
func (e *env) portalUser(merchantID string, in keyward.MerchantUserCreate) (*keyward.MerchantUser, string) {
	e.t.Helper()
	u := e.merchantUser(merchantID, in)
	pw, err := e.svc.SetMerchantUserPassword(e.sys, merchantID, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, pw
}

// adminPaths are every back-office route except the portal's and the
// public ones, with sample values for their path parameters.
func adminPaths(w *Web) []route {
	var out []route
	for _, rt := range w.routes() {
		if rt.public || rt.feature == featurePortal || rt.path == pathHome+"{$}" {
			continue
		}
		p := rt.path
		for _, v := range []string{"{id}", "{user}", "{account}"} {
			p = strings.ReplaceAll(p, v, "x1")
		}
		p = strings.TrimSuffix(p, "{$}")
		rt.path = p
		out = append(out, rt)
	}
	return out
}

func TestMerchantUserSignsInToThePortalOnly(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})

	c := e.client()
	res := c.signIn(u.Email, pw)
	if got := res.Header.Get("Location"); got != pathPortal {
		t.Fatalf("after sign-in the merchant user goes to %q, want %q", got, pathPortal)
	}
	res = c.get(pathPortal)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Acme Couriers", "Merchant Level 2", `href="`+pathPortalAPI+`"`)
	res = c.get(pathPortalAPI)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, u.AccountID, "Generate a new Auth Key", "/api/v5/jobs", "/api/v5/actions")

	// Every administrators' page refuses the merchant user, GET and POST.
	for _, rt := range adminPaths(New(e.svc)) {
		var res *response
		if rt.method == "GET" {
			res = c.get(rt.path)
		} else {
			res = c.post(rt.path, nil)
		}
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s as a merchant user: status %d, want 403", rt.method, rt.path, res.StatusCode)
		}
		if rt.method == "GET" {
			wantPlainRefusal(t, res, "Everything your account can do is in your merchant portal", "Go to your merchant portal")
		}
	}
	// The home page sends the merchant user to the portal.
	res = c.get(pathHome)
	if got := res.Header.Get("Location"); got != pathPortal {
		t.Fatalf("home sends the merchant user to %q", got)
	}

	// A new Auth Key is shown once; the old one stops at once.
	res = c.post(pathPortalAPI+"/regenerate", nil)
	wantStatus(t, res, http.StatusOK)
	key := authKeyRE.FindString(res.Body)
	if key == "" || key == u.AuthKey {
		t.Fatalf("no new Auth Key on the page:\n%s", res.Body)
	}
	if !e.merchantAuth(u.AccountID, key) || e.merchantAuth(u.AccountID, u.AuthKey) {
		t.Fatal("after regenerating, the new key should work and the old one not")
	}
	res = c.get(pathPortalAPI)
	if strings.Contains(res.Body, key) {
		t.Fatal("API Settings shows the Auth Key again")
	}

	// Signing out ends the portal session.
	wantStatus(t, c.post(pathSignOut, nil), http.StatusSeeOther)
	res = c.get(pathPortal)
	wantStatus(t, res, http.StatusSeeOther)
}

func TestPortalWithoutAPISettingsForLevel1(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "driver@acme.test", Level: 1})
	c := e.client()
	c.signIn(u.Email, pw)
	res := c.get(pathPortal)
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, pathPortalAPI) {
		t.Fatalf("a Level 1 user is offered API Settings:\n%s", res.Body)
	}
	res = c.get(pathPortalAPI)
	wantStatus(t, res, http.StatusForbidden)
	wantPlainRefusal(t, res, "Ask the administrators who look after your merchant account")
	wantStatus(t, c.post(pathPortalAPI+"/regenerate", nil), http.StatusForbidden)
}

// wantPlainRefusal fails t unless res, a page refusing a merchant user,
// says why in words for a person, not an API's: no codes, endpoints,
// credentials, features or tenants.
func wantPlainRefusal(t *testing.T, res *response, want ...string) {
	t.Helper()
	wantBody(t, res, append([]string{"<h1>Not allowed</h1>"}, want...)...)
	_, main, _ := strings.Cut(res.Body, "<main")
	main, _, _ = strings.Cut(main, "</main>")
	for _, api := range []string{"forbidden", "feature_required", "endpoint", "credentials", "tenant", "feature"} {
		if strings.Contains(strings.ToLower(main), api) {
			t.Errorf("%s refuses a merchant user with %q:\n%s", res.Request.URL.Path, api, res.Body)
		}
	}
}

func TestStaffCannotOpenThePortal(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	wantStatus(t, c.get(pathPortal), http.StatusForbidden)
	wantStatus(t, c.get(pathPortalAPI), http.StatusForbidden)
}

func TestMerchantSignInIsThrottledWithStaffSignIn(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 1})
	c := e.client()
	for i := 0; i < 5; i++ {
		res := c.post(pathSignIn, url.Values{"email": {u.Email}, "password": {"wrong password " + string(rune('a'+i))}})
		wantStatus(t, res, http.StatusUnauthorized)
	}
	res := c.post(pathSignIn, url.Values{"email": {u.Email}, "password": {pw}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if sessionCookie(res) != nil {
		t.Fatal("a throttled sign-in opened a session")
	}
}

func TestMerchantUserWithoutPortalPasswordCannotSignIn(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 1})
	res := e.client().post(pathSignIn, url.Values{"email": {u.Email}, "password": {""}})
	wantStatus(t, res, http.StatusUnauthorized)
}

func TestAdministratorSetsAPortalPasswordShownOnce(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 1})
	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	wantBody(t, admin.get(pathMerchants+"/"+m.ID), "No portal password yet", "Set portal password")
	res := admin.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/portal-password", nil)
	wantStatus(t, res, http.StatusOK)
	i := strings.Index(res.Body, `id="portal-password"`)
	if i < 0 {
		t.Fatalf("no password on the page:\n%s", res.Body)
	}
	v := res.Body[i:]
	v = v[strings.Index(v, `value="`)+len(`value="`):]
	pw := v[:strings.Index(v, `"`)]
	wantBody(t, admin.get(pathMerchants+"/"+m.ID), "Signs in to the merchant portal", "Reset portal password")
	if strings.Contains(admin.get(pathMerchants+"/"+m.ID).Body, pw) {
		t.Fatal("the merchant page shows the portal password")
	}
	mc := e.client()
	mc.signIn(u.Email, pw)
	wantStatus(t, mc.get(pathPortal), http.StatusOK)
	// A reset ends the portal session at once.
	admin.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/portal-password", nil)
	wantStatus(t, mc.get(pathPortal), http.StatusSeeOther)
}

// gateway starts the gateway in front of the demo platform API over the
// env's replica and returns its address.
func (e *env) gateway() string {
	e.t.Helper()
	key := []byte("an identity key of at least 32 bytes for tests")
	up := httptest.NewServer(demoapi.New(demoapi.Options{IdentityKey: key}))
	e.t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	proxy, err := gateway.NewProxy(gateway.ProxyConfig{Upstream: u, Replica: e.rep, IdentityKey: key})
	if err != nil {
		e.t.Fatal(err)
	}
	gw := httptest.NewServer(proxy)
	e.t.Cleanup(gw.Close)
	return gw.URL
}

// callAsMerchant sends a request through the gateway with merchant
// credentials and returns the status.
func callAsMerchant(t *testing.T, gw, method, path, body, account, key string) int {
	t.Helper()
	req, err := http.NewRequest(method, gw+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(account, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Setting a portal password is refused until the administrator confirms
// their password when the last check is old, and changes nothing before.
func TestPortalPasswordNeedsARecentPasswordCheck(t *testing.T) {
	e := newEnv(t, false)
	admin := e.staff("ana@demo.test", keyward.FeatureMerchants)
	m := e.merchant("Acme Couriers")
	u := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 1})
	c := e.client()
	c.signIn("ana@demo.test", staffPassword)
	e.staleCheck(admin.ID)
	res := c.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/portal-password", nil)
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, pathStepUp+"?next=") {
		t.Fatalf("went to %q, not the password check", loc)
	}
	if can, err := e.svc.MerchantUserCanSignIn(e.sys, u.ID); err != nil || can {
		t.Fatalf("a refused request set a portal password: %v, %v", can, err)
	}
}

// The administrators' Integrations > API page and the merchant portal's
// API Settings have titles of their own, and the menu has one section
// called Integrations, under Settings, holding both API pages and the
// webhooks.
func TestAPIPagesHaveTheirOwnTitles(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	res := admin.get(pathMerchantAPI)
	wantBody(t, res, "<h1>Merchant API Settings</h1>")
	_, menu, _ := strings.Cut(res.Body, `aria-label="Main menu"`)
	menu, _, _ = strings.Cut(menu, "</nav>")
	if n := strings.Count(menu, ">Integrations<"); n != 1 {
		t.Fatalf("the menu names Integrations %d times:\n%s", n, menu)
	}
	_, integrations, _ := strings.Cut(menu, ">Integrations<")
	integrations, _, _ = strings.Cut(integrations, "</ul>")
	for _, path := range []string{pathKeys, pathMerchantAPI, pathWebhooks} {
		if !strings.Contains(integrations, `href="`+path+`"`) {
			t.Errorf("Integrations lacks %s:\n%s", path, integrations)
		}
	}
	merchant := e.client()
	merchant.signIn(u.Email, pw)
	wantBody(t, merchant.get(pathPortalAPI), "<h1>API Settings</h1>")
}
