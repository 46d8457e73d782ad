package web

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

func TestCookiesAndHSTSBehindATLSTerminatingProxy(t *testing.T) {
	// keyward serves plain HTTP; the address users type is https.
	e := newEnvBehind(t, false, httpx.Front{HTTPS: true})
	c := e.client()
	res := c.get(pathSignIn)
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS on the sign-in page behind an https public address")
	}
	res = c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}})
	wantStatus(t, res, http.StatusSeeOther)
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if strings.HasSuffix(k.Name, "keyward_session") {
			ck = k
		}
	}
	if ck == nil || ck.Name != "__Host-keyward_session" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("session cookie %+v: want __Host-keyward_session, Secure, HttpOnly, Path=/", ck)
	}
}

func TestSignInFromBehindATrustedProxyThrottlesTheClientNotTheProxy(t *testing.T) {
	// Every request arrives from the proxy on loopback; the client is named
	// in X-Forwarded-For.
	e := newEnvBehind(t, false, httpx.Front{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	attacker := e.client()
	for range service.SignInMaxFailures + 1 {
		attacker.do("POST", pathSignIn, url.Values{"email": {e.demo.Email}, "password": {"not the password"}},
			map[string]string{"X-Forwarded-For": "203.0.113.66"})
	}
	res := attacker.do("POST", pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}},
		map[string]string{"X-Forwarded-For": "203.0.113.66"})
	wantStatus(t, res, http.StatusTooManyRequests)
	user := e.client()
	res = user.do("POST", pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}},
		map[string]string{"X-Forwarded-For": "198.51.100.7"})
	wantStatus(t, res, http.StatusSeeOther)

	// The audit log records where the sign-in came from: the client.
	entries, err := e.svc.ListAudit(e.sys, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range entries.Data {
		if a.Action == "user.sign_in" && a.Address == "198.51.100.7" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no user.sign_in audit entry from 198.51.100.7 in %+v", entries)
	}
}

func TestSignInAsksForTheTenantWhenThePasswordFitsSeveral(t *testing.T) {
	e := newEnv(t, false)
	op := keyward.WithActor(e.sys, &keyward.Actor{Kind: keyward.ActorSystem, Address: "test"})
	other, err := e.svc.CreateTenant(op, keyward.TenantCreate{Domain: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	octx := keyward.WithActor(e.sys, service.SystemActor(other, "test"))
	p, err := e.svc.CreateProfile(octx, keyward.ProfileCreate{Name: "Staff", Features: []keyward.Feature{keyward.FeatureAudit}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateUser(octx, keyward.UserCreate{Email: e.demo.Email, ProfileID: p.ID, Password: e.demo.Password}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	res := c.get(pathSignIn)
	if strings.Contains(res.Body, `name="tenant"`) {
		t.Fatal("the sign-in form asks for a tenant before it is needed")
	}
	res = c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `name="tenant"`, `id="tenant-error"`, "more than one tenant", `value="`+e.demo.Email+`"`)
	if sessionCookie(res) != nil {
		t.Fatal("an ambiguous sign-in set a session cookie")
	}
	res = c.post(pathSignIn, url.Values{"email": {e.demo.Email}, "password": {e.demo.Password}, "tenant": {"other"}})
	wantStatus(t, res, http.StatusSeeOther)
	a, err := e.svc.SessionActor(e.sys, sessionCookie(res).Value, "192.0.2.1")
	if err != nil || a.Domain != "other" {
		t.Fatalf("signed in to %+v (%v), want the tenant asked for", a, err)
	}
	// ?tenant= shows the field from the start, filled in.
	wantBody(t, e.client().get(pathSignIn+"?tenant=other"), `name="tenant"`, `value="other"`)
}
