package web

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// chromiumPath is Debian's chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir receives the pages' screenshots when KEYWARD_SCREENSHOTS=1.
const screenshotDir = "../../docs/screenshots"

// browser starts a headless chromium for t, or skips t when there is none,
// unless CI or KEYWARD_TEST_REQUIRE_BROWSER asks for the browser tests to
// run: then a missing browser fails t.
func browser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser; go test without -short runs it")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := "browser tests need Debian's chromium at " + chromiumPath + " (apt-get install -y chromium, or run .ci/browser)"
		if os.Getenv("CI") != "" || os.Getenv("KEYWARD_TEST_REQUIRE_BROWSER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser steps, failing t with what was being done.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shot saves a full-page screenshot of the current page as name.png when
// KEYWARD_SCREENSHOTS=1.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("KEYWARD_SCREENSHOTS") != "1" {
		return
	}
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInAs fills in the sign-in form and waits for the menu.
func signInAs(t *testing.T, ctx context.Context, base, email, password string, screenshot bool) {
	t.Helper()
	run(t, ctx, "open the sign-in page",
		chromedp.Navigate(base+pathSignIn),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	run(t, ctx, "type the e-mail address and password",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	if screenshot {
		shot(t, ctx, "sign-in")
	}
	run(t, ctx, "sign in",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign in"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.account`)),
	)
}

func TestBrowserBackOffice(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	// A few keys so the list and the usage chart have something to show.
	thq := e.key(keyward.KeyCreate{Name: "THQ", Description: "TranslatorHQ", Permissions: keyward.Permissions{"orders": "write", "customers": "write"}})
	e.key(keyward.KeyCreate{Name: "RetentionEngine", Description: "Subscription retention flows", Permissions: keyward.Permissions{
		"orders": "write", "discounts": "write", "subscriptions": "write", "customers": "write", "payments": "read", "store_information": "read"}})
	addUsage(t, e, thq)
	// Merchants for Organization > Merchants and Integrations > API.
	mainStore, err := e.svc.Store(e.sys, "main")
	if err != nil {
		t.Fatal(err)
	}
	acme := e.merchant("Acme Couriers", online.ID, mainStore.ID)
	e.merchantUser(acme.ID, keyward.MerchantUserCreate{Email: "dispatch@acme.test", Name: "Dee Dispatch", Level: 1})
	beta := e.merchant("Beta Freight", mainStore.ID)
	e.merchantUser(beta.ID, keyward.MerchantUserCreate{Email: "ops@beta.test", Name: "Bo Ops", Level: 2, APIAccess: true})
	e.merchantUser(beta.ID, keyward.MerchantUserCreate{Email: "driver@beta.test", Level: 1})
	e.merchant("Corner Bakery Deliveries", online.ID)

	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, true)

	// Settings > Integrations > API Management: add a key for one store
	// and one block of methods.
	run(t, ctx, "open API Management and press Add",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="API Management"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.list`)),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Add"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	run(t, ctx, "fill in the key form",
		chromedp.SendKeys(chromedp.ID("name"), "CPA"),
		chromedp.SendKeys(chromedp.ID("description"), "CPA network: order statuses of the online store"),
		chromedp.Click(chromedp.CSS(`input[name="perm.orders"][value="read"]`)),
		chromedp.Click(chromedp.CSS(`input[name="store"][value="`+online.ID+`"]`)),
		// The script turns each block's title into a button ticking the block.
		chromedp.Click(chromedp.Search(`//button[contains(@class,"block-toggle")][normalize-space()="Orders"]`)),
	)
	selected := get(t, ctx, "read the methods choice", chromedp.Evaluate[bool](`document.getElementById("methods-selected").checked`))
	storesSelected := get(t, ctx, "read the stores choice", chromedp.Evaluate[bool](`document.getElementById("stores-selected").checked`))
	// Under Read on orders, the block ticks the read methods of Orders;
	// its write methods are shown unavailable and cannot be ticked.
	ticked := get(t, ctx, "list the ticked methods", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('fieldset[data-block] input[data-method]:checked')).map(m => m.value)`))
	unavailable := get(t, ctx, "list the unavailable Orders methods", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('li.unavailable input[data-resource="orders"]')).filter(m => m.disabled).map(m => m.value)`))
	if !selected || !storesSelected || len(ticked) == 0 || !slices.Contains(ticked, "orders.statuses.list") || !slices.Contains(unavailable, "orders.create") || slices.Contains(ticked, "orders.create") {
		t.Fatalf("after ticking: methods selected %v, stores selected %v, ticked %v, unavailable %v", selected, storesSelected, ticked, unavailable)
	}
	for _, id := range ticked {
		if m, _ := e.svc.Catalog().Method(id); m == nil || m.Resource != "orders" || m.Access != keyward.LevelRead {
			t.Fatalf("the Orders block under Read ticked %s", id)
		}
	}
	shot(t, ctx, "key-form")

	run(t, ctx, "generate the keys",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate keys"]`)),
		chromedp.WaitVisible(chromedp.ID("secret-1")),
	)
	secret1 := get(t, ctx, "read secret 1", chromedp.Value(chromedp.ID("secret-1")))
	secret2 := get(t, ctx, "read secret 2", chromedp.Value(chromedp.ID("secret-2")))
	if !strings.HasPrefix(secret1, "kwk_") || !strings.HasPrefix(secret2, "kwk_") || secret1 == secret2 {
		t.Fatalf("secrets on the page: %q, %q", secret1, secret2)
	}
	copyShown := get(t, ctx, "look for the copy button", chromedp.Evaluate[bool](`!document.querySelector('[data-copy="secret-1"]').hidden`))
	if !copyShown {
		t.Fatal("the copy button stays hidden with script on")
	}
	shot(t, ctx, "key-secrets")

	for _, tc := range []struct{ secret, method, store, want string }{
		{secret1, "orders.statuses.list", "online", keyward.CodeValid},
		{secret2, "orders.list", "online", keyward.CodeValid},
		{secret1, "orders.statuses.list", "main", keyward.CodeStoreNotAllowed},
		{secret1, "customers.list", "online", keyward.CodeMethodNotAllowed},
	} {
		if got := e.verify(tc.secret, tc.method, tc.store); got != tc.want {
			t.Fatalf("verify %s on %s: %s, want %s", tc.method, tc.store, got, tc.want)
		}
	}

	run(t, ctx, "disable demo-CPA from its row",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Back to API keys"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Disable demo-CPA"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Disable demo-CPA"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Enable demo-CPA"]`)),
	)
	if got := e.verify(secret1, "orders.statuses.list", "online"); got != keyward.CodeDisabled {
		t.Fatalf("after disabling on the page, verify says %s, want DISABLED", got)
	}
	shot(t, ctx, "keys")

	run(t, ctx, "open demo-THQ and its usage chart",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="demo-THQ"]`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.chart rect.bar`)),
	)
	shot(t, ctx, "key-detail")

	run(t, ctx, "open Staff > Profile Security",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Profile Security"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Edit Features"]`)),
	)
	shot(t, ctx, "profile-security")
	run(t, ctx, "open Edit Features of Administrator",
		chromedp.Click(chromedp.CSS(`a[aria-label="Edit Features of Administrator"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Save Changes"]`)),
	)
	shot(t, ctx, "profile-edit-features")

	run(t, ctx, "open Staff > Users",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Users"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Add user"]`)),
	)
	shot(t, ctx, "users")

	run(t, ctx, "open the audit log",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Audit log"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.audit`)),
	)
	shot(t, ctx, "audit")

	browseMerchants(t, ctx, e)

	// A user whose profile lacks API Management sees no such menu entry,
	// and the page's address answers with a page naming the feature.
	sales, err := e.svc.Profile(e.sys, "Sales Staff")
	if err != nil {
		t.Fatal(err)
	}
	feats := []keyward.Feature{keyward.FeatureAudit}
	if _, err := e.svc.UpdateProfile(e.sys, sales.ID, keyward.ProfileUpdate{Features: &feats}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateUser(e.sys, keyward.UserCreate{Email: "sam@demo.test", Name: "Sam", ProfileID: sales.ID, Password: staffPassword}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	signInAs(t, ctx, base, "sam@demo.test", staffPassword, false)
	entry := get(t, ctx, "look for API Management in the menu",
		chromedp.Evaluate[bool](`!!document.querySelector('nav.menu a[href="`+pathKeys+`"]')`))
	if entry {
		t.Fatal("the menu offers API Management to a profile without it")
	}
	run(t, ctx, "open API Management by its address",
		chromedp.Navigate(base+pathKeys),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	)
	heading := get(t, ctx, "read the heading", chromedp.Text(chromedp.CSS("h1")))
	text := get(t, ctx, "read the page", chromedp.Text(chromedp.CSS("main")))
	if heading != "You need the API Management feature" || !strings.Contains(text, "Staff > Profile Security") {
		t.Fatalf("refusal page: %q\n%s", heading, text)
	}
	shot(t, ctx, "feature-required")
}

// browseMerchants adds a Merchant Level 2 user with API access under
// Organization > Merchants, reads the credentials shown once, and finds
// the API Account ID under Integrations > API.
func browseMerchants(t *testing.T, ctx context.Context, e *env) {
	t.Helper()
	run(t, ctx, "open Organization > Merchants",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Merchants"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Add merchant"]`)),
	)
	shot(t, ctx, "merchants")

	run(t, ctx, "open Acme Couriers and press Add user",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Acme Couriers"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Add user"]`)),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Add user"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	toggleHidden := `document.querySelector("[data-level2-only]").hidden`
	if !get(t, ctx, "look for the API Access toggle at Level 1", chromedp.Evaluate[bool](toggleHidden)) {
		t.Fatal("the API Access toggle shows for Merchant Level 1")
	}
	run(t, ctx, "fill in a Merchant Level 2 user with API access",
		chromedp.SendKeys(chromedp.ID("email"), "ops@acme.test"),
		chromedp.SendKeys(chromedp.ID("name"), "Olu Ops"),
		chromedp.Click(chromedp.ID("level-2")),
		chromedp.WaitVisible(chromedp.ID("api_access")),
		chromedp.Click(chromedp.ID("api_access")),
	)
	if !get(t, ctx, "read the API Access toggle", chromedp.Evaluate[bool](`document.getElementById("api_access").checked`)) {
		t.Fatal("the API Access toggle did not switch on")
	}
	shot(t, ctx, "merchant-user-form")

	run(t, ctx, "add the user",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Add user"]`)),
		chromedp.WaitVisible(chromedp.ID("api-auth-key")),
	)
	account := get(t, ctx, "read the API Account ID", chromedp.Value(chromedp.ID("api-account-id")))
	authKey := get(t, ctx, "read the API Auth Key", chromedp.Value(chromedp.ID("api-auth-key")))
	if !strings.HasPrefix(account, "acc_") || !strings.HasPrefix(authKey, "kwm_") || !e.merchantAuth(account, authKey) {
		t.Fatalf("credentials on the page: %q, %q", account, authKey)
	}
	if !get(t, ctx, "look for the copy buttons", chromedp.Evaluate[bool](`!document.querySelector('[data-copy="api-account-id"]').hidden && !document.querySelector('[data-copy="api-auth-key"]').hidden`)) {
		t.Fatal("the copy buttons stay hidden with script on")
	}
	shot(t, ctx, "merchant-credentials")

	run(t, ctx, "go back to Acme Couriers",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Done: back to Acme Couriers"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Regenerate auth key"]`)),
	)
	text := get(t, ctx, "read the merchant page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, account) || strings.Contains(text, authKey) {
		t.Fatalf("the merchant page should show the Account ID and never the key:\n%s", text)
	}
	shot(t, ctx, "merchant")
	deactivateShowsWhole(t, ctx, "the merchant's page")

	run(t, ctx, "open Integrations > API",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="API"]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[normalize-space()="`+account+`"]`)),
	)
	shot(t, ctx, "integrations-api")
	deactivateShowsWhole(t, ctx, "Integrations > API")
}

// deactivateShowsWhole fails t when, at 1280 px, a common laptop width,
// a Deactivate API access button of the page shown is clipped: it must
// lie inside its table, which does not scroll sideways, and inside the
// window, its label whole.
func deactivateShowsWhole(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	run(t, ctx, "narrow the window to 1280 px", chromedp.EmulateViewport(1280, 800))
	clipped := get(t, ctx, "measure the Deactivate buttons", chromedp.Evaluate[string](`(() => {
		const out = [], buttons = document.querySelectorAll('form[action$="/deactivate"] button');
		for (const b of buttons) {
			const r = b.getBoundingClientRect(), wrap = b.closest('.table-wrap'), c = wrap.getBoundingClientRect();
			if (r.left < c.left || r.right > c.right || r.right > document.documentElement.clientWidth ||
				wrap.scrollWidth > wrap.clientWidth || b.scrollWidth > b.clientWidth) {
				out.push(b.textContent.trim() + ": button " + r.left + "-" + r.right + ", table " + c.left + "-" + c.right + ", table content " + wrap.scrollWidth + " px in " + wrap.clientWidth);
			}
		}
		return buttons.length ? out.join("; ") : "no Deactivate button";
	})()`))
	run(t, ctx, "widen the window again", chromedp.EmulateViewport(1360, 900))
	if clipped != "" {
		t.Fatalf("at 1280 px %s clips: %s", page, clipped)
	}
}

// addUsage gives a key a week of plausible traffic.
func addUsage(t *testing.T, e *env, k *keyward.Key) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	err := e.db.Write(ctx, func(q *store.Q) error {
		for h := 0; h < 7*24; h++ {
			at := now.Add(-time.Duration(h) * time.Hour)
			hour := at.Hour()
			n := int64(20 + 15*((hour+3)%12))
			if hour < 6 {
				n = int64(3 + hour)
			}
			if at.Weekday() == time.Saturday || at.Weekday() == time.Sunday {
				n /= 3
			}
			if err := q.AddUsage(ctx, k.ID, at.Truncate(time.Minute), n); err != nil {
				return err
			}
		}
		return q.TouchKeySecret(ctx, k.Secrets[0].Digest, now.Add(-4*time.Minute), "203.0.113.7")
	})
	if err != nil {
		t.Fatal(err)
	}
}
