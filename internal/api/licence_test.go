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
