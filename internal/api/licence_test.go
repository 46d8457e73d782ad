package api_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
)

func TestTenantLicenceIsReadByItsAdministrators(t *testing.T) {
	de := newDocEnv(t)
	admin := bearer(de.admin)
	got := de.check(t, admin, "GET", "/api/v1/licence", nil, 200, true)
	if got["active"] != true || got["api_access"] != true {
		t.Fatalf("licence of the demo tenant: %v", got)
	}
	op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorSystem})
	if _, err := de.svc.RevokeLicence(op, "demo"); err != nil {
		t.Fatal(err)
	}
	got = de.check(t, admin, "GET", "/api/v1/licence", nil, 200, true)
	if got["active"] != false || got["reason"] == "" || got["reason"] == nil {
		t.Fatalf("revoked licence: %v", got)
	}
	de.check(t, bearer(""), "GET", "/api/v1/licence", nil, 401, false)
}

func TestMerchantPortalPasswordIsShownOnceAndSignsIn(t *testing.T) {
	de := newDocEnv(t)
	admin := bearer(de.admin)
	m := de.check(t, admin, "POST", "/api/v1/merchants", map[string]any{"name": "Acme Couriers"}, 201, true)
	u := de.check(t, admin, "POST", "/api/v1/merchants/"+m["id"].(string)+"/users", map[string]any{"email": "ops@acme.test", "level": 1}, 201, true)
	got := de.check(t, admin, "POST", "/api/v1/merchants/"+m["id"].(string)+"/users/"+u["id"].(string)+"/portal-password", nil, 200, true)
	pw, _ := got["password"].(string)
	if pw == "" {
		t.Fatalf("no password: %v", got)
	}
	res, err := de.svc.SignInAny(context.Background(), "", "ops@acme.test", pw, "198.51.100.7")
	if err != nil || res.Merchant == nil {
		t.Fatalf("sign in with the portal password: %+v, %v", res, err)
	}
}
