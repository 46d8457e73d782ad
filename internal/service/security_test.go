package service_test

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// newSealedFixture is newFixture with a master keyring, which two-factor
// sign-in needs to keep its seeds sealed.
func newSealedFixture(t *testing.T, db *store.DB) *fixture {
	return &fixture{keywardtest.New(t, db, service.WithKeyring(keyring(t, masterA)))}
}

// seedTraces are the ways a TOTP seed could sit in a table: its base32
// text in either case, and its bytes in hex.
func seedTraces(t *testing.T, seed string) []string {
	t.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed)
	if err != nil {
		t.Fatal(err)
	}
	return []string{seed, strings.ToLower(seed), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw))}
}

func wantNoTrace(t *testing.T, db *store.DB, what string, traces ...string) {
	t.Helper()
	d := dump(t, db)
	for _, s := range traces {
		if strings.Contains(d, s) {
			t.Fatalf("%s found in clear in the database", what)
		}
	}
}

// TOTP seeds are kept sealed: no table holds a seed in clear, seeds an
// earlier version kept in clear are sealed in place at start, and without
// a master key two-factor sign-in cannot be turned on.
func TestTOTPSeedsAreSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		seed := f.staffWithTOTP("ana@demo.test")
		wantNoTrace(t, db, "a TOTP seed", seedTraces(t, seed)...)
		var sealed string
		if err := db.SQL().QueryRow(`SELECT totp_sealed FROM users WHERE email = 'ana@demo.test'`).Scan(&sealed); err != nil || !strings.HasPrefix(sealed, "ks1.") {
			t.Fatalf("totp_sealed = %q, %v", sealed, err)
		}

		// A seed kept in clear by an earlier version.
		u := f.staff("ben@demo.test")
		legacy := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		if _, err := db.SQL().Exec(`UPDATE users SET totp_secret = '` + legacy + `' WHERE id = '` + u.ID + `'`); err != nil {
			t.Fatal(err)
		}
		// It still works before the start that seals it.
		f.Now = f.Now.Add(time.Minute)
		ses, tok, err := f.Svc.SignIn(context.Background(), "ben@demo.test", testPassword, "192.0.2.1")
		if err != nil || !ses.PendingMFA {
			t.Fatalf("sign in: %v", err)
		}
		c, _ := totp.GenerateCode(legacy, f.Now)
		if _, _, err := f.Svc.SignInSecondFactor(context.Background(), tok, c, "192.0.2.1"); err != nil {
			t.Fatalf("a seed kept in clear: %v", err)
		}
		if err := f.Svc.CheckSealing(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantNoTrace(t, db, "the earlier clear seed", seedTraces(t, legacy)...)
		f.Now = f.Now.Add(time.Minute)
		_, tok, err = f.Svc.SignIn(context.Background(), "ben@demo.test", testPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		c, _ = totp.GenerateCode(legacy, f.Now)
		if _, _, err := f.Svc.SignInSecondFactor(context.Background(), tok, c, "192.0.2.1"); err != nil {
			t.Fatalf("the seed sealed in place: %v", err)
		}
		// The sealed seed is rewrapped by a rotation and refused without a key.
		rot := service.New(db, catalog.Builtin(), service.WithKeyring(keyring(t, masterB+","+masterA)))
		if p, err := rot.RewrapSealed(context.Background(), 10, nil); err != nil || p.Rewrapped < 2 {
			t.Fatalf("rotation rewrapped %d: %v", p.Rewrapped, err)
		}
		if err := service.New(db, catalog.Builtin()).CheckSealing(context.Background()); err != service.ErrNoMasterKey {
			t.Fatalf("start without a key over sealed seeds: %v", err)
		}

		// No master key: two-factor sign-in cannot be turned on.
		bare := newFixture(t, storetest.Open(t, db.Engine()))
		bare.staff("cy@demo.test")
		a, err := bare.actor(bare.signIn("cy@demo.test", testPassword))
		if err != nil {
			t.Fatal(err)
		}
		uctx := keyward.WithActor(context.Background(), a)
		setup, _ := bare.Svc.NewTOTP(uctx)
		c, _ = totp.GenerateCode(setup.Secret, bare.Now)
		if _, err := bare.Svc.EnableTOTP(uctx, setup.Secret, c); keyward.ErrorCode(err) != keyward.EUnavailable {
			t.Fatalf("turning TOTP on with no master key: %v", err)
		}
		wantNoTrace(t, bare.DB, "a refused seed", seedTraces(t, setup.Secret)...)
	})
}

// pending signs in with the password of a user with two-factor sign-in
// and returns the pending session id.
func (f *fixture) pending(email string) string {
	f.TB.Helper()
	ses, tok, err := f.Svc.SignIn(context.Background(), email, testPassword, "192.0.2.1")
	if err != nil || !ses.PendingMFA {
		f.TB.Fatalf("sign in %s: pending %v, %v", email, ses != nil && ses.PendingMFA, err)
	}
	return tok
}

// Ten recovery codes come with turning TOTP on, kept as hashes; each signs
// in once and says how many remain; new ones end the old; an administrator
// resets a user's TOTP, and the operator only a tenant's last administrator.
func TestRecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		f.staff("ana@demo.test")
		a, _ := f.actor(f.signIn("ana@demo.test", testPassword))
		uctx := keyward.WithActor(context.Background(), a)
		setup, _ := f.Svc.NewTOTP(uctx)
		c, _ := totp.GenerateCode(setup.Secret, f.Now)
		codes, err := f.Svc.EnableTOTP(uctx, setup.Secret, c)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, code := range codes {
			if len(strings.ReplaceAll(code, "-", "")) < 23 || seen[code] { // 23 base32 characters hold 115 bits
				t.Fatalf("code %q too short or repeated", code)
			}
			seen[code] = true
		}
		if len(codes) != service.RecoveryCodeCount || service.RecoveryCodeCount != 10 {
			t.Fatalf("%d codes", len(codes))
		}
		for _, code := range codes {
			wantNoTrace(t, db, "a recovery code", code, strings.ReplaceAll(code, "-", ""), strings.ToUpper(strings.ReplaceAll(code, "-", "")))
		}

		// A code signs in once, typed in any case and grouping.
		typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
		_, tok, left, err := f.Svc.SignInRecoveryCode(context.Background(), f.pending("ana@demo.test"), typed, "192.0.2.1")
		if err != nil || left != 9 {
			t.Fatalf("first use: %d left, %v", left, err)
		}
		if _, err := f.actor(tok); err != nil {
			t.Fatalf("the session a recovery code opened: %v", err)
		}
		if _, _, _, err := f.Svc.SignInRecoveryCode(context.Background(), f.pending("ana@demo.test"), codes[0], "192.0.2.1"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a used code again: %v", err)
		}
		// Without a pending sign-in a code opens nothing.
		if _, _, _, err := f.Svc.SignInRecoveryCode(context.Background(), "", codes[1], "192.0.2.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("no password first: %v", err)
		}
		a, _ = f.actor(tok)
		uctx = keyward.WithActor(context.Background(), a)
		if n, err := f.Svc.RecoveryCodesLeft(uctx); err != nil || n != 9 {
			t.Fatalf("left = %d, %v", n, err)
		}
		fresh, err := f.Svc.RegenerateRecoveryCodes(uctx)
		if err != nil || len(fresh) != 10 {
			t.Fatalf("regenerate: %d, %v", len(fresh), err)
		}
		if _, _, _, err := f.Svc.SignInRecoveryCode(context.Background(), f.pending("ana@demo.test"), codes[1], "192.0.2.1"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("an old code after regenerating: %v", err)
		}
		if _, _, left, err := f.Svc.SignInRecoveryCode(context.Background(), f.pending("ana@demo.test"), fresh[0], "192.0.2.1"); err != nil || left != 9 {
			t.Fatalf("a new code: %d left, %v", left, err)
		}

		// An administrator resets ana's second factor: audited, sessions end.
		if _, err := f.Svc.ResetTOTP(f.Ctx, "ana@demo.test"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(tok); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("a session after the reset: %v", err)
		}
		f.signIn("ana@demo.test", testPassword) // no second factor asked
		wantAudit(t, f, "user.totp_reset")

		// The operator resets only a tenant's last administrator.
		ten, _ := f.Svc.TenantByDomain(context.Background(), service.DemoDomain)
		op := keyward.WithActor(context.Background(), &keyward.Actor{Kind: keyward.ActorOperator})
		admin := "admin@demo.test" // the demo tenant's administrator
		if _, err := f.Svc.ResetTenantAdminTOTP(op, ten.Domain, admin); err != nil {
			t.Fatalf("the only administrator: %v", err)
		}
		wantAudit(t, f, "user.totp_reset")
		f.staff("deputy@demo.test", keyward.FeatureUsers)
		if _, err := f.Svc.ResetTenantAdminTOTP(op, ten.Domain, admin); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("with another administrator: %v", err)
		}
		if _, err := f.Svc.ResetTenantAdminTOTP(op, ten.Domain, "ana@demo.test"); keyward.ErrorCode(err) == "" {
			t.Fatal("the operator reset a user who is no administrator")
		}
		if _, err := f.Svc.ResetTenantAdminTOTP(f.Ctx, ten.Domain, admin); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("a tenant caller: %v", err)
		}
	})
}

// wantAudit fails unless the demo tenant's newest entries hold action.
func wantAudit(t *testing.T, f *fixture, action string) {
	t.Helper()
	pg, err := f.Svc.ListAudit(f.Ctx, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pg.Data {
		if e.Action == action {
			return
		}
	}
	t.Fatalf("no %s in the audit log", action)
}

// A session gets a new id when its user's profile or features change, and
// on a password or TOTP change; the old id stops working; a password
// change ends the user's other sessions; signing out everywhere ends all.
func TestSessionIDsAreRenewed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		u := f.staff("ana@demo.test", keyward.FeatureAudit)
		tok := f.signIn("ana@demo.test", testPassword)
		if renewed, err := f.Svc.RenewSession(context.Background(), tok); err != nil || renewed != "" {
			t.Fatalf("nothing changed, yet renewed %q, %v", renewed, err)
		}
		renew := func(what string) {
			t.Helper()
			renewed, err := f.Svc.RenewSession(context.Background(), tok)
			if err != nil || renewed == "" || renewed == tok {
				t.Fatalf("%s: renewed %v, %v", what, renewed != "", err)
			}
			if _, err := f.actor(tok); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("%s: the old id still works: %v", what, err)
			}
			if _, err := f.actor(renewed); err != nil {
				t.Fatalf("%s: the new id: %v", what, err)
			}
			tok = renewed
		}
		features := []keyward.Feature{keyward.FeatureAudit, keyward.FeatureAPIManagement}
		if _, err := f.Svc.UpdateProfile(f.Ctx, u.ProfileID, keyward.ProfileUpdate{Features: &features}); err != nil {
			t.Fatal(err)
		}
		renew("features changed")
		other, err := f.Svc.CreateProfile(f.Ctx, keyward.ProfileCreate{Name: "Other", Features: features})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.UpdateUser(f.Ctx, u.ID, keyward.UserUpdate{ProfileID: &other.ID}); err != nil {
			t.Fatal(err)
		}
		renew("profile changed")

		second := f.signIn("ana@demo.test", testPassword)
		a, _ := f.actor(tok)
		uctx := keyward.WithActor(context.Background(), a)
		if err := f.Svc.ChangePassword(uctx, keyward.PasswordChange{CurrentPassword: testPassword, NewPassword: testPassword + "!"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(second); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("another session after a password change: %v", err)
		}
		renew("password changed")

		a, _ = f.actor(tok)
		uctx = keyward.WithActor(context.Background(), a)
		setup, _ := f.Svc.NewTOTP(uctx)
		c, _ := totp.GenerateCode(setup.Secret, f.Now)
		if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, c); err != nil {
			t.Fatal(err)
		}
		renew("TOTP turned on")

		a, _ = f.actor(tok)
		if err := f.Svc.SignOutEverywhere(keyward.WithActor(context.Background(), a)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(tok); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after signing out everywhere: %v", err)
		}
		wantAudit(t, f, "user.sign_out_everywhere")
	})
}

// Sensitive back-office actions ask for the password again once the last
// check is StepUpWindow old; with TOTP on, for a code too. A personal
// access token is never asked.
func TestStepUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAPIManagement)
		tok := f.signIn("ana@demo.test", testPassword)
		ctxOf := func() context.Context {
			t.Helper()
			a, err := f.actor(tok)
			if err != nil {
				t.Fatal(err)
			}
			return keyward.WithActor(context.Background(), a)
		}
		need := func() bool {
			t.Helper()
			n, err := f.Svc.StepUpNeeded(ctxOf())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if need() {
			t.Fatal("asked right after signing in")
		}
		f.Now = f.Now.Add(service.StepUpWindow - time.Second)
		if need() {
			t.Fatal("asked within the window")
		}
		f.Now = f.Now.Add(time.Second)
		if !need() {
			t.Fatal("not asked after the window")
		}
		if err := f.Svc.StepUp(ctxOf(), "wrong password", ""); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a wrong password: %v", err)
		}
		if !need() {
			t.Fatal("a wrong password passed")
		}
		if err := f.Svc.StepUp(ctxOf(), testPassword, ""); err != nil {
			t.Fatal(err)
		}
		if renewed, _ := f.Svc.RenewSession(context.Background(), tok); renewed == "" {
			t.Fatal("a step-up kept the session id")
		} else {
			tok = renewed
		}
		if need() {
			t.Fatal("asked right after confirming")
		}

		// With TOTP on, a code too.
		uctx := ctxOf()
		setup, _ := f.Svc.NewTOTP(uctx)
		c, _ := totp.GenerateCode(setup.Secret, f.Now)
		if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, c); err != nil {
			t.Fatal(err)
		}
		tok, _ = f.Svc.RenewSession(context.Background(), tok)
		f.Now = f.Now.Add(service.StepUpWindow)
		if err := f.Svc.StepUp(ctxOf(), testPassword, ""); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("no code with TOTP on: %v", err)
		}
		c, _ = totp.GenerateCode(setup.Secret, f.Now)
		if err := f.Svc.StepUp(ctxOf(), testPassword, c); err != nil {
			t.Fatal(err)
		}
		tok, _ = f.Svc.RenewSession(context.Background(), tok)
		if need() {
			t.Fatal("asked after a password and code")
		}

		// A personal access token acts within its scope, unasked.
		_, pat, err := f.Svc.CreateToken(ctxOf(), "", keyward.TokenCreate{Name: "script"})
		if err != nil {
			t.Fatal(err)
		}
		f.Now = f.Now.Add(time.Hour)
		pctx, err := f.as(pat)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := f.Svc.StepUpNeeded(pctx); err != nil || n {
			t.Fatalf("a token was asked: %v, %v", n, err)
		}
	})
}
