package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// TestBrowserMerchantPortal signs a Merchant Level 2 user in to the
// portal, reads the API Account ID, generates a new Auth Key and uses it
// through the gateway, and finds every administrators' page closed; a
// Level 1 user sees the portal without API Settings.
func TestBrowserMerchantPortal(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	gw := e.gateway()
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	m := e.merchant("Acme Couriers", online.ID)
	ops, opsPassword := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Name: "Olu Ops", Level: 2, APIAccess: true})
	driver, driverPassword := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "driver@acme.test", Level: 1})

	signInAs(t, ctx, base, ops.Email, opsPassword, false)
	run(t, ctx, "wait for the portal",
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Acme Couriers"]`)),
	)
	shot(t, ctx, "portal")
	run(t, ctx, "open API Settings from the menu",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="API Settings"]`)),
		chromedp.WaitVisible(chromedp.ID("api-account-id")),
	)
	account := get(t, ctx, "read the API Account ID", chromedp.Value(chromedp.ID("api-account-id")))
	if account != ops.AccountID {
		t.Fatalf("API Settings shows Account ID %q, want %q", account, ops.AccountID)
	}
	shot(t, ctx, "portal-api-settings")

	run(t, ctx, "generate a new Auth Key",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate a new Auth Key"]`)),
		chromedp.WaitVisible(chromedp.ID("api-auth-key")),
	)
	key := get(t, ctx, "read the new Auth Key", chromedp.Value(chromedp.ID("api-auth-key")))
	if !strings.HasPrefix(key, "kwm_") || key == ops.AuthKey {
		t.Fatalf("new Auth Key on the page: %q", key)
	}
	shot(t, ctx, "portal-new-key")

	// The new key works through the gateway for the merchant's own jobs;
	// the old one is refused at once, as is anything but jobs and actions.
	if got := callAsMerchant(t, gw, "POST", "/api/v5/jobs", `{"title": "Deliver order ord_8"}`, account, key); got != http.StatusCreated && got != http.StatusOK {
		t.Fatalf("create a job with the new key: status %d", got)
	}
	if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", account, key); got != http.StatusOK {
		t.Fatalf("list jobs with the new key: status %d", got)
	}
	if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", account, ops.AuthKey); got != http.StatusUnauthorized {
		t.Fatalf("the old key: status %d, want 401", got)
	}
	if got := callAsMerchant(t, gw, "GET", "/api/v5/orders?store=online", "", account, key); got != http.StatusForbidden {
		t.Fatalf("orders with a merchant key: status %d, want 403", got)
	}

	// Every administrators' page is closed to the merchant user.
	for _, rt := range adminPaths(New(e.svc)) {
		if rt.method != "GET" {
			continue
		}
		run(t, ctx, "open "+rt.path,
			chromedp.Navigate(base+rt.path),
			chromedp.WaitVisible(chromedp.CSS("h1")),
		)
		if h := get(t, ctx, "read the heading", chromedp.Text(chromedp.CSS("h1"))); h != "Not allowed" {
			t.Fatalf("%s as a merchant user: heading %q, want Not allowed", rt.path, h)
		}
	}
	shot(t, ctx, "portal-admin-refused")

	run(t, ctx, "sign out",
		chromedp.Navigate(base+pathPortal),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	signInAs(t, ctx, base, driver.Email, driverPassword, false)
	run(t, ctx, "wait for the Level 1 portal",
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Acme Couriers"]`)),
	)
	if get(t, ctx, "look for API Settings", chromedp.Evaluate[bool](`!!document.querySelector('a[href="`+pathPortalAPI+`"]')`)) {
		t.Fatal("a Level 1 user is offered API Settings")
	}
}
