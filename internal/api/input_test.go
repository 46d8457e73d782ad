package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// PUT licence: a field left out keeps its value, expires_at null removes
// the expiry, a grant over an expired licence gives access again, and a
// negative limit is refused without changing anything.
func TestLicenceInputNullClearsNegativeRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		path := "/operator/v1/tenants/demo/licence"
		exp := time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
		code, l := e.do(e.operator, "PUT", path, map[string]any{"expires_at": exp, "max_keys": 7})
		if code != 200 || l["expires_at"] == nil {
			t.Fatalf("grant with expiry: %d %v", code, l)
		}
		code, l = e.do(e.operator, "PUT", path, map[string]any{"rate_limit": 9})
		if code != 200 || l["expires_at"] == nil || l["max_keys"] != float64(7) {
			t.Fatalf("fields left out must keep their value: %d %v", code, l)
		}
		code, l = e.do(e.operator, "PUT", path, `{"expires_at": null}`)
		if code != 200 || l["expires_at"] != nil {
			t.Fatalf("expires_at null must remove the expiry: %d %v", code, l)
		}
		code, l = e.do(e.operator, "GET", path, nil)
		if code != 200 || l["expires_at"] != nil || l["max_keys"] != float64(7) || l["rate_limit"] != float64(9) {
			t.Fatalf("stored licence: %d %v", code, l)
		}
		for _, body := range []string{`{"max_keys": -5}`, `{"rate_limit": -1}`, `{"expires_at": "tomorrow"}`} {
			code, p := e.do(e.operator, "PUT", path, body)
			if code != 400 || p["code"] != "invalid_argument" {
				t.Fatalf("%s: %d %v, want 400 invalid_argument", body, code, p)
			}
		}
		if code, l = e.do(e.operator, "GET", path, nil); l["max_keys"] != float64(7) || l["rate_limit"] != float64(9) {
			t.Fatalf("a refused grant changed the licence: %d %v", code, l)
		}
	})
}

// A merchant credential that is wrong or switched off gets the same
// problem as at the gateway: 401, type and title unauthenticated, and the
// verify code NOT_FOUND.
func TestMerchantRefusalIsTheGatewaysProblem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		account, key := e.merchantCredential()
		call := func(id, secret string) (int, map[string]any) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/merchant/credentials", nil)
			req.SetBasicAuth(id, secret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			out := map[string]any{}
			json.NewDecoder(res.Body).Decode(&out)
			return res.StatusCode, out
		}
		if code, out := call(account, key); code != 200 {
			t.Fatalf("the credential itself: %d %v", code, out)
		}
		check := func(what string, code int, out map[string]any) {
			t.Helper()
			details, _ := out["details"].(map[string]any)
			if code != 401 || out["type"] != "https://keyward.dev/problems/unauthenticated" || out["title"] != "Authentication required" ||
				out["code"] != "unauthenticated" || details["verify_code"] != "NOT_FOUND" {
				t.Fatalf("%s: %d %v", what, code, out)
			}
		}
		wrong := key[:len(key)-1] + "x"
		if wrong == key {
			wrong = key[:len(key)-1] + "y"
		}
		code, out := call(account, wrong)
		check("wrong key", code, out)
		if code, out := e.do(e.admin, "DELETE", "/api/v1/merchants/api-access/"+account, nil); code != 204 {
			t.Fatalf("deactivate: %d %v", code, out)
		}
		code, out = call(account, key)
		check("deactivated", code, out)
	})
}

// PATCH a key: expires_at null removes its expiry; left out, it is kept.
func TestKeyExpiryNullClears(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		exp := time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
		code, k := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "Exp", "expires_at": exp})
		if code != 201 || k["expires_at"] == nil {
			t.Fatalf("create: %d %v", code, k)
		}
		path := "/api/v1/keys/" + k["id"].(string)
		if code, k = e.do(e.admin, "PATCH", path, map[string]any{"description": "kept"}); code != 200 || k["expires_at"] == nil {
			t.Fatalf("expiry left out must be kept: %d %v", code, k)
		}
		if code, k = e.do(e.admin, "PATCH", path, `{"expires_at": null}`); code != 200 || k["expires_at"] != nil {
			t.Fatalf("expires_at null must remove the expiry: %d %v", code, k)
		}
		if code, k = e.do(e.admin, "GET", path, nil); code != 200 || k["expires_at"] != nil {
			t.Fatalf("stored key: %d %v", code, k)
		}
	})
}
