package web

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

// A new Auth Key from API Settings or from the merchant's page may leave
// the old one working for the grace picked; the page says until when.
func TestNewAuthKeyWithGrace(t *testing.T) {
	e := newEnv(t, false)
	gw := e.gateway()
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	c := e.client()
	c.signIn(u.Email, pw)

	res := c.get(pathPortalAPI)
	wantBody(t, res, `name="grace"`, "After 24 hours", "After 7 days")
	wantStatus(t, c.post(pathPortalAPI+"/regenerate", url.Values{"grace": {"soon"}}), http.StatusBadRequest)
	wantStatus(t, c.post(pathPortalAPI+"/regenerate", url.Values{"grace": {"720h"}}), http.StatusBadRequest)
	if !e.merchantAuth(u.AccountID, u.AuthKey) {
		t.Fatal("a refused grace changed the key")
	}

	res = c.post(pathPortalAPI+"/regenerate", url.Values{"grace": {"24h"}})
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Your old key keeps working until")
	key := authKeyRE.FindString(res.Body)
	if key == "" || key == u.AuthKey {
		t.Fatalf("no new Auth Key on the page:\n%s", res.Body)
	}
	for name, k := range map[string]string{"old": u.AuthKey, "new": key} {
		if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", u.AccountID, k); got != http.StatusOK {
			t.Fatalf("the %s key during the grace: status %d, want 200", name, got)
		}
	}

	// An administrator's regeneration, at once: both earlier keys stop.
	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	res = admin.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/regenerate", url.Values{"grace": {"0s"}})
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "is refused from now on")
	for name, k := range map[string]string{"first": u.AuthKey, "second": key} {
		if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", u.AccountID, k); got != http.StatusUnauthorized {
			t.Fatalf("the %s key after a regeneration without grace: status %d, want 401", name, got)
		}
	}
	third := authKeyRE.FindString(res.Body)
	res = admin.post(pathMerchants+"/"+m.ID+"/users/"+u.ID+"/regenerate", url.Values{"grace": {"1h"}})
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "keeps working until")
	if got := callAsMerchant(t, gw, "GET", "/api/v5/jobs", "", u.AccountID, third); got != http.StatusOK {
		t.Fatalf("the key replaced with an hour's grace: status %d, want 200", got)
	}
}
