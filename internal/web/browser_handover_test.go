package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// TestBrowserOneTimeLink: the demo administrator creates a key and, on
// the page showing its secrets once, makes a one-time link with a code
// for the first secret. Someone else, in a browser of their own, opens
// the link, is asked before anything is revealed, enters the code and sees
// the secret. A third person opening the same link sees only that it was
// already opened, when and from where. The administrator sees it opened,
// with a way to roll the secret.
func TestBrowserOneTimeLink(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, false)
	base := e.srv.URL

	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)
	run(t, ctx, "open API Management's form for a new key",
		chromedp.Navigate(base+pathKeys+"/new"),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	run(t, ctx, "generate a key",
		chromedp.SendKeys(chromedp.ID("name"), "ERP"),
		chromedp.Click(chromedp.CSS(`input[name="perm.orders"][value="read"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Generate keys"]`)),
		chromedp.WaitVisible(chromedp.ID("secret-1")),
	)
	secret := get(t, ctx, "read the first secret", chromedp.Value(chromedp.ID("secret-1")))
	run(t, ctx, "ask for a one-time link with a code for the first secret",
		chromedp.SetValue(chromedp.ID("handover-1-ttl"), "72h"),
		chromedp.SendKeys(chromedp.ID("handover-1-note"), "for the ERP team"),
		chromedp.Click(chromedp.ID("handover-1-code")),
		chromedp.Click(chromedp.Search(`(//button[normalize-space()="Create a one-time link"])[1]`)),
		chromedp.WaitVisible(chromedp.ID("handover-url")),
	)
	link := get(t, ctx, "read the link", chromedp.Value(chromedp.ID("handover-url")))
	code := get(t, ctx, "read the code", chromedp.Value(chromedp.ID("handover-code")))
	if !strings.HasPrefix(link, base+"/h/") || len(code) != 9 {
		t.Fatalf("link %q, code %q", link, code)
	}
	if page := get(t, ctx, "read the page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(page, secret) {
		t.Fatal("the page showing the link shows the secret")
	}
	shot(t, ctx, "handover-created")

	// A link previewer fetching the link reveals nothing and uses nothing up.
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(res.Header.Get("X-Robots-Tag"), "noindex") ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET of the link: %d, headers %v", res.StatusCode, res.Header)
	}

	integrator, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	run(t, integrator, "open the link in another browser",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Reveal the secret"]`)),
	)
	if page := get(t, integrator, "read the page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(page, secret) || !strings.Contains(page, e.demo.Email) {
		t.Fatalf("before revealing, the page reads %q", page)
	}
	run(t, integrator, "reveal with a wrong code",
		chromedp.SendKeys(chromedp.ID("code"), "AAAA-AAAA"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Reveal the secret"]`)),
		chromedp.WaitVisible(chromedp.ID("code-error")),
	)
	run(t, integrator, "reveal with the code sent separately",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("code").value = "";0`),
		chromedp.SendKeys(chromedp.ID("code"), strings.ToLower(code)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Reveal the secret"]`)),
		chromedp.WaitVisible(chromedp.ID("handover-secret")),
	)
	if got := get(t, integrator, "read the secret", chromedp.Value(chromedp.ID("handover-secret"))); got != secret {
		t.Fatalf("the link revealed %q, want the key's first secret", got)
	}
	shot(t, integrator, "handover-revealed")
	run(t, integrator, "reload the revealed page",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="This link was already opened"]`)),
	)

	other, cancelOther := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelOther()
	run(t, other, "open the link in a third browser",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="This link was already opened"]`)),
	)
	page := get(t, other, "read the page", chromedp.Text(chromedp.CSS("main")))
	if strings.Contains(page, secret) || !strings.Contains(page, "127.0.0.1") || strings.Contains(page, "Reveal the secret") {
		t.Fatalf("a second open reads %q", page)
	}
	// Even posting the form again, with the right code, reveals nothing.
	res, err = http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("code="+code))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("POST to an opened link: %d", res.StatusCode)
	}

	run(t, ctx, "open the key's page",
		chromedp.Navigate(base+pathKeys),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="`+e.demo.Domain+`-ERP"]`)),
		chromedp.WaitVisible(chromedp.ID("one-time-links")),
	)
	state := get(t, ctx, "read the link's state", chromedp.Text(chromedp.CSS(`#one-time-links td[data-state]`)))
	if !strings.Contains(state, "Opened") || !strings.Contains(state, "127.0.0.1") {
		t.Fatalf("the key page shows the link as %q", state)
	}
	shot(t, ctx, "handover-key-page")
	run(t, ctx, "follow Roll the secret",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Roll the secret"]`)),
		chromedp.WaitVisible(chromedp.ID("roll")),
	)
	hs, err := e.svc.ListHandovers(e.sys, keyward.HandoverFilter{})
	if err != nil || len(hs) != 1 || hs[0].FailedCodes != 1 || hs[0].Note != "for the ERP team" || hs[0].State != keyward.HandoverOpened {
		t.Fatalf("links: %+v, %v", hs, err)
	}
}
