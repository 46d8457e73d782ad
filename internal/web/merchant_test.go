package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// authKeyRE matches a merchant API Auth Key; accountRE an API Account ID
// in a field's value.
var (
	authKeyRE = regexp.MustCompile(`kwm_[0-9A-Za-z]{49}`)
	accountRE = regexp.MustCompile(`id="api-account-id" class="mono" type="text" value="([^"]+)"`)
)

// merchant creates a merchant through the service.
func (e *env) merchant(name string, stores ...string) *keyward.Merchant {
	e.t.Helper()
	m, err := e.svc.CreateMerchant(e.sys, keyward.MerchantCreate{Name: name, Stores: stores})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// merchantUser adds a merchant user through the service.
func (e *env) merchantUser(merchantID string, in keyward.MerchantUserCreate) *keyward.MerchantUser {
	e.t.Helper()
	u, err := e.svc.CreateMerchantUser(e.sys, merchantID, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// merchantAuth reports whether a merchant credential is accepted.
func (e *env) merchantAuth(accountID, authKey string) bool {
	_, _, err := e.svc.AuthenticateMerchant(context.Background(), accountID, authKey, "")
	return err == nil
}

func TestMerchantPagesNeedTheMerchantsFeature(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	e.staff("ana@demo.test", keyward.FeatureAPIManagement, keyward.FeatureAudit)
	ana := e.client()
	ana.signIn("ana@demo.test", staffPassword)
	res := ana.get(pathKeys)
	wantStatus(t, res, http.StatusOK)
	for _, entry := range []string{`href="` + pathMerchants + `"`, `href="` + pathMerchantAPI + `"`, ">Merchants<", "Organization"} {
		if strings.Contains(res.Body, entry) {
			t.Fatalf("the menu of a profile without Merchants shows %s", entry)
		}
	}
	for _, path := range []string{pathMerchants, pathMerchantAPI, pathMerchants + "/" + m.ID, pathMerchants + "/new"} {
		res := ana.get(path)
		wantStatus(t, res, http.StatusForbidden)
		wantBody(t, res, "You need the Merchants feature")
	}
	res = ana.post(pathMerchants, url.Values{"name": {"Sneaky"}})
	wantStatus(t, res, http.StatusForbidden)
	if ms, _ := e.svc.ListMerchants(e.sys); len(ms) != 1 {
		t.Fatalf("a refused POST added a merchant: %d merchants", len(ms))
	}

	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	res = admin.get(pathMerchants)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="`+pathMerchants+`" aria-current="page">Merchants`, `href="`+pathMerchantAPI+`">API`, "Acme Couriers")
	wantStatus(t, admin.get(pathMerchantAPI), http.StatusOK)
	wantStatus(t, admin.get("/organization/nothing-here"), http.StatusNotFound)
}

func TestMerchantListAddAndEdit(t *testing.T) {
	e := newEnv(t, false)
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathMerchants, url.Values{"name": {"  "}, "store": {online.ID}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="name-error"`, `value="`+online.ID+`" checked`)

	res = c.post(pathMerchants, url.Values{"name": {"Acme Couriers"}, "store": {online.ID}})
	wantStatus(t, res, http.StatusSeeOther)
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, pathMerchants+"/mer_") {
		t.Fatalf("after adding, Location = %q", loc)
	}
	id := strings.TrimPrefix(loc, pathMerchants+"/")
	res = c.get(loc)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Added Acme Couriers.", "Online Store", "No users yet.")

	e.merchantUser(id, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	e.merchantUser(id, keyward.MerchantUserCreate{Email: "driver@acme.test", Level: 1})
	res = c.get(pathMerchants)
	wantStatus(t, res, http.StatusOK)
	row := regexp.MustCompile(`(?s)Acme Couriers</a></td>\s*<td>Online Store</td>\s*<td class="num">2</td>\s*<td class="num"><span class="badge on">1</span>`)
	if !row.MatchString(res.Body) {
		t.Fatalf("the list does not show Acme Couriers with its store, 2 users and 1 with API access\n%s", res.Body)
	}

	res = c.post(pathMerchants+"/"+id+"/edit", url.Values{"name": {"Acme Couriers Ltd"}})
	wantStatus(t, res, http.StatusSeeOther)
	m, err := e.svc.Merchant(e.sys, id)
	if err != nil || m.Name != "Acme Couriers Ltd" || len(m.StoreIDs) != 0 {
		t.Fatalf("after editing: %+v, %v", m, err)
	}
}

func TestMerchantLevel1APIAccessIsRefusedBesideTheField(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathMerchants + "/" + m.ID + "/users/new")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `id="api_access"`, `data-level2-only`, `id="level-1" name="level" value="1" checked`)

	res = c.post(pathMerchants+"/"+m.ID+"/users", url.Values{
		"email": {"driver@acme.test"}, "name": {"Dana Driver"}, "level": {"1"}, "api_access": {"true"},
	})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res,
		`id="api_access-error"`, "API access can be granted only to Merchant Level 2 users",
		`value="driver@acme.test"`, `value="Dana Driver"`,
		`id="level-1" name="level" value="1" checked`, `name="api_access" value="true" checked`, `aria-invalid="true"`,
	)
	toggleAt := strings.Index(res.Body, `id="api_access"`)
	errAt := strings.Index(res.Body, `id="api_access-error"`)
	submitAt := strings.Index(res.Body, `type="submit" class="button primary"`)
	if !(toggleAt < errAt && errAt < submitAt) {
		t.Fatal("the refusal is not beside the API Access toggle")
	}
	if us, _ := e.svc.ListMerchantUsers(e.sys, m.ID); len(us) != 0 {
		t.Fatalf("a refused form added %d users", len(us))
	}

	// The same refusal when a Level 1 user is edited with the toggle on.
	u := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "driver@acme.test", Level: 1})
	res = c.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/edit", url.Values{"name": {"Dana"}, "level": {"1"}, "api_access": {"true"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="api_access-error"`, `value="Dana"`, "driver@acme.test")
	if authKeyRE.MatchString(res.Body) {
		t.Fatal("a refused form shows an auth key")
	}
}

func TestMerchantAuthKeyIsShownOnce(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathMerchants+"/"+m.ID+"/users", url.Values{
		"email": {"ops@acme.test"}, "name": {"Olu Ops"}, "level": {"2"}, "api_access": {"true"},
	})
	wantStatus(t, res, http.StatusCreated)
	wantBody(t, res, "won’t be shown again", `data-copy="api-account-id"`, `data-copy="api-auth-key"`, "API Account ID", "API Auth Key")
	keys := authKeyRE.FindAllString(res.Body, -1)
	acc := accountRE.FindStringSubmatch(res.Body)
	if len(keys) != 1 || acc == nil {
		t.Fatalf("the answer shows %d auth keys and account %v, want one of each", len(keys), acc)
	}
	account := acc[1]
	if res.Header.Get("Location") != "" || strings.Contains(res.Header.Get("Set-Cookie"), "kwm_") {
		t.Fatal("the auth key travels in a redirect or cookie")
	}
	if !e.merchantAuth(account, keys[0]) {
		t.Fatal("the shown credential is refused")
	}

	us, err := e.svc.ListMerchantUsers(e.sys, m.ID)
	if err != nil || len(us) != 1 {
		t.Fatal(us, err)
	}
	u := us[0]
	res = c.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/regenerate", nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "won’t be shown again", "replaces the old one", account)
	fresh := authKeyRE.FindString(res.Body)
	if fresh == "" || fresh == keys[0] {
		t.Fatal("regenerating did not show a new auth key")
	}
	keys = append(keys, fresh)
	if e.merchantAuth(account, keys[0]) || !e.merchantAuth(account, fresh) {
		t.Fatal("after regenerating, the old key works or the new one does not")
	}

	for _, path := range []string{pathMerchants, pathMerchants + "/" + m.ID, pathMerchants + "/" + m.ID + "/users/" + u.ID + "/edit", pathMerchantAPI, pathAudit} {
		page := c.get(path)
		wantStatus(t, page, http.StatusOK)
		for _, k := range keys {
			if strings.Contains(page.Body, k) {
				t.Fatalf("GET %s shows an auth key again", path)
			}
		}
		if path == pathMerchants+"/"+m.ID || path == pathMerchantAPI {
			wantBody(t, page, account, "kwm_…")
		}
	}

	// Moving the user to Level 1 switches API access off, and says so.
	res = c.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/edit", url.Values{"name": {"Olu Ops"}, "level": {"1"}, "api_access": {"true"}})
	wantStatus(t, res, http.StatusSeeOther)
	res = c.get(res.Header.Get("Location"))
	wantBody(t, res, "Merchant Level 1 users cannot have API access, so it was switched off")
	if e.merchantAuth(account, fresh) {
		t.Fatal("a Level 1 user's key still works")
	}
	if strings.Contains(c.get(pathMerchantAPI).Body, account) {
		t.Fatal("Integrations > API still lists a Level 1 user")
	}
}

func TestMerchantDeactivateFromIntegrationsAPI(t *testing.T) {
	e := newEnv(t, false)
	acme := e.merchant("Acme Couriers")
	beta := e.merchant("Beta Freight")
	a := e.merchantUser(acme.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	b := e.merchantUser(beta.ID, keyward.MerchantUserCreate{Email: "ops@beta.test", Level: 2, APIAccess: true})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathMerchantAPI)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, a.AccountID, b.AccountID, "ops@acme.test", "Acme Couriers", "Beta Freight", a.AuthKeyHint,
		`action="`+pathMerchantAPI+"/"+a.AccountID+`/deactivate"`, `aria-label="Deactivate API access of ops@acme.test (`+a.AccountID+`)"`)

	res = c.post(pathMerchantAPI+"/"+a.AccountID+"/deactivate", nil)
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != pathMerchantAPI {
		t.Fatalf("after deactivating, Location = %q", got)
	}
	res = c.get(pathMerchantAPI)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "API access of ops@acme.test (Acme Couriers) is switched off", b.AccountID)
	if strings.Contains(res.Body, `<td class="mono nowrap">`+a.AccountID+`</td>`) {
		t.Fatal("the deactivated credential still has a row")
	}
	if e.merchantAuth(a.AccountID, a.AuthKey) || !e.merchantAuth(b.AccountID, b.AuthKey) {
		t.Fatal("deactivation cut the wrong credential")
	}

	// From the merchant page, too.
	res = c.post(pathMerchants+"/"+beta.ID+"/users/"+b.ID+"/deactivate", nil)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, c.get(pathMerchantAPI), "No merchant user has API access.")
	if e.merchantAuth(b.AccountID, b.AuthKey) {
		t.Fatal("deactivation from the merchant page left the key working")
	}
	// Regenerating for a user without API access is refused beside the row.
	res = c.post(pathMerchants+"/"+beta.ID+"/users/"+b.ID+"/regenerate", nil)
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="user-0-error"`, "switch API access on first")
}

func TestMerchantCrossOriginPostsAreRefused(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u := e.merchantUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	paths := 0
	for _, rt := range New(e.svc).routes() {
		if rt.method != http.MethodPost || rt.feature != keyward.FeatureMerchants {
			continue
		}
		paths++
		path := strings.NewReplacer("{id}", m.ID, "{user}", u.ID, "{account}", u.AccountID).Replace(rt.path)
		form := url.Values{"name": {"Evil"}, "email": {"evil@evil.example"}, "level": {"1"}}
		for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "", "Origin": "http://evil.example"}} {
			res := c.do("POST", path, form, h)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, "came from another site") || authKeyRE.MatchString(res.Body) {
				t.Fatalf("POST %s with %v: %d, want the 403 page", path, h, res.StatusCode)
			}
		}
	}
	if paths < 6 {
		t.Fatalf("only %d merchant POST routes", paths)
	}
	if !e.merchantAuth(u.AccountID, u.AuthKey) {
		t.Fatal("a refused cross-origin post changed the credential")
	}
	if ms, _ := e.svc.ListMerchants(e.sys); len(ms) != 1 || ms[0].Name != "Acme Couriers" {
		t.Fatalf("a refused cross-origin post changed the merchants: %v", ms)
	}
	if us, _ := e.svc.ListMerchantUsers(e.sys, m.ID); len(us) != 1 || us[0].Level != 2 {
		t.Fatalf("a refused cross-origin post changed the users: %v", us)
	}
}
