package api_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// totpOn gives a user a (stand-in) sealed TOTP seed, as turning two-factor
// sign-in on does, and reports later whether one is still kept.
func totpOn(t *testing.T, db *store.DB, email string) func() bool {
	t.Helper()
	q := `UPDATE users SET totp_sealed = 'ks1.x' WHERE email = '` + email + `'`
	if _, err := db.SQL().Exec(q); err != nil {
		t.Fatal(err)
	}
	return func() bool {
		var v *string
		if err := db.SQL().QueryRow(`SELECT totp_sealed FROM users WHERE email = '` + email + `'`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v != nil
	}
}

// An administrator turns off another user's second factor; whoever lacks
// the users feature is refused; the operator turns off only a tenant's
// last administrator's. Answers conform to the document.
func TestTOTPResets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		clerk, _ := e.userWith("clerk@demo.test", keyward.FeatureAudit)
		on := totpOn(t, db, "clerk@demo.test")
		if code, _ := e.do(clerk, "POST", "/api/v1/users/clerk@demo.test/totp-reset", nil); code != 403 {
			t.Fatalf("without the users feature: %d", code)
		}
		if code, _ := e.do(e.admin, "POST", "/api/v1/users/admin@demo.test/totp-reset", nil); code != 400 {
			t.Fatalf("an administrator's own: %d", code)
		}
		code, u := e.do(e.admin, "POST", "/api/v1/users/clerk@demo.test/totp-reset", nil)
		if code != 200 || u["email"] != "clerk@demo.test" || on() {
			t.Fatalf("reset: %d %v, still on %v", code, u, on())
		}
		if code, _ := e.do(clerk, "GET", "/api/v1/me", nil); code != 200 {
			t.Fatalf("the user's token after the reset: %d", code)
		}

		adminOn := totpOn(t, db, "admin@demo.test")
		path := "/operator/v1/tenants/demo/admins/totp-reset"
		if code, _ := e.do(e.admin, "POST", path, map[string]any{"email": "admin@demo.test"}); code != 403 {
			t.Fatalf("a tenant token: %d", code)
		}
		if code, _ := e.do(e.operator, "POST", path, map[string]any{"email": "clerk@demo.test"}); code != 400 {
			t.Fatalf("no administrator: %d", code)
		}
		code, u = e.do(e.operator, "POST", path, map[string]any{"email": "admin@demo.test"})
		if code != 200 || adminOn() {
			t.Fatalf("the last administrator: %d %v", code, u)
		}
		totpOn(t, db, "admin@demo.test")
		e.userWith("deputy@demo.test", keyward.FeatureUsers)
		if code, p := e.do(e.operator, "POST", path, map[string]any{"email": "admin@demo.test"}); code != 409 {
			t.Fatalf("with another administrator: %d %v", code, p)
		}
	})
}

func TestTOTPResetAnswersConform(t *testing.T) {
	de := newDocEnv(t)
	admin, op := bearer(de.admin), bearer(de.operator)
	de.check(t, admin, "POST", "/api/v1/users", map[string]any{"email": "clerk@demo.test", "profile_id": "Administrator"}, 201, true)
	de.check(t, admin, "POST", "/api/v1/users/clerk@demo.test/totp-reset", nil, 200, true)
	de.check(t, op, "POST", "/operator/v1/tenants/demo/admins/totp-reset", map[string]any{"email": "clerk@demo.test"}, 409, true)
	de.check(t, op, "POST", "/operator/v1/tenants/demo/admins/totp-reset", map[string]any{"email": "x@demo.test", "extra": 1}, 400, false)
}
