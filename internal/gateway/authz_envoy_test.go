package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// TestAuthzEnvoyHTTPNamesTheHeadersToRemove checks the answer to Envoy's
// HTTP ext_authz check request: the original method, the path after
// path_prefix, the allowed headers; an allow names the credential headers
// for Envoy to remove in x-envoy-auth-headers-to-remove.
func TestAuthzEnvoyHTTPNamesTheHeadersToRemove(t *testing.T) {
	p := newAuthzPlatform(t, storetest.Open(t, store.SQLite), nil)
	k := p.CreateKey(keyward.KeyCreate{Name: "Envoy", Permissions: keyward.Permissions{"orders": "read"}})
	req := httptest.NewRequest("GET", "/api/v5/orders?store=main", nil)
	req.Header.Set("X-API-Key", k.Secrets[0].Secret)
	req.Header.Set("Cookie", "theme=dark")
	res := p.ask(gateway.AuthzEnvoy, req)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get(identity.HeaderKeyID) != k.ID {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	got := map[string]bool{}
	for _, v := range res.Header.Values("X-Envoy-Auth-Headers-To-Remove") {
		for _, name := range strings.Split(v, ",") {
			got[name] = true
		}
	}
	if !got["x-api-key"] || got["cookie"] || len(got) != 1 {
		t.Fatalf("headers to remove: %v", got)
	}
	// A client's own X-Keyward-* header is refused, whatever its name.
	// PHP reads "." in a header name as "_", so X-Keyward.Role as
	// X-Keyward-Role.
	for _, name := range []string{"X-Keyward-Role", "X_Keyward_Role", "X-Keyward.Role", "X.Keyward.Stores"} {
		forged := req.Clone(req.Context())
		forged.Header[name] = []string{"admin"}
		if res := p.ask(gateway.AuthzEnvoy, forged); res.StatusCode != 400 || res.Header.Get("X-Envoy-Auth-Headers-To-Remove") != "" {
			t.Fatalf("a client's %s: %d %v", name, res.StatusCode, res.Header)
		}
	}
	// A refusal names nothing to remove: Envoy sends it to the client.
	req.Header.Set("X-API-Key", "kwk_unknown")
	if res := p.ask(gateway.AuthzEnvoy, req); res.StatusCode != 401 || res.Header.Get("X-Envoy-Auth-Headers-To-Remove") != "" {
		t.Fatalf("refusal: %d %v", res.StatusCode, res.Header)
	}
}
