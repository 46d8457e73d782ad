package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// A merchant user turns TOTP on in the portal; sign-in then asks for the
// code on the page staff use and, once given, opens the portal.
func TestPortalTOTPOnAndSignIn(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	c := e.client()
	c.signIn(u.Email, pw)
	res := c.get(pathPortal)
	wantBody(t, res, `href="`+pathPortalSecurity+`"`)
	res = c.get(pathPortalSecurity)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "otpauth://totp/")
	seed := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(res.Body)
	if seed == nil {
		t.Fatal("no setup key on the page")
	}
	res = c.post(pathPortalSecurity+"/totp", url.Values{"secret": {seed[1]}, "uri": {"otpauth://totp/x"}, "code": {"12"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="code-error"`, seed[1])
	res = c.post(pathPortalSecurity+"/totp", url.Values{"secret": {seed[1]}, "code": {totpCode(t, seed[1], time.Now())}})
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, c.get(pathPortalSecurity), "Turn off")

	// Staff pages stay closed to the pending sign-in, and the portal too.
	b := e.client()
	res = b.post(pathSignIn, url.Values{"email": {u.Email}, "password": {pw}})
	wantStatus(t, res, http.StatusSeeOther)
	if sessionCookie(res) != nil || !strings.HasPrefix(res.Header.Get("Location"), pathCode) {
		t.Fatalf("a password alone opened a portal session: %v", res.Header)
	}
	wantStatus(t, b.get(pathPortal), http.StatusSeeOther)
	// Merchant users have no recovery codes: the code page says whom to ask.
	res = b.get(pathCode)
	wantBody(t, res, "reset your portal password")
	if strings.Contains(res.Body, "Use a recovery code") {
		t.Error("the code page offers a merchant user recovery codes they do not have")
	}
	res = b.post(pathCode, url.Values{"code": {"000000"}, "next": {pathPortal}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="code-error"`)
	res = b.post(pathCode, url.Values{"code": {totpCode(t, seed[1], time.Now().Add(30*time.Second))}, "next": {pathPortal}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != pathPortal {
		t.Fatalf("after the code the merchant user goes to %q", got)
	}
	wantStatus(t, b.get(pathPortal), http.StatusOK)
	wantStatus(t, b.get(pathKeys), http.StatusForbidden)
}
