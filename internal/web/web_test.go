package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

func TestTemplatesParseAndEveryPageHasOne(t *testing.T) {
	p := mustParsePages()
	for _, name := range []string{"signin", "signin_code", "error", "account", "keys", "key_form", "key_secrets", "key", "key_delete", "profiles", "profile", "users", "user_new", "user_created", "audit", "merchants", "merchant_form", "merchant", "merchant_user_form", "merchant_credentials", "integrations_api"} {
		if p.byName[name] == nil {
			t.Errorf("no template for page %q", name)
		}
	}
}

func TestSignedOutVisitorsGoToSignIn(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	res := c.get(pathKeys + "?enabled=true")
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != pathSignIn+"?next="+url.QueryEscape(pathKeys+"?enabled=true") {
		t.Fatalf("Location = %q", got)
	}
	res = c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}, "next": {pathKeys + "?enabled=true"}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != pathKeys+"?enabled=true" {
		t.Fatalf("after sign-in, Location = %q", got)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		res = e.client().post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}, "next": {next}})
		if got := res.Header.Get("Location"); got != pathHome {
			t.Fatalf("next=%q sent the browser to %q", next, got)
		}
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "write"}})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	foreign := []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "", "Origin": "http://evil.example"},
	}
	routes := New(e.svc).routes()
	for _, rt := range routes {
		if rt.method != http.MethodPost {
			continue
		}
		path := strings.ReplaceAll(rt.path, "{id}", k.ID)
		for _, h := range foreign {
			res := c.do("POST", path, url.Values{"enabled": {"false"}, "email": {e.demo.Email}, "password": {e.demo.Password}}, h)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, "came from another site") {
				t.Fatalf("POST %s with %v: %d, want the 403 page", path, h, res.StatusCode)
			}
		}
	}
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeValid {
		t.Fatalf("a refused cross-origin post changed the key: verify says %s", got)
	}
	res := c.post(pathKeys+"/"+k.ID+"/enabled", url.Values{"enabled": {"false"}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeDisabled {
		t.Fatalf("same-origin disable: verify says %s", got)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tls)
			c := e.client()
			ck := sessionCookie(c.signIn(e.demo.Email, e.demo.Password))
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, no Domain", ck)
			}
			if ck.Secure != tls {
				t.Fatalf("Secure = %v over %s", ck.Secure, name)
			}
			if tls && ck.Name != "__Host-keyward_session" {
				t.Fatalf("over TLS the cookie is %q, want the __Host- prefix", ck.Name)
			}
			if !regexp.MustCompile(`^kws_[0-9A-Za-z]{49}$`).MatchString(ck.Value) {
				t.Fatalf("session id %q is not a 256-bit kws_ secret", ck.Value)
			}
			// Signing in again, as anyone, replaces the session: the old id stops working.
			again := sessionCookie(c.signIn(e.demo.Email, e.demo.Password))
			if again.Value == ck.Value {
				t.Fatal("sign-in kept the session id")
			}
			stale := e.client()
			stale.http.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
			wantStatus(t, stale.get(pathKeys), http.StatusSeeOther)
			page := c.get(pathKeys)
			wantStatus(t, page, http.StatusOK)
			if page.Header.Get("Cache-Control") != "no-store" || !strings.Contains(page.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Fatalf("page headers: %v", page.Header)
			}
			if tls != (page.Header.Get("Strict-Transport-Security") != "") {
				t.Fatalf("HSTS over %s: %q", name, page.Header.Get("Strict-Transport-Security"))
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestSignInIsThrottledAfterFiveFailures(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	for i := range service.SignInMaxFailures {
		res := c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {"not the password " + string(rune('a'+i))}})
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, "The e-mail address or the password is wrong.", `value="`+e.demo.Email+`"`)
	}
	res := c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}})
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, "Too many failed attempts", "Wait 1 minute")
	if sessionCookie(res) != nil {
		t.Fatal("a throttled sign-in set a session cookie")
	}
	// Only this account from this address waits: the address may still
	// try another account, up to its own limit across accounts.
	u := c.post(pathSignIn, url.Values{"email": {"nobody@demo.test"}, "password": {"whatever"}})
	wantStatus(t, u, http.StatusUnauthorized)
}

func TestUnknownAndKnownAddressesLookTheSame(t *testing.T) {
	e := newEnv(t, false)
	known := e.client().post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {"wrong password"}})
	unknown := e.client().post(pathSignIn, url.Values{"email": {"nobody@demo.test"}, "password": {"wrong password"}})
	if known.StatusCode != unknown.StatusCode {
		t.Fatalf("status %d for a known address, %d for an unknown one", known.StatusCode, unknown.StatusCode)
	}
	strip := func(s string) string { return strings.NewReplacer(e.demo.Email, "", "nobody@demo.test", "").Replace(s) }
	if strip(known.Body) != strip(unknown.Body) {
		t.Fatal("the pages for a known and an unknown address differ")
	}
}

func TestFormErrorsShowBesideTheFieldAndKeepInput(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	res := c.post(pathKeys, url.Values{
		"name": {"bad name!"}, "description": {"Typed by hand"}, "enabled": {"true"},
		"perm.orders": {"read"}, "stores_access": {"selected"}, "store": {online.ID},
		"methods_mode": {"selected"}, "method": {"orders.statuses.list"},
	})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res,
		`aria-invalid="true"`, `id="name-error"`, "must be 1-64 letters",
		`value="bad name!"`, `value="Typed by hand"`,
		`name="perm.orders" value="read" checked`,
		`value="selected" checked`,
		`value="`+online.ID+`" checked`,
		`value="orders.statuses.list" checked`,
	)
	nameAt := strings.Index(res.Body, `id="name"`)
	errAt := strings.Index(res.Body, `id="name-error"`)
	descAt := strings.Index(res.Body, `id="description"`)
	if !(nameAt < errAt && errAt < descAt) {
		t.Fatal("the name's error is not beside the name field")
	}

	res = c.post(pathKeys, url.Values{"name": {"OK"}, "stores_access": {"selected"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="stores-error"`, "select at least one store")

	res = c.post(pathUsers, url.Values{"email": {"not-an-address"}, "name": {"Ana"}, "profile_id": {"Administrator"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="email-error"`, `value="not-an-address"`, `value="Ana"`)

	res = c.post(pathProfiles, url.Values{"name": {"Administrator"}})
	wantStatus(t, res, http.StatusConflict)
	wantBody(t, res, `id="name-error"`, "already exists", `value="Administrator"`)

	k := e.key(keyward.KeyCreate{Name: "THQ"})
	res = c.post(pathKeys+"/"+k.ID+"/roll", url.Values{"slot": {"2"}, "grace": {"a day"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="grace-error"`, `value="a day"`, `<option value="2" selected>`)

	res = c.get(pathKeys + "?access=some")
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="f-access-error"`)
}

func TestSecretsAreShownOnceAndNeverInARedirectOrList(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathKeys, url.Values{
		"name": {"THQ"}, "description": {"TranslatorHQ"}, "enabled": {"true"},
		"perm.orders": {"write"}, "stores_access": {"all"}, "methods_mode": {"all"},
	})
	wantStatus(t, res, http.StatusCreated)
	secrets := regexp.MustCompile(`kwk_[0-9A-Za-z]{49}`).FindAllString(res.Body, -1)
	if len(secrets) < 2 || secrets[0] == secrets[len(secrets)-1] {
		t.Fatalf("the answer shows %d secrets, want two different ones", len(secrets))
	}
	wantBody(t, res, "won’t be shown again", "demo-THQ", `data-copy="secret-1"`, `data-copy="secret-2"`)
	if res.Header.Get("Location") != "" || len(res.Cookies()) > 0 && strings.Contains(res.Header.Get("Set-Cookie"), "kwk_") {
		t.Fatal("the secrets travel in a redirect or cookie")
	}
	for _, s := range secrets {
		if got := e.verify(s, "orders.list", "main"); got != keyward.CodeValid {
			t.Fatalf("a shown secret does not verify: %s", got)
		}
	}
	k, err := e.svc.ListKeys(e.sys, keyward.KeyFilter{})
	if err != nil || len(k.Data) != 1 {
		t.Fatal(err)
	}
	id := k.Data[0].ID
	roll := c.post(pathKeys+"/"+id+"/roll", url.Values{"slot": {"1"}, "grace": {"1h"}})
	wantStatus(t, roll, http.StatusOK)
	rolled := regexp.MustCompile(`kwk_[0-9A-Za-z]{49}`).FindAllString(roll.Body, -1)
	if len(rolled) == 0 || rolled[0] == secrets[0] {
		t.Fatal("the roll did not show its new secret")
	}
	secrets = append(secrets, rolled...)
	for _, path := range []string{pathKeys, pathKeys + "/" + id, pathKeys + "/" + id + "/edit", pathKeys + "/" + id + "/delete", pathAudit} {
		page := c.get(path)
		wantStatus(t, page, http.StatusOK)
		for _, s := range secrets {
			if strings.Contains(page.Body, s) {
				t.Fatalf("GET %s shows a secret again", path)
			}
		}
		if (path == pathKeys || path == pathKeys+"/"+id) && !strings.Contains(page.Body, "kwk_…") {
			t.Fatalf("GET %s shows no hint of the secrets", path)
		}
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	ck := sessionCookie(c.signIn(e.demo.Email, e.demo.Password))
	res := c.post(pathSignOut, nil)
	wantStatus(t, res, http.StatusSeeOther)
	if out := sessionCookie(res); out == nil || out.MaxAge >= 0 {
		t.Fatal("sign-out did not clear the cookie")
	}
	again := e.client()
	again.http.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	res = again.get(pathKeys)
	wantStatus(t, res, http.StatusSeeOther)
	if !strings.HasPrefix(res.Header.Get("Location"), pathSignIn) {
		t.Fatalf("the old session id still works: Location %q", res.Header.Get("Location"))
	}
	if _, err := e.svc.SessionActor(context.Background(), ck.Value, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("the session survives sign-out: %v", err)
	}
	res = c.get(pathSignIn)
	wantBody(t, res, "You have signed out.")
}

func TestProfileChangeAppliesOnTheNextRequest(t *testing.T) {
	e := newEnv(t, false)
	e.staff("ana@demo.test", keyward.FeatureAPIManagement)
	ana := e.client()
	ana.signIn("ana@demo.test", staffPassword)
	res := ana.get(pathKeys)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="`+pathKeys+`" aria-current="page">API Management`)
	if strings.Contains(res.Body, pathUsers) || strings.Contains(res.Body, pathAudit) {
		t.Fatal("the menu shows entries Ana's profile does not allow")
	}

	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	p, err := e.svc.Profile(e.sys, "Profile of ana@demo.test")
	if err != nil {
		t.Fatal(err)
	}
	res = admin.post(pathProfiles+"/"+p.ID, url.Values{"name": {p.Name}, "feature": {"audit"}})
	wantStatus(t, res, http.StatusSeeOther)

	res = ana.get(pathKeys)
	wantStatus(t, res, http.StatusForbidden)
	wantBody(t, res, "You need the API Management feature", "Staff &gt; Profile Security")
	if strings.Contains(res.Body, `href="`+pathKeys+`"`) {
		t.Fatal("the menu still offers API Management")
	}
	wantBody(t, res, `href="`+pathAudit+`"`)
	res = ana.post(pathKeys, url.Values{"name": {"X"}})
	wantStatus(t, res, http.StatusForbidden)
	wantStatus(t, ana.get(pathAudit), http.StatusOK)
}

func TestUsersPageAddsChangesAndDeactivates(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.post(pathUsers, url.Values{"email": {"Ana@Demo.test"}, "name": {"Ana"}, "profile_id": {"Sales Staff"}})
	wantStatus(t, res, http.StatusCreated)
	wantBody(t, res, "won’t be shown again", "ana@demo.test")
	password := regexp.MustCompile(`id="password" class="mono" type="text" value="([^"]+)"`).FindStringSubmatch(res.Body)
	if password == nil {
		t.Fatal("no generated password on the page")
	}
	ana := e.client()
	ana.signIn("ana@demo.test", password[1])
	wantStatus(t, ana.get(pathKeys), http.StatusForbidden)

	u, _ := e.svc.User(e.sys, "ana@demo.test")
	admin, _ := e.svc.Profile(e.sys, "Administrator")
	wantStatus(t, c.post(pathUsers+"/"+u.ID+"/profile", url.Values{"profile_id": {admin.ID}}), http.StatusSeeOther)
	wantStatus(t, ana.get(pathKeys), http.StatusOK)

	wantStatus(t, c.post(pathUsers+"/"+u.ID+"/active", url.Values{"active": {"false"}}), http.StatusSeeOther)
	wantStatus(t, ana.get(pathKeys), http.StatusSeeOther)

	me, _ := e.svc.User(e.sys, e.demo.Email)
	res = c.post(pathUsers+"/"+me.ID+"/active", url.Values{"active": {"false"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "you cannot deactivate yourself")
}

func TestLicenceBannerDisablesKeyForms(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "THQ"})
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := e.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	for _, path := range []string{pathKeys, pathKeys + "/new", pathKeys + "/" + k.ID} {
		res := c.get(path)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "A licence is required to use API keys", "Contact "+licenceContact)
	}
	wantBody(t, c.get(pathKeys+"/new"), `<fieldset class="plain" disabled>`)
	res := c.post(pathKeys, url.Values{"name": {"New"}})
	wantStatus(t, res, http.StatusForbidden)
	wantBody(t, res, "A licence is required to use API keys")
	// Access can always be cut: disabling needs no licence.
	wantStatus(t, c.post(pathKeys+"/"+k.ID+"/enabled", url.Values{"enabled": {"false"}}), http.StatusSeeOther)
}

func TestKeyPagesDeleteAndFilter(t *testing.T) {
	e := newEnv(t, false)
	thq := e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "write"}})
	e.key(keyward.KeyCreate{Name: "CPA", Permissions: keyward.Permissions{"orders": "read"}, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"online"}}, Methods: []string{"Orders"}})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)

	res := c.get(pathKeys + "?access=selected&store=online")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "demo-CPA", "Online Store")
	if strings.Contains(res.Body, "demo-THQ") {
		t.Fatal("the filter let through a key for all stores")
	}
	res = c.get(pathKeys + "?enabled=false")
	wantBody(t, res, "No key matches these filters.")

	res = c.get(pathKeys + "/" + thq.ID + "/delete")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "stop working at once", "Delete key")
	if got := e.verify(thq.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeValid {
		t.Fatalf("the confirmation page changed something: %s", got)
	}
	res = c.post(pathKeys+"/"+thq.ID+"/delete", nil)
	wantStatus(t, res, http.StatusSeeOther)
	if got := e.verify(thq.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeNotFound {
		t.Fatalf("deleted key: verify says %s", got)
	}
	wantStatus(t, c.get(pathKeys+"/"+thq.ID), http.StatusNotFound)
	wantStatus(t, c.get("/settings/nothing-here"), http.StatusNotFound)
}

func TestKeyPageDrawsUsage(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "THQ"})
	ctx := context.Background()
	now := time.Now().UTC()
	err := e.db.Write(ctx, func(q *store.Q) error {
		for h := 1; h <= 30; h++ {
			if err := q.AddUsage(ctx, k.ID, now.Add(-time.Duration(h)*time.Hour).Truncate(time.Minute), int64(h*10)); err != nil {
				return err
			}
		}
		return q.TouchKeySecret(ctx, k.Secrets[0].Digest, now.Add(-time.Hour), "")
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathKeys + "/" + k.ID)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `<svg class="chart"`, `role="img"`, `class="bar"`, "4,650", "Peak <strong>300</strong>", "Hours with requests, newest first")
	if n := strings.Count(res.Body, `<rect class="bar"`); n != 30 {
		t.Fatalf("%d bars, want 30", n)
	}
}

func TestUsageChartLayout(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)
	c := newUsageChart([]keyward.UsageBucket{
		{Start: now.Truncate(time.Hour), Requests: 7},
		{Start: now.Truncate(time.Hour).Add(-2 * time.Hour), Requests: 3},
		{Start: now.Add(-30 * 24 * time.Hour), Requests: 1000}, // outside the week
	}, now)
	if len(c.Bars) != service.UsageDays*24 || c.Total != 10 || c.Peak.Requests != 7 || len(c.Rows) != 2 {
		t.Fatalf("chart: %d bars, total %d, peak %d, rows %d", len(c.Bars), c.Total, c.Peak.Requests, len(c.Rows))
	}
	last := c.Bars[len(c.Bars)-1]
	if last.Requests != 7 || last.Y+last.H != c.PlotBottom || last.H <= 0 {
		t.Fatalf("last bar %+v", last)
	}
	if len(c.Days) != 7 {
		t.Fatalf("%d day ticks, want 7", len(c.Days))
	}
	for _, tc := range []struct{ in, want int64 }{{0, 4}, {3, 4}, {5, 5}, {7, 10}, {11, 20}, {300, 500}, {1000, 1000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestAuditPagesNewestFirst(t *testing.T) {
	e := newEnv(t, false)
	for i := range auditPageSize + 5 {
		e.key(keyward.KeyCreate{Name: "K" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathAudit)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "user.sign_in", "Older entries")
	if strings.Index(res.Body, "user.sign_in") > strings.Index(res.Body, "key.create") {
		t.Fatal("the newest entry is not first")
	}
	older := regexp.MustCompile(`href="(/audit\?before=\d+)"`).FindStringSubmatch(res.Body)
	if older == nil {
		t.Fatal("no link to older entries")
	}
	res = c.get(older[1])
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "tenant.create", "Newest")
	wantStatus(t, c.get(pathAudit+"?before=x"), http.StatusBadRequest)
}

func TestTOTPPagesTurnTheSecondFactorOnAndAskForIt(t *testing.T) {
	e := newEnv(t, false)
	e.staff("ana@demo.test", keyward.FeatureAudit)
	c := e.client()
	c.signIn("ana@demo.test", staffPassword)
	res := c.get(pathAccount)
	wantStatus(t, res, http.StatusOK)
	seed := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(res.Body)
	if seed == nil {
		t.Fatal("no setup key on the page")
	}
	wantBody(t, res, "otpauth://totp/")
	res = c.post(pathAccount+"/totp", url.Values{"secret": {seed[1]}, "code": {"12"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="code-error"`, seed[1])
	res = c.post(pathAccount+"/totp", url.Values{"secret": {seed[1]}, "code": {totpCode(t, seed[1], time.Now())}})
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Save these recovery codes now", `id="recovery-codes"`)

	b := e.client()
	res = b.post(pathSignIn, url.Values{"email": {"ana@demo.test"}, "password": {staffPassword}})
	wantStatus(t, res, http.StatusSeeOther)
	if sessionCookie(res) != nil || !strings.HasPrefix(res.Header.Get("Location"), pathCode) {
		t.Fatalf("a password alone opened a session: %v", res.Header)
	}
	wantStatus(t, b.get(pathAudit), http.StatusSeeOther)
	res = b.post(pathCode, url.Values{"code": {"000000"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="code-error"`)
	res = b.post(pathCode, url.Values{"code": {totpCode(t, seed[1], time.Now().Add(30*time.Second))}})
	wantStatus(t, res, http.StatusSeeOther)
	if sessionCookie(res) == nil {
		t.Fatal("the second factor did not open a session")
	}
	wantStatus(t, b.get(pathAudit), http.StatusOK)
}
