package api_test

import (
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
