package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestAuditShowsNamesSummariesAndFilters(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
	desc := "TranslatorHQ"
	if _, err := e.svc.UpdateKey(e.sys, k.ID, keyward.KeyUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	e.merchant("Acme Couriers")
	e.staff("sam@demo.test", keyward.FeatureAudit)
	sam := e.client()
	sam.signIn("sam@demo.test", staffPassword)

	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathAudit)
	wantStatus(t, res, http.StatusOK)
	// Objects by name, one line each, the whole change behind an expand.
	wantBody(t, res, "created API key demo-THQ", "changed API key demo-THQ: description", "created merchant Acme Couriers",
		"<details>", "<pre class=\"value\">TranslatorHQ</pre>")
	if strings.Contains(res.Body, `<summary><span class="summary-text">`+k.ID) {
		t.Fatal("a summary names the key by its id")
	}

	// By object: its name or its id.
	for _, obj := range []string{"thq", k.ID} {
		res = c.get(pathAudit + "?object=" + url.QueryEscape(obj))
		wantBody(t, res, "demo-THQ")
		if strings.Contains(res.Body, "Acme Couriers") {
			t.Fatalf("object=%s lets other objects through", obj)
		}
	}
	// By actor.
	res = c.get(pathAudit + "?actor=sam%40demo")
	wantBody(t, res, "sam@demo.test", "signed in")
	if strings.Contains(res.Body, "demo-THQ") {
		t.Fatal("actor filter lets others' entries through")
	}
	// By time: nothing tomorrow, everything today; a bad date is refused.
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	today := time.Now().UTC().Format(time.DateOnly)
	wantBody(t, c.get(pathAudit+"?from="+tomorrow), "No entry matches these filters.")
	wantBody(t, c.get(pathAudit+"?from="+today+"&to="+today), "demo-THQ")
	res = c.get(pathAudit + "?from=31.01.2026")
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "Enter a date such as")
}
