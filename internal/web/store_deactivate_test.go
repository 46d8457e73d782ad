package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// Deactivating a store shows first what works in it and what happens,
// then refuses requests naming it and hides it from pickers; reactivating
// undoes it.
func TestStoreDeactivateAndReactivate(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	st, err := e.svc.Store(e.sys, "main")
	if err != nil {
		t.Fatal(err)
	}
	k := e.key(keyward.KeyCreate{Name: "MAINONLY", Permissions: keyward.Permissions{"orders": "read"}, Stores: keyward.StoreAccess{Access: "selected", IDs: []string{"main"}}})
	e.merchant("Acme Couriers", st.ID)
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeValid {
		t.Fatalf("before deactivating: %s", got)
	}

	res := c.get(pathStores + "/" + st.ID + "/deactivate")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "demo-MAINONLY", "its only store", "Acme Couriers", "STORE_NOT_ALLOWED", "reactivate")
	if s, _ := e.svc.Store(e.sys, "main"); !s.Active {
		t.Fatal("opening the confirmation deactivated the store")
	}

	wantStatus(t, c.post(pathStores+"/"+st.ID+"/deactivate", nil), http.StatusSeeOther)
	if s, _ := e.svc.Store(e.sys, "main"); s.Active {
		t.Fatal("the store is still active")
	}
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeStoreNotAllowed {
		t.Fatalf("a deactivated store through /v1/verify: %s, want STORE_NOT_ALLOWED", got)
	}
	wantBody(t, c.get(pathStores), "Inactive")
	wantBody(t, c.get(pathStores+"/"+st.ID), "is deactivated", "Reactivate store")
	for _, form := range []string{pathKeys + "/new", pathMerchants + "/new", pathWebhooks + "/new", pathConnectors + "/new?type=shopify"} {
		res := c.get(form)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `value="`+e.online(t)+`"`)
		if strings.Contains(res.Body, `value="`+st.ID+`"`) {
			t.Fatalf("%s still offers the deactivated store", form)
		}
	}

	wantStatus(t, c.post(pathStores+"/"+st.ID+"/reactivate", nil), http.StatusSeeOther)
	if got := e.verify(k.Secrets[0].Secret, "orders.list", "main"); got != keyward.CodeValid {
		t.Fatalf("after reactivating: %s, want VALID", got)
	}
	wantBody(t, c.get(pathKeys+"/new"), `value="`+st.ID+`"`)
}

// online returns the id of the demo tenant's online store.
func (e *env) online(t *testing.T) string {
	t.Helper()
	st, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}
