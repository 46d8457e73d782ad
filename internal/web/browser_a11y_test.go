package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// axeDefault is where .ci/run installs axe-core from the npm registry.
const axeDefault = ".cache/keyward-axe/node_modules/axe-core/axe.min.js"

// axeSource returns axe-core's script, from KEYWARD_AXE or where .ci/run
// installs it. Without it the accessibility test skips, unless CI or
// KEYWARD_TEST_REQUIRE_BROWSER asks for the browser tests: then it fails.
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KEYWARD_AXE")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, axeDefault)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		msg := "the accessibility test needs axe-core (npm install --prefix ~/.cache/keyward-axe axe-core, or run .ci/run; KEYWARD_AXE names axe.min.js): " + err.Error()
		if os.Getenv("CI") != "" || os.Getenv("KEYWARD_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return string(b)
}

// axeViolation is one rule a page breaks, as axe reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// checkPage runs axe-core on the page shown and fails t on any serious
// or critical violation.
func checkPage(t *testing.T, ctx context.Context, axe, name string) {
	t.Helper()
	if !get(t, ctx, "look for axe", chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		run(t, ctx, "load axe-core", chromedp.Evaluate[chromedp.Void](axe+";0"))
	}
	vs := get(t, ctx, "run axe-core on "+name, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	var bad []string
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprint(n.Target...))
			}
			bad = append(bad, fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, ", ")))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: accessibility violations:\n  %s", name, strings.Join(bad, "\n  "))
	}
}

// fitsWidth fails t when the page shown scrolls sideways: at 390 px wide
// everything must fit, tables scrolling within their own box.
func fitsWidth(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	over := get(t, ctx, "measure "+name, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if over > 0 {
		wide := get(t, ctx, "find what is too wide on "+name, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !(e.parentElement && e.parentElement.closest(".table-wrap"))).slice(0, 8).map(e => e.tagName + "." + e.className + ":" + Math.round(e.getBoundingClientRect().width))`))
		t.Errorf("%s is %d px wider than a 390 px screen: %v", name, over, wide)
	}
}

// TestBrowserEveryPageIsAccessible opens every page of the back office and
// of the merchant portal, with the demo tenant's showcase data, checks
// each with axe-core, then again at 390 px wide for sideways scrolling,
// and signs in by keyboard alone.
func TestBrowserEveryPageIsAccessible(t *testing.T) {
	ctx := browser(t)
	axe := axeSource(t)
	e := newEnv(t, false)
	base := e.srv.URL
	show, err := e.svc.SeedDemoShowcase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.svc.ListKeys(e.sys, keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	k := keys.Data[0]
	addUsage(t, e, k)
	ms, err := e.svc.ListMerchants(e.sys)
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	mus, err := e.svc.ListMerchantUsers(e.sys, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	main, err := e.svc.Store(e.sys, "main")
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := e.svc.ListProfiles(e.sys)
	if err != nil {
		t.Fatal(err)
	}

	// Sign in by keyboard alone: type, Tab, type, Enter.
	run(t, ctx, "open the sign-in page", chromedp.Navigate(base+pathSignIn), chromedp.WaitVisible(chromedp.ID("email")))
	checkPage(t, ctx, axe, "sign-in")
	run(t, ctx, "sign in by keyboard",
		chromedp.Focus(chromedp.ID("email")),
		chromedp.KeyEvent(e.demo.Email),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(e.demo.Password),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`nav.account`)),
	)

	admin := []string{
		pathKeys, pathKeys + "?sort=last_used", pathKeys + "/new", pathKeys + "/" + k.ID, pathKeys + "/" + k.ID + "/delete",
		pathStores, pathStores + "/" + main.ID, pathStores + "/" + main.ID + "/remove", pathStores + "/" + main.ID + "/deactivate", pathLicence, pathKeyPolicy,
		pathMerchants, pathMerchants + "/new", pathMerchants + "/" + m.ID, pathMerchants + "/" + m.ID + "/edit",
		pathMerchants + "/" + m.ID + "/users/new", pathMerchants + "/" + m.ID + "/users/" + mus[0].ID + "/edit", pathMerchantAPI,
		pathProfiles, pathProfiles + "/" + profiles[0].ID, pathUsers, pathUsers + "/new", pathAudit, pathAccount,
	}
	visit := func(paths []string, width bool) {
		for _, p := range paths {
			run(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("h1")))
			if width {
				fitsWidth(t, ctx, p)
			} else {
				checkPage(t, ctx, axe, p)
			}
		}
	}
	visit(admin, false)
	for _, s := range []struct{ path, name string }{
		{pathStores, "stores"}, {pathStores + "/" + main.ID + "/remove", "store-remove"}, {pathLicence, "licence"},
	} {
		run(t, ctx, "open "+s.path, chromedp.Navigate(base+s.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		shot(t, ctx, s.name)
	}
	run(t, ctx, "expand an audit entry",
		chromedp.Navigate(base+pathAudit),
		chromedp.Click(chromedp.CSS(`table.audit details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`table.audit details[open] dl`)),
	)
	checkPage(t, ctx, axe, "audit, expanded")
	shot(t, ctx, "audit")

	run(t, ctx, "narrow the window to 390 px", chromedp.EmulateViewport(390, 844))
	visit(admin, true)
	run(t, ctx, "open API Management at 390 px", chromedp.Navigate(base+pathKeys), chromedp.WaitVisible(chromedp.CSS("h1")))
	shot(t, ctx, "mobile-keys")
	run(t, ctx, "widen the window again", chromedp.EmulateViewport(1360, 900))

	// The merchant portal, as the demo's merchant user.
	run(t, ctx, "sign out", chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)), chromedp.WaitVisible(chromedp.ID("email")))
	signInAs(t, ctx, base, show.MerchantEmail, show.MerchantPassword, false)
	portal := []string{pathPortalSecurity, pathPortal, pathPortalAPI}
	visit(portal, false)
	run(t, ctx, "generate a new Auth Key",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate a new Auth Key"]`)),
		chromedp.WaitVisible(chromedp.ID("api-auth-key")),
	)
	checkPage(t, ctx, axe, "portal new key")
	run(t, ctx, "open an administrators' page", chromedp.Navigate(base+pathKeys), chromedp.WaitVisible(chromedp.CSS("h1")))
	checkPage(t, ctx, axe, "refusal page")
	run(t, ctx, "narrow the window to 390 px", chromedp.EmulateViewport(390, 844))
	visit(portal, true)
	run(t, ctx, "widen the window again", chromedp.EmulateViewport(1360, 900))
}
