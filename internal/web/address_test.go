package web

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/keyward/keyward"
)

// The key form's "Only from these addresses" box takes one address or
// range a line, shows a typing slip beside the box with the text kept and
// nothing saved, and empties back to any address.
func TestKeyFormAllowedAddresses(t *testing.T) {
	e := newEnv(t, false)
	k := e.key(keyward.KeyCreate{Name: "office", Permissions: keyward.Permissions{"orders": keyward.LevelRead}})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	edit := pathKeys + "/" + k.ID + "/edit"
	form := func(addrs string) url.Values {
		return url.Values{"name": {"office"}, "enabled": {"true"}, "perm.orders": {"read"},
			"stores_access": {"all"}, "methods_mode": {"all"}, "allowed_addresses": {addrs}}
	}
	wantBody(t, c.get(edit), "Only from these addresses")

	res := c.post(edit, form("203.0.113.7\n10.1.2.3/8"))
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="allowed_addresses-error"`, "10.0.0.0/8", "203.0.113.7\n10.1.2.3/8")
	if got, _ := e.svc.Key(e.sys, k.ID); got.AllowedAddresses != nil {
		t.Fatalf("a refused form was saved: %v", got.AllowedAddresses)
	}

	wantStatus(t, c.post(edit, form("203.0.113.7\r\n\r\n2001:db8::/32\n198.51.100.0/24")), http.StatusSeeOther)
	want := []string{"198.51.100.0/24", "203.0.113.7", "2001:db8::/32"}
	if got, _ := e.svc.Key(e.sys, k.ID); !slices.Equal(got.AllowedAddresses, want) {
		t.Fatalf("saved %v, want %v", got.AllowedAddresses, want)
	}
	wantBody(t, c.get(pathKeys+"/"+k.ID), "198.51.100.0/24", "2001:db8::/32")
	wantBody(t, c.get(edit), "198.51.100.0/24\n203.0.113.7\n2001:db8::/32")

	wantStatus(t, c.post(edit, form("")), http.StatusSeeOther)
	if got, _ := e.svc.Key(e.sys, k.ID); got.AllowedAddresses != nil {
		t.Fatalf("an empty box left %v", got.AllowedAddresses)
	}
	wantBody(t, c.get(pathKeys+"/"+k.ID), "Any address")
}

// A merchant user limits their own API credential to addresses on API
// Settings; a typing slip is shown beside the box and nothing is saved.
func TestPortalAllowedAddresses(t *testing.T) {
	e := newEnv(t, false)
	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	c := e.client()
	c.signIn(u.Email, pw)
	wantBody(t, c.get(pathPortalAPI), "Only from these addresses")
	saved := func() []string {
		t.Helper()
		us, err := e.svc.ListMerchantUsers(e.sys, m.ID)
		if err != nil || len(us) != 1 {
			t.Fatalf("%v, %v", us, err)
		}
		return us[0].AllowedAddresses
	}

	res := c.post(pathPortalAPI+"/addresses", url.Values{"allowed_addresses": {"somewhere"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="allowed_addresses-error"`, "neither an IP address")
	if got := saved(); got != nil {
		t.Fatalf("a refused box was saved: %v", got)
	}

	wantStatus(t, c.post(pathPortalAPI+"/addresses", url.Values{"allowed_addresses": {"2001:db8::/32\n203.0.113.7"}}), http.StatusSeeOther)
	if got := saved(); !slices.Equal(got, []string{"203.0.113.7", "2001:db8::/32"}) {
		t.Fatalf("saved %v", got)
	}
	wantBody(t, c.get(pathPortalAPI), "203.0.113.7\n2001:db8::/32")
}
