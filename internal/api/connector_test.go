package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// connectorDocEnv is the document-checking environment over a service
// allowed to reach the connector fakes on 127.0.0.1.
func connectorDocEnv(t *testing.T) *docEnv {
	t.Helper()
	de := newDocEnv(t)
	db := storetest.Open(t, store.SQLite)
	kr, _ := seal.ParseKeyring(seal.GenerateKey())
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(kr),
		service.WithOutbound(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}))
	demo, err := svc.SeedDemo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(svc, nil).Register(mux)
	srv := httptest.NewServer(httpx.Common(mux))
	t.Cleanup(srv.Close)
	de.env = &env{t: t, srv: srv, svc: svc, admin: demo.Token, operator: de.operator, demo: demo}
	// A connection's settings and fields are maps of the system's own
	// field names: data, not declared properties.
	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	strict, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictMode(),
		config.WithRejectUndeclaredRequestBody(),
		config.WithStrictIgnorePaths(append(slices.Clone(mapPaths), "$.body.settings.*", "$.body.**.settings.*", "$.body.fields.*")...),
		config.WithStrictIgnoredHeadersExtra("Cache-Control", "Referrer-Policy", "X-Content-Type-Options", "X-Frame-Options", "Retry-After"))
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	de.strict = strict
	return de
}

// The connection endpoints answer as the document says, for success and
// for each refusal, and never with a secret.
func TestConnectionEndpointsMatchTheDocument(t *testing.T) {
	de := connectorDocEnv(t)
	admin, anon := bearer(de.admin), bearer("")
	f := connectortest.New(t, "shopify")
	in := map[string]any{"type": "shopify", "name": "Main shop", "api_url": f.URL, "access_token": connectortest.Token,
		"fields": map[string]string{"shop_domain": "fake"}, "required_scopes": []string{"read_orders"}, "stores": map[string]any{"access": "selected", "ids": []string{"main"}}}

	de.check(t, admin, "GET", "/api/v1/connector-types", nil, 200, true)
	de.check(t, anon, "GET", "/api/v1/connections", nil, 401, false)
	v := de.check(t, admin, "POST", "/api/v1/connections/verify", in, 200, true)
	if v["outcome"] != "ok" || v["account"] != "Fake Shop" {
		t.Fatalf("verify before saving: %v", v)
	}
	bad := map[string]any{"type": "shopify", "name": "Bad", "api_url": f.URL, "access_token": "wrong", "fields": map[string]string{"shop_domain": "fake"}}
	p := de.check(t, admin, "POST", "/api/v1/connections", bad, 400, true)
	if p["field"] != "verification" || !strings.Contains(p["detail"].(string), "invalid_credentials") {
		t.Fatalf("a failing save: %v", p)
	}
	de.check(t, admin, "POST", "/api/v1/connections", map[string]any{"type": "shopify", "colour": "red"}, 400, false)
	c := de.check(t, admin, "POST", "/api/v1/connections", in, 201, true)
	id := c["id"].(string)
	if c["state"] != "verified" {
		t.Fatalf("created: %v", c)
	}
	de.check(t, admin, "POST", "/api/v1/connections", in, 409, true)
	list := de.check(t, admin, "GET", "/api/v1/connections?type=shopify&store=main&state=verified&enabled=true", nil, 200, true)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("filtered list holds %d", n)
	}
	de.check(t, admin, "GET", "/api/v1/connections?state=odd", nil, 400, false)
	de.check(t, admin, "GET", "/api/v1/connections/"+id, nil, 200, true)
	de.check(t, admin, "GET", "/api/v1/connections/con_nope", nil, 404, true)
	de.check(t, admin, "PATCH", "/api/v1/connections/"+id, map[string]any{"name": "Main Shopify", "access_token": "", "enabled": false}, 200, true)
	de.check(t, admin, "PATCH", "/api/v1/connections/"+id, map[string]any{"required_scopes": nil, "stores": nil}, 200, true)
	de.check(t, admin, "PATCH", "/api/v1/connections/"+id, map[string]any{"access_token": nil}, 400, false)
	ver := de.check(t, admin, "POST", "/api/v1/connections/"+id+"/verify", nil, 200, true)
	if ver["outcome"] != "ok" || ver["cached"] != true {
		t.Fatalf("verify a saved connection: %v", ver)
	}
	secret := de.check(t, admin, "POST", "/api/v1/connections/"+id+"/reveal", map[string]string{"field": "access_token"}, 200, true)
	if secret["value"] != connectortest.Token {
		t.Fatalf("reveal: %v", secret)
	}
	de.check(t, admin, "POST", "/api/v1/connections/"+id+"/reveal", map[string]string{"field": "shop_domain"}, 400, true)
	for _, path := range []string{"/api/v1/connections", "/api/v1/connections/" + id} {
		res, _ := http.NewRequest("GET", de.srv.URL+path, nil)
		res.Header.Set("Authorization", "Bearer "+de.admin)
		r, err := http.DefaultClient.Do(res)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		r.Body.Close()
		if strings.Contains(b.String(), connectortest.Token) {
			t.Fatalf("GET %s shows the access token", path)
		}
	}
	de.check(t, admin, "DELETE", "/api/v1/connections/"+id, nil, 204, true)
	de.check(t, admin, "POST", "/api/v1/connections/"+id+"/verify", nil, 404, true)
}
