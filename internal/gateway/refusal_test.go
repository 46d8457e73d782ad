package gateway_test

import (
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Every refusal of the credential itself is one problem: 401 with the
// type and title of the admin API's unauthenticated problem, never the
// type of a missing record; the code says which refusal it is.
func TestCredentialRefusalsAreOneProblem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPlatform(t, db)
		bad := p.MerchantUser("Acme", "ops@acme.test")
		off := p.MerchantUser("Beta", "ops@beta.test")
		if err := p.Svc.DeactivateMerchantAPIAccess(p.Ctx, off.AccountID); err != nil {
			t.Fatal(err)
		}
		wrong := *bad
		wrong.AuthKey = off.AuthKey
		cases := []struct {
			name string
			cred *keyward.MerchantUser
			key  string
			code string
		}{
			{name: "merchant key of another account", cred: &wrong, code: keyward.CodeNotFound},
			{name: "deactivated merchant", cred: off, code: keyward.CodeNotFound},
			{name: "unknown API key", key: "kwk_" + "A0000000000000000000000000000000000000000000000000"[:49], code: keyward.CodeNotFound},
			{name: "no credential", code: string(keyward.EUnauthenticated)},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := httptest.NewRequest("GET", "/api/v5/jobs", nil)
				apply := withKey(c.key)
				if c.cred != nil {
					apply = withMerchant(c.cred)
				} else if c.key == "" {
					apply = withKey("")
				}
				status, out := p.send(req, apply)
				if status != 401 || out["type"] != "https://keyward.dev/problems/unauthenticated" ||
					out["title"] != "Authentication required" || out["code"] != c.code {
					t.Fatalf("%d %v; want 401, type unauthenticated, title Authentication required, code %s", status, out, c.code)
				}
			})
		}
	})
}
