package web

import (
	"net/http"
	"net/url"
	"testing"
)

// A posted field that is not UTF-8 is refused before any page reads it:
// it would be stored as U+FFFD.
func TestFormFieldsMustBeUTF8(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	before, err := e.svc.ListMerchants(e.sys)
	if err != nil {
		t.Fatal(err)
	}
	res := c.post(pathMerchants, url.Values{"name": {"Acme\xff"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, "not valid UTF-8")
	after, err := e.svc.ListMerchants(e.sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d merchants after a refused form, want %d", len(after), len(before))
	}
}
