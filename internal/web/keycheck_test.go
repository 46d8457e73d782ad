package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestKeysOfARevokedLicenceShowSuspended(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	wantBody(t, c.get(pathKeys), `<span class="badge on">Enabled</span>`)
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := e.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathKeys, pathKeys + "/" + k.ID} {
		res := c.get(path)
		wantBody(t, res, ">Suspended</span>")
		if strings.Contains(res.Body, `<span class="badge on">Enabled</span>`) {
			t.Fatalf("%s shows a suspended key as Enabled", path)
		}
	}
}

func TestKeyFormMarksMethodsThePermissionsCannotAllow(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	// Orders read, a write method ticked: refused beside the methods,
	// and the form says what the method needs.
	res := c.post(pathKeys, url.Values{"name": {"CPA"}, "perm.orders": {"read"}, "stores_access": {"all"},
		"methods_mode": {"selected"}, "method": {"orders.list", "orders.create"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "method orders.create needs write permission on orders", `id="methods-error"`, "Needs Read &amp; write on Orders under Permissions.")
	for method, want := range map[string]bool{"orders.create": true, "orders.list": false} {
		re := regexp.MustCompile(`<li class="check( unavailable)?">\s*<input type="checkbox" id="[^"]+" name="method" value="` + regexp.QuoteMeta(method) + `"`)
		m := re.FindStringSubmatch(res.Body)
		if m == nil || (m[1] != "") != want {
			t.Fatalf("%s: unavailable mark %q, want %v", method, m, want)
		}
	}
	// A key with no permissions is created, with a warning.
	res = c.post(pathKeys, url.Values{"name": {"Empty"}, "stores_access": {"all"}, "methods_mode": {"all"}})
	wantStatus(t, res, http.StatusCreated)
	wantBody(t, res, "This key can call nothing")
}

func TestMerchantCredentialsOfARevokedLicenceShowSuspended(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	admin := e.client()
	admin.signIn(e.demo.Email, e.demo.Password)
	wantBody(t, admin.get(pathMerchants+"/"+m.ID), `<span class="badge on">On</span>`)
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := e.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathMerchants + "/" + m.ID, pathMerchantAPI} {
		res := admin.get(path)
		wantBody(t, res, ">Suspended</span>", u.AccountID)
		if strings.Contains(res.Body, `<span class="badge on">On</span>`) {
			t.Fatalf("%s shows a suspended credential as On", path)
		}
	}
	mc := e.client()
	mc.signIn(u.Email, pw)
	wantBody(t, mc.get(pathPortalAPI), "Suspended:")
}
