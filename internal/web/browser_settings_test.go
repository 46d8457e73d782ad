package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// TestBrowserStoresLicenceAndLists drives Settings > Stores (add, rename,
// what removal would touch), Settings > Licence with a revoked licence
// (keys Suspended), the key list's orders and the audit log's filters.
func TestBrowserStoresLicenceAndLists(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	if _, err := e.svc.SeedDemoShowcase(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.key(keyward.KeyCreate{Name: "Zeta", Permissions: keyward.Permissions{"orders": "read"}})
	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)

	run(t, ctx, "open Settings > Stores",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Stores"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	run(t, ctx, "add a store",
		chromedp.SendKeys(chromedp.ID("code"), "popup"),
		chromedp.SendKeys(chromedp.ID("name"), "Pop-up Shop"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Add store"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Pop-up Shop"]`)),
	)
	run(t, ctx, "rename it",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Pop-up Shop"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.Clear(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "Summer Pop-up"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Save name"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Summer Pop-up"]`)),
	)
	if st, err := e.svc.Store(e.sys, "popup"); err != nil || st.Name != "Summer Pop-up" {
		t.Fatalf("after renaming on the page: %+v, %v", st, err)
	}
	run(t, ctx, "ask to remove Main Street Shop, which is in use",
		chromedp.Navigate(base+pathStores),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Main Street Shop"]`)),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Remove store"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="Keys limited to this store"]`)),
	)
	text := get(t, ctx, "read the removal page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "demo-Reporting") || !strings.Contains(text, "its only store") || !strings.Contains(text, "Northwind Deliveries") {
		t.Fatalf("the removal page does not say what works in the store:\n%s", text)
	}
	if get(t, ctx, "look for a remove button", chromedp.Evaluate[bool](`!!document.querySelector('form[action$="/remove"] button')`)) {
		t.Fatal("a store in use can be removed")
	}

	// Keys: by name first, newest first a click away.
	run(t, ctx, "open API Management",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="API Management"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.sorts`)),
	)
	names := func() []string {
		return get(t, ctx, "read the key names", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a.key-name")).map(a => a.textContent.trim())`))
	}
	if got := strings.Join(names(), ","); got != "demo-Reporting,demo-Storefront,demo-Zeta" {
		t.Fatalf("by name: %s", got)
	}
	run(t, ctx, "order newest first",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Order of the keys"]//a[normalize-space()="Newest first"]`)),
		chromedp.WaitVisible(chromedp.Search(`//nav[@aria-label="Order of the keys"]//strong[normalize-space()="Newest first"]`)),
	)
	if got := strings.Join(names(), ","); got != "demo-Zeta,demo-Reporting,demo-Storefront" {
		t.Fatalf("newest first: %s", got)
	}

	// The audit log, filtered by object name.
	run(t, ctx, "filter the audit log by a key's name",
		chromedp.Navigate(base+pathAudit),
		chromedp.SendKeys(chromedp.ID("f-object"), "storefront"),
		chromedp.Click(chromedp.Search(`//form[@aria-label="Filter the audit log"]//button[normalize-space()="Filter"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Clear"]`)),
	)
	summaries := get(t, ctx, "read the summaries", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.audit summary")).map(s => s.textContent.trim())`))
	if len(summaries) != 1 || summaries[0] != "created API key demo-Storefront" {
		t.Fatalf("audit filtered by storefront: %q", summaries)
	}

	// Licence: active, then revoked, and keys show Suspended.
	run(t, ctx, "open Settings > Licence",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Licence"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="What the licence grants"]`)),
	)
	if text := get(t, ctx, "read the licence", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "3 of 100 allowed") {
		t.Fatalf("licence page:\n%s", text)
	}
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := e.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "read the licence again", chromedp.Reload(), chromedp.WaitVisible(chromedp.Search(`//strong[contains(., "every API key is suspended")]`)))
	run(t, ctx, "open API Management", chromedp.Navigate(base+pathKeys), chromedp.WaitVisible(chromedp.CSS(`table.list`)))
	badges := get(t, ctx, "read the status badges", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.list .badge")).map(b => b.textContent.trim())`))
	if len(badges) != 3 || strings.Join(badges, ",") != "Suspended,Suspended,Suspended" {
		t.Fatalf("key badges without a licence: %q", badges)
	}
}
