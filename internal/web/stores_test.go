package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestStoresAddRenameAndRemove(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)

	res := c.get(pathStores)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Main Street Shop", "Online Store", "Add a store")

	// A refused store keeps the input and changes nothing.
	res = c.post(pathStores, url.Values{"code": {"main"}, "name": {"Another main"}})
	if res.StatusCode != http.StatusConflict && res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a duplicate code: status %d\n%s", res.StatusCode, res.Body)
	}
	wantBody(t, res, `value="Another main"`)
	res = c.post(pathStores, url.Values{"code": {"popup"}, "name": {"Pop-up Shop"}})
	wantStatus(t, res, http.StatusSeeOther)
	st, err := e.svc.Store(e.sys, "popup")
	if err != nil || st.Name != "Pop-up Shop" {
		t.Fatalf("added store: %+v, %v", st, err)
	}

	res = c.post(pathStores+"/"+st.ID, url.Values{"name": {"Summer Pop-up"}})
	wantStatus(t, res, http.StatusSeeOther)
	if st, _ = e.svc.Store(e.sys, "popup"); st.Name != "Summer Pop-up" {
		t.Fatalf("renamed store: %q", st.Name)
	}

	// Before removing, the page names the keys limited to the store and
	// the merchants working in it, and removal waits until none is left.
	k := e.key(keyward.KeyCreate{Name: "POP", Permissions: keyward.Permissions{"orders": "read"}, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"popup"}}})
	m := e.merchant("Acme Couriers", st.ID)
	res = c.get(pathStores + "/" + st.ID + "/remove")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "is still in use", "demo-POP", "its only store", "Acme Couriers")
	if strings.Contains(res.Body, `action="/settings/stores/`+st.ID+`/remove"`) {
		t.Fatal("the remove button is offered for a store in use")
	}
	wantStatus(t, c.post(pathStores+"/"+st.ID+"/remove", nil), http.StatusConflict)
	if _, err := e.svc.Store(e.sys, "popup"); err != nil {
		t.Fatalf("a store in use was removed: %v", err)
	}

	if err := e.svc.DeleteKey(e.sys, k.ID); err != nil {
		t.Fatal(err)
	}
	none := []string{}
	if _, err := e.svc.UpdateMerchant(e.sys, m.ID, keyward.MerchantUpdate{Stores: &none}); err != nil {
		t.Fatal(err)
	}
	wantBody(t, c.get(pathStores+"/"+st.ID+"/remove"), "No key is limited to Summer Pop-up")
	wantStatus(t, c.post(pathStores+"/"+st.ID+"/remove", nil), http.StatusSeeOther)
	if _, err := e.svc.Store(e.sys, "popup"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("after removal: %v", err)
	}
}

func TestLicencePageShowsGrantUseAndSuspension(t *testing.T) {
	e := newEnv(t, false)
	e.key(keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	res := c.get(pathLicence)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, ">Active</span>", "1 of 100 allowed", "1000 requests per second", "Never")

	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := e.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	res = c.get(pathLicence)
	wantBody(t, res, "every API key is suspended", "Contact "+licenceContact)

	// A user without API Management cannot open it.
	e.staff("sam@demo.test", keyward.FeatureAudit)
	s := e.client()
	s.signIn("sam@demo.test", staffPassword)
	wantStatus(t, s.get(pathLicence), http.StatusForbidden)
	wantStatus(t, s.get(pathStores), http.StatusForbidden)
}
