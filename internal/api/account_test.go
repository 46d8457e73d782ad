package api_test

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Deactivating a user revokes their tokens for good: activating them
// again does not bring the old token back; they sign in for a new one.
func TestDeactivationRevokesTokensForGoodOverTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		const pw = "ana's long password"
		if status, body := e.do(e.admin, "POST", "/api/v1/profiles", map[string]any{"name": "Auditors", "features": []string{"audit"}}); status != http.StatusCreated {
			t.Fatalf("profile: %d %v", status, body)
		}
		if status, body := e.do(e.admin, "POST", "/api/v1/users", map[string]any{"email": "ana@demo.test", "profile_id": "Auditors", "password": pw}); status != http.StatusCreated {
			t.Fatalf("user: %d %v", status, body)
		}
		signIn := func() string {
			t.Helper()
			status, body := e.do("", "POST", "/api/v1/signin", map[string]any{"email": "ana@demo.test", "password": pw})
			tok, _ := body["token"].(string)
			if status != http.StatusCreated || tok == "" {
				t.Fatalf("sign in: %d %v", status, body)
			}
			return tok
		}
		old := signIn()
		if status, _ := e.do(old, "GET", "/api/v1/audit", nil); status != http.StatusOK {
			t.Fatalf("the token before deactivation: %d", status)
		}
		for _, active := range []bool{false, true} {
			if status, body := e.do(e.admin, "PATCH", "/api/v1/users/ana@demo.test", map[string]any{"active": active}); status != http.StatusOK {
				t.Fatalf("active=%v: %d %v", active, status, body)
			}
		}
		if status, body := e.do(old, "GET", "/api/v1/audit", nil); status != http.StatusUnauthorized {
			t.Fatalf("the old token after deactivation and reactivation: %d %v, want 401", status, body)
		}
		if status, _ := e.do(signIn(), "GET", "/api/v1/audit", nil); status != http.StatusOK {
			t.Fatalf("a new token after reactivation: %d", status)
		}
	})
}
