package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

const changedPassword = "a freshly chosen passphrase"

// authenticates reports whether a personal access token is accepted.
func (e *env) authenticates(token string) bool {
	_, err := e.svc.Authenticate(context.Background(), token, "192.0.2.1")
	return err == nil
}

// A user changes their password, creates a token and sees its last use,
// and revokes it after confirming; an administrator resets another
// user's password, and that user's next sign-in leads to changing it
// before anything else.
func TestBrowserAccountSelfServiceAndForcedChange(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	e.staff("ana@demo.test", keyward.FeatureAudit)
	signInAs(t, ctx, base, "ana@demo.test", staffPassword, false)

	run(t, ctx, "open the account page from the name at the top",
		chromedp.Click(chromedp.CSS(`nav.account a`)),
		chromedp.WaitVisible(chromedp.ID("current_password")),
	)
	run(t, ctx, "change the password",
		chromedp.SendKeys(chromedp.ID("current_password"), staffPassword),
		chromedp.SendKeys(chromedp.ID("new_password"), changedPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), changedPassword),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Change password"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@role="status"][contains(., "Your password is changed")]`)),
	)
	if _, _, err := e.svc.SignIn(context.Background(), "ana@demo.test", staffPassword, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("the old password still signs in: %v", err)
	}

	run(t, ctx, "create a token on the account page",
		chromedp.Navigate(base+pathAccount),
		chromedp.WaitVisible(chromedp.ID("token-name")),
		chromedp.SendKeys(chromedp.ID("token-name"), "laptop"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Create token"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	shot(t, ctx, "account-token-created")
	token := get(t, ctx, "read the token", chromedp.Value(chromedp.ID("token")))
	if !strings.HasPrefix(token, "kwp_") || !e.authenticates(token) {
		t.Fatalf("the token shown does not work: %q", token)
	}
	run(t, ctx, "go back to the account page",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Done: back to your account"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[aria-label="Revoke laptop"]`)),
	)
	// The token was used above, so its row shows when; never the token.
	lastUse := get(t, ctx, "read the token's last use", chromedp.Text(chromedp.Search(`//tr[td/strong[normalize-space()="laptop"]]/td[5]`)))
	row := get(t, ctx, "read the token's row", chromedp.Text(chromedp.Search(`//tr[td/strong[normalize-space()="laptop"]]`)))
	if strings.Contains(row, token) || !strings.HasSuffix(lastUse, "UTC") {
		t.Fatalf("the token's row shows the token, or no last use (%q): %q", lastUse, row)
	}
	shot(t, ctx, "account")
	run(t, ctx, "revoke the token after confirming",
		chromedp.Click(chromedp.CSS(`a[aria-label="Revoke laptop"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Revoke token"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Revoke token"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@role="status"][contains(., "The token is revoked")]`)),
	)
	if e.authenticates(token) {
		t.Fatal("the revoked token still works")
	}
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)

	// The administrator resets Ana's password from Staff > Users.
	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)
	run(t, ctx, "reset Ana's password from her row",
		chromedp.Navigate(base+pathUsers),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Reset the password of ana@demo.test"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Reset the password of ana@demo.test"]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
	shot(t, ctx, "user-password-reset")
	temp := get(t, ctx, "read the temporary password", chromedp.Value(chromedp.ID("password")))
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)

	// Ana signs in with it and is led to change it before anything else.
	signInAs(t, ctx, base, "ana@demo.test", temp, false)
	run(t, ctx, "land on the forced change",
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Change your password"]`)),
	)
	run(t, ctx, "try the audit log by its address",
		chromedp.Navigate(base+pathAudit),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Change your password"]`)),
	)
	shot(t, ctx, "password-forced-change")
	run(t, ctx, "choose a new password",
		chromedp.SendKeys(chromedp.ID("current_password"), temp),
		chromedp.SendKeys(chromedp.ID("new_password"), "yet another passphrase"),
		chromedp.SendKeys(chromedp.ID("confirm_password"), "yet another passphrase"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Change password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.audit`)),
	)
}

// A sign-in link from the operator opens a page to set a password; it
// signs the administrator in, and works once.
func TestSignInLinkSetsAPasswordOnce(t *testing.T) {
	e := newEnv(t, false)
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem, Address: "test"})
	if _, err := e.svc.CreateTenant(op, keyward.TenantCreate{Domain: "acme"}); err != nil {
		t.Fatal(err)
	}
	ta, err := e.svc.CreateTenantAdmin(op, "acme", service.TenantAdminCreate{Email: "owner@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	link := pathSignInLink + "?token=" + ta.Link
	res := c.get(link)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "owner@acme.test", "Set password and sign in")
	res = c.post(pathSignInLink, url.Values{"token": {ta.Link}, "password": {changedPassword}, "confirm_password": {"something else entirely"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "The two passwords differ")
	res = c.post(pathSignInLink, url.Values{"token": {ta.Link}, "password": {changedPassword}, "confirm_password": {changedPassword}})
	if res.StatusCode != http.StatusSeeOther || sessionCookie(res) == nil {
		t.Fatalf("setting the password: %d, no session\n%s", res.StatusCode, res.Body)
	}
	res = c.get(pathUsers)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "owner@acme.test")
	wantStatus(t, e.client().get(link), http.StatusNotFound)
	e.client().signIn("owner@acme.test", changedPassword)
}

// An administrator's reset shows the temporary password once and the
// user's next sign-in leads to the change; the pages refuse everything
// else until then.
func TestResetPasswordLeadsToTheChangeForm(t *testing.T) {
	e := newEnv(t, false)
	e.staff("ana@demo.test", keyward.FeatureAudit)
	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	u, err := e.svc.User(e.sys, "ana@demo.test")
	if err != nil {
		t.Fatal(err)
	}
	res := admin.post(pathUsers+"/"+u.ID+"/password", nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Copy this temporary password now")
	res = admin.get(pathUsers)
	wantBody(t, res, "Must change password")

	me, err := e.svc.User(e.sys, e.demo.Email)
	if err != nil {
		t.Fatal(err)
	}
	res = admin.post(pathUsers+"/"+me.ID+"/password", nil)
	wantStatus(t, res, http.StatusBadRequest)
}
