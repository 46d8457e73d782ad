package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// TestBrowserStoreDeactivation deactivates a store from Settings > Stores:
// the confirmation names the keys limited to it and the merchants working
// in it, then /v1/verify refuses the store until it is reactivated.
func TestBrowserStoreDeactivation(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	k := e.key(keyward.KeyCreate{Name: "MAINONLY", Permissions: keyward.Permissions{"orders": "read"}, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"main"}}})
	st, err := e.svc.Store(e.sys, "main")
	if err != nil {
		t.Fatal(err)
	}
	e.merchant("Acme Couriers", st.ID)
	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)

	run(t, ctx, "ask to deactivate Main Street Shop",
		chromedp.Navigate(base+pathStores),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Main Street Shop"]`)),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Deactivate store"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="What deactivating does"]`)),
	)
	text := get(t, ctx, "read the confirmation", chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"demo-MAINONLY", "its only store", "Acme Couriers", "STORE_NOT_ALLOWED"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the confirmation does not say %q:\n%s", want, text)
		}
	}
	run(t, ctx, "deactivate it",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Deactivate store"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Reactivate store"]`)),
	)
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeStoreNotAllowed {
		t.Fatalf("after deactivating in the browser: %s, want STORE_NOT_ALLOWED", got)
	}
	run(t, ctx, "reactivate it",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Reactivate store"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Deactivate store"]`)),
	)
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeValid {
		t.Fatalf("after reactivating in the browser: %s, want VALID", got)
	}
}

// TestBrowserNewAuthKeyWithGrace has a merchant user generate a new Auth
// Key in API Settings with a day's grace: the page says until when the old
// key works, and both keys work through the gateway meanwhile.
func TestBrowserNewAuthKeyWithGrace(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	gw := e.gateway()
	m := e.merchant("Acme Couriers")
	ops, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	signInAs(t, ctx, base, ops.Email, pw, false)

	run(t, ctx, "generate a new Auth Key, the old one stopping after 24 hours",
		chromedp.Navigate(base+pathPortalAPI),
		chromedp.WaitVisible(chromedp.ID("grace")),
		chromedp.SetValue(chromedp.ID("grace"), "24h"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate a new Auth Key"]`)),
		chromedp.WaitVisible(chromedp.ID("api-auth-key")),
	)
	alert := get(t, ctx, "read the alert", chromedp.Text(chromedp.CSS(`[role="alert"]`)))
	if !strings.Contains(alert, "Your old key keeps working until") {
		t.Fatalf("the page does not say until when the old key works: %q", alert)
	}
	key := get(t, ctx, "read the new Auth Key", chromedp.Value(chromedp.ID("api-auth-key")))
	for name, k := range map[string]string{"old": ops.AuthKey, "new": key} {
		if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", ops.AccountID, k); got != 200 {
			t.Fatalf("the %s key during the grace: status %d, want 200", name, got)
		}
	}
}

// TestBrowserPortalTOTP has a merchant user turn two-factor sign-in on
// from the portal's menu, then sign in again through the code page staff
// use.
func TestBrowserPortalTOTP(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	m := e.merchant("Acme Couriers")
	ops, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	signInAs(t, ctx, base, ops.Email, pw, false)

	run(t, ctx, "open Sign-in security from the menu",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Sign-in security"]`)),
		chromedp.WaitVisible(chromedp.ID("totp-secret")),
	)
	seed := get(t, ctx, "read the setup key", chromedp.Value(chromedp.ID("totp-secret")))
	run(t, ctx, "turn two-factor sign-in on",
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, seed, time.Now())),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Turn on"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Turn off"]`)),
	)
	run(t, ctx, "sign out, then in again with the password",
		chromedp.Click(chromedp.Search(`//form[@action="/signout"]//button`)),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), ops.Email),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign in"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	run(t, ctx, "give the code",
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, seed, time.Now().Add(30*time.Second))),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Continue"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Acme Couriers"]`)),
	)
}
