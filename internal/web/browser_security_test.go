package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// A user turns two-factor sign-in on in the browser, is shown ten
// recovery codes once, and after signing out signs in with the password
// and one recovery code, told how many remain; the code then fails.
func TestBrowserRecoveryCodeSignIn(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	e.staff("ana@demo.test", keyward.FeatureAudit)
	signInAs(t, ctx, base, "ana@demo.test", staffPassword, false)

	run(t, ctx, "open the account page",
		chromedp.Navigate(base+pathAccount),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	seed := get(t, ctx, "read the setup key", chromedp.Evaluate[string](`document.querySelector('input[name="secret"]').value`))
	run(t, ctx, "turn two-factor sign-in on",
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, seed, time.Now())),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Turn on"]`)),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	)
	codes := get(t, ctx, "read the recovery codes", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#recovery-codes li')).map(li => li.textContent.trim())`))
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown: %v", len(codes), codes)
	}
	shot(t, ctx, "recovery-codes")
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Done: I have saved them"] | //a[normalize-space()="Done: I have saved them"]`)),
		chromedp.WaitVisible(chromedp.ID("recovery-left")),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)

	signInWithCode := func(code string, wait chromedp.Action[chromedp.Void]) string {
		t.Helper()
		run(t, ctx, "sign in with the password",
			chromedp.Navigate(base+pathSignIn),
			chromedp.WaitVisible(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), "ana@demo.test"),
			chromedp.SendKeys(chromedp.ID("password"), staffPassword),
			chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign in"]`)),
			chromedp.WaitVisible(chromedp.ID("code")),
			chromedp.Click(chromedp.Search(`//a[normalize-space()="Use a recovery code"]`)),
			chromedp.WaitVisible(chromedp.ID("recovery_code")),
			chromedp.SendKeys(chromedp.ID("recovery_code"), code),
			chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign in"]`)),
			wait,
		)
		return get(t, ctx, "read the page", chromedp.Text(chromedp.CSS("body")))
	}
	text := signInWithCode(codes[3], chromedp.WaitVisible(chromedp.CSS(`nav.account`)))
	if !strings.Contains(text, "9 recovery codes remain") {
		t.Fatalf("after a recovery code:\n%s", text)
	}
	run(t, ctx, "open the account page and sign out",
		chromedp.Navigate(base+pathAccount),
		chromedp.WaitVisible(chromedp.ID("recovery-left")),
	)
	if left := get(t, ctx, "read the codes left", chromedp.Text(chromedp.ID("recovery-left"))); !strings.HasPrefix(left, "9 of 10") {
		t.Fatalf("account page says %q", left)
	}
	run(t, ctx, "sign out",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Sign out"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	text = signInWithCode(codes[3], chromedp.WaitVisible(chromedp.ID("recovery_code-error")))
	if !strings.Contains(text, "wrong or has already been used") {
		t.Fatalf("a used recovery code:\n%s", text)
	}
}

// Creating a key in the browser after the last password check has grown
// old asks for the password first, then comes back to the form, and the
// keys are generated without asking again.
func TestBrowserStepUpBeforeCreatingAKey(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL
	u := e.staff("ana@demo.test", keyward.FeatureAPIManagement)
	signInAs(t, ctx, base, "ana@demo.test", staffPassword, false)
	// The password was checked an hour ago.
	if _, err := e.db.SQL().Exec(`UPDATE sessions SET checked_at = ? WHERE user_id = ?`, time.Now().Add(-time.Hour).UTC(), u.ID); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "open the new key form",
		chromedp.Navigate(base+pathKeys+"/new"),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
	if path := get(t, ctx, "read the address", chromedp.Evaluate[string](`location.pathname`)); path != pathStepUp {
		t.Fatalf("the key form opened at %s without a password check", path)
	}
	shot(t, ctx, "step-up")
	run(t, ctx, "give a wrong password",
		chromedp.SendKeys(chromedp.ID("password"), "not my password"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Confirm"]`)),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	)
	run(t, ctx, "confirm the password",
		chromedp.SendKeys(chromedp.ID("password"), staffPassword),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Confirm"]`)),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	if path := get(t, ctx, "read the address", chromedp.Evaluate[string](`location.pathname`)); path != pathKeys+"/new" {
		t.Fatalf("after confirming, the browser is at %s", path)
	}
	run(t, ctx, "generate the keys",
		chromedp.SendKeys(chromedp.ID("name"), "THQ"),
		chromedp.Click(chromedp.CSS(`input[name="perm.orders"][value="read"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate keys"]`)),
		chromedp.WaitVisible(chromedp.ID("secret-1")),
	)
	if s := get(t, ctx, "read secret 1", chromedp.Value(chromedp.ID("secret-1"))); !strings.HasPrefix(s, "kwk_") {
		t.Fatalf("secret %q", s)
	}
}
