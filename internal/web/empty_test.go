package web

import (
	"net/http"
	"testing"
)

func TestEmptyListsSayWhatTheyAreForAndOfferTheFirstAction(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	m := e.merchant("Acme Couriers")
	for _, tc := range []struct{ path, purpose, action string }{
		{pathKeys, "lets an integration call the platform’s API", `href="` + pathKeys + `/new">Add the first key`},
		{pathMerchants + "/" + m.ID, "sign in to the merchant portal", `href="` + pathMerchants + "/" + m.ID + `/users/new">Add the first user`},
		{pathMerchantAPI, "No merchant user has API access", `href="` + pathMerchants + `">`},
	} {
		res := c.get(tc.path)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, tc.purpose, tc.action)
	}
	// A tenant without merchants is told what they are, with the first step.
	if err := e.svc.DeleteMerchant(e.sys, m.ID); err != nil {
		t.Fatal(err)
	}
	wantBody(t, c.get(pathMerchants), "Merchants are outside businesses working in your stores", `href="`+pathMerchants+`/new">Add the first merchant`)
}
