package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

const newPassword = "a brand new long passphrase"

// token creates a personal access token for a user, as the CLI does.
func (f *fixture) token(user string) string {
	f.TB.Helper()
	_, tok, err := f.Svc.CreateToken(f.Ctx, user, keyward.TokenCreate{Name: "t"})
	if err != nil {
		f.TB.Fatal(err)
	}
	return tok
}

// as returns a context acting as the bearer of a token, or the error the
// API would answer.
func (f *fixture) as(token string) (context.Context, error) {
	a, err := f.Svc.Authenticate(context.Background(), token, "192.0.2.1")
	if err != nil {
		return nil, err
	}
	return keyward.WithActor(context.Background(), a), nil
}

func wantCode(t *testing.T, what string, err error, code keyward.Code) {
	t.Helper()
	if keyward.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func TestDeactivationRevokesTokensAndSessionsForGood(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAudit)
		tok := f.token("ana@demo.test")
		ses := f.signIn("ana@demo.test", testPassword)
		link, err := f.Svc.CreateTenantAdmin(f.Op, "demo", service.TenantAdminCreate{Email: "ana@demo.test"})
		if err != nil {
			t.Fatal(err)
		}
		off, on := false, true
		if _, err := f.Svc.UpdateUser(f.Ctx, "ana@demo.test", keyward.UserUpdate{Active: &off}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.UpdateUser(f.Ctx, "ana@demo.test", keyward.UserUpdate{Active: &on}); err != nil {
			t.Fatal(err)
		}
		_, err = f.as(tok)
		wantCode(t, "the token after deactivation and reactivation", err, keyward.EUnauthenticated)
		_, _, err = f.Svc.RedeemSignInLink(context.Background(), link.Link, newPassword, "192.0.2.1")
		wantCode(t, "a sign-in link after deactivation and reactivation", err, keyward.ENotFound)
		_, err = f.actor(ses)
		wantCode(t, "the session after deactivation and reactivation", err, keyward.EUnauthenticated)
		// The user is back and signs in afresh, with no token left.
		ctx, err := f.as(f.token("ana@demo.test"))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := f.Svc.ListTokens(ctx)
		if err != nil || len(ts) != 1 {
			t.Fatalf("tokens after reactivation: %d, %v; want only the new one", len(ts), err)
		}
		f.signIn("ana@demo.test", testPassword)
		p, err := f.Svc.ListAudit(f.Ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range p.Data {
			if e.Action == "user.update" && e.Changes["tokens_revoked"] != nil {
				found = true
			}
		}
		if !found {
			t.Fatal("the audit log does not say the deactivation revoked tokens")
		}
	})
}

func TestChangePasswordNeedsTheCurrentOneAndEndsOtherSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")
		other := f.signIn("ana@demo.test", testPassword)
		mine := f.signIn("ana@demo.test", testPassword)
		a, err := f.actor(mine)
		if err != nil {
			t.Fatal(err)
		}
		ctx := keyward.WithActor(context.Background(), a)

		err = f.Svc.ChangePassword(ctx, keyward.PasswordChange{CurrentPassword: "wrong password here", NewPassword: newPassword})
		var e *keyward.Error
		if !asError(err, &e) || e.Code != keyward.EInvalid || e.Field != "current_password" {
			t.Fatalf("wrong current password: %v", err)
		}
		err = f.Svc.ChangePassword(ctx, keyward.PasswordChange{CurrentPassword: testPassword, NewPassword: "short"})
		if !asError(err, &e) || e.Field != "new_password" {
			t.Fatalf("short new password: %v", err)
		}
		if _, err := f.actor(other); err != nil {
			t.Fatalf("a refused change ended a session: %v", err)
		}
		if err := f.Svc.ChangePassword(ctx, keyward.PasswordChange{CurrentPassword: testPassword, NewPassword: newPassword}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(mine); err != nil {
			t.Fatalf("the session that changed the password ended: %v", err)
		}
		_, err = f.actor(other)
		wantCode(t, "another session after the change", err, keyward.EUnauthenticated)
		_, _, err = f.Svc.SignIn(context.Background(), "ana@demo.test", testPassword, "192.0.2.1")
		wantCode(t, "sign-in with the old password", err, keyward.EUnauthenticated)
		f.signIn("ana@demo.test", newPassword)
	})
}

func TestAdminResetForcesAPasswordChangeBeforeAnythingElse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAudit)
		tok := f.token("ana@demo.test")
		ses := f.signIn("ana@demo.test", testPassword)

		// Without the Users feature nobody may reset.
		f.staff("sam@demo.test", keyward.FeatureAudit)
		samCtx, err := f.as(f.token("sam@demo.test"))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Svc.ResetPassword(samCtx, "ana@demo.test")
		wantCode(t, "reset without the Users feature", err, keyward.EFeatureRequired)

		u, temp, err := f.Svc.ResetPassword(f.Ctx, "ana@demo.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(temp) < 12 || !u.MustChangePassword {
			t.Fatalf("reset: temporary password %d characters, must change %v", len(temp), u.MustChangePassword)
		}
		_, err = f.actor(ses)
		wantCode(t, "the session after the reset", err, keyward.EUnauthenticated)
		_, _, err = f.Svc.SignIn(context.Background(), "ana@demo.test", testPassword, "192.0.2.1")
		wantCode(t, "sign-in with the old password", err, keyward.EUnauthenticated)

		// The token authenticates but every call but the change is refused.
		ctx, err := f.as(tok)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Svc.ListAudit(ctx, 0, 10)
		wantCode(t, "a call before the change", err, keyward.EPasswordChange)
		_, _, err = f.Svc.CreateToken(ctx, "", keyward.TokenCreate{Name: "sneaky"})
		wantCode(t, "a new token before the change", err, keyward.EPasswordChange)
		if me, err := f.Svc.Me(ctx); err != nil || !me.MustChangePassword {
			t.Fatalf("me before the change: %+v, %v", me, err)
		}

		// The temporary password signs in to a session that can only change it.
		sctx := keyward.WithActor(context.Background(), mustActor(t, f, f.signIn("ana@demo.test", temp)))
		_, err = f.Svc.TOTPEnabled(sctx)
		wantCode(t, "a page before the change", err, keyward.EPasswordChange)
		if err := f.Svc.ChangePassword(sctx, keyward.PasswordChange{CurrentPassword: temp, NewPassword: newPassword}); err != nil {
			t.Fatal(err)
		}
		ctx, err = f.as(tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.ListAudit(ctx, 0, 10); err != nil {
			t.Fatalf("the token after the change: %v", err)
		}

		// An administrator cannot reset their own password, and the audit
		// log records the reset without the password.
		me := f.staff("boss@demo.test", keyward.FeatureUsers, keyward.FeatureAudit)
		bctx, err := f.as(f.token(me.Email))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Svc.ResetPassword(bctx, me.Email)
		wantCode(t, "resetting oneself", err, keyward.EInvalid)
		p, err := f.Svc.ListAudit(f.Ctx, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		var reset bool
		for _, e := range p.Data {
			if e.Action == "user.password_reset" && e.ObjectID == u.ID {
				reset = true
			}
			for _, v := range e.Changes {
				if s, ok := v.(string); ok && strings.Contains(s, temp) {
					t.Fatalf("the audit log holds the temporary password: %+v", e)
				}
			}
		}
		if !reset {
			t.Fatal("the reset is not in the audit log")
		}
	})
}

func mustActor(t *testing.T, f *fixture, session string) *keyward.Actor {
	t.Helper()
	a, err := f.actor(session)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSignInForTokenGivesAUserTheirFirstToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAudit)
		ctx := context.Background()

		_, _, err := f.Svc.SignInForToken(ctx, service.TokenSignIn{Email: "ana@demo.test", Password: "not the password"}, "192.0.2.1")
		wantCode(t, "a wrong password", err, keyward.EUnauthenticated)
		_, _, err = f.Svc.SignInForToken(ctx, service.TokenSignIn{Email: "ana@demo.test", Password: testPassword, ExpiresAt: &f.Now}, "192.0.2.1")
		wantCode(t, "an expiry in the past", err, keyward.EInvalid)

		tk, tok, err := f.Svc.SignInForToken(ctx, service.TokenSignIn{Email: "ana@demo.test", Password: testPassword, Name: "laptop"}, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		tctx, err := f.as(tok)
		if err != nil || tk.Name != "laptop" {
			t.Fatalf("the token signs nothing in: %v (%+v)", err, tk)
		}
		if _, err := f.Svc.ListAudit(tctx, 0, 1); err != nil {
			t.Fatal(err)
		}

		// After a reset, only a sign-in that sets a new password gets a token.
		if _, _, err := f.Svc.ResetPassword(f.Ctx, "ana@demo.test"); err != nil {
			t.Fatal(err)
		}
		_, temp, err := f.Svc.ResetPassword(f.Ctx, "ana@demo.test")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Svc.SignInForToken(ctx, service.TokenSignIn{Email: "ana@demo.test", Password: temp}, "192.0.2.1")
		wantCode(t, "a temporary password without new_password", err, keyward.EPasswordChange)
		_, tok, err = f.Svc.SignInForToken(ctx, service.TokenSignIn{Email: "ana@demo.test", Password: temp, NewPassword: newPassword}, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		tctx, err = f.as(tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.ListAudit(tctx, 0, 1); err != nil {
			t.Fatalf("the token after setting a new password: %v", err)
		}
		ts, err := f.Svc.ListTokens(tctx)
		if err != nil || len(ts) != 2 {
			t.Fatalf("tokens: %d, %v; want the laptop token and the new one, none from the refused sign-in", len(ts), err)
		}
		f.signIn("ana@demo.test", newPassword)
	})
}

func TestOperatorGivesATenantItsFirstAdministrator(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		if _, err := f.Svc.CreateTenant(f.Op, keyward.TenantCreate{Domain: "acme"}); err != nil {
			t.Fatal(err)
		}
		_, err := f.Svc.CreateTenantAdmin(f.Ctx, "acme", service.TenantAdminCreate{Email: "owner@acme.test"})
		wantCode(t, "a tenant's system actor creating an administrator", err, keyward.EForbidden)
		_, err = f.Svc.CreateTenantAdmin(f.Op, "acme", service.TenantAdminCreate{Email: "not an address"})
		wantCode(t, "a bad e-mail address", err, keyward.EInvalid)

		first, err := f.Svc.CreateTenantAdmin(f.Op, "acme", service.TenantAdminCreate{Email: "Owner@Acme.test", Name: "Owner"})
		if err != nil {
			t.Fatal(err)
		}
		if !first.Created || first.User.Email != "owner@acme.test" || !strings.HasPrefix(first.Link, "kwl_") || !first.ExpiresAt.Equal(f.Now.Add(24*time.Hour)) {
			t.Fatalf("first administrator: %+v", first)
		}
		// A second link replaces the first.
		second, err := f.Svc.CreateTenantAdmin(f.Op, "acme", service.TenantAdminCreate{Email: "owner@acme.test"})
		if err != nil || second.Created || second.User.ID != first.User.ID {
			t.Fatalf("second link: %+v, %v", second, err)
		}
		_, _, err = f.Svc.RedeemSignInLink(context.Background(), first.Link, newPassword, "192.0.2.1")
		wantCode(t, "the replaced link", err, keyward.ENotFound)
		if u, err := f.Svc.SignInLinkUser(context.Background(), second.Link); err != nil || u.Email != "owner@acme.test" {
			t.Fatalf("link user: %v, %v", u, err)
		}
		_, _, err = f.Svc.RedeemSignInLink(context.Background(), second.Link, "short", "192.0.2.1")
		wantCode(t, "a short password", err, keyward.EInvalid)

		_, ses, err := f.Svc.RedeemSignInLink(context.Background(), second.Link, newPassword, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		a := mustActor(t, f, ses)
		if a.Domain != "acme" || !a.Features.Has(keyward.FeatureUsers) || a.MustChangePassword {
			t.Fatalf("the new administrator acts as %+v", a)
		}
		_, _, err = f.Svc.RedeemSignInLink(context.Background(), second.Link, "another long passphrase", "192.0.2.1")
		wantCode(t, "a used link", err, keyward.ENotFound)
		f.signIn("owner@acme.test", newPassword)

		third, err := f.Svc.CreateTenantAdmin(f.Op, "acme", service.TenantAdminCreate{Email: "owner@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		f.Now = f.Now.Add(24*time.Hour + time.Second)
		_, _, err = f.Svc.RedeemSignInLink(context.Background(), third.Link, "another long passphrase", "192.0.2.1")
		wantCode(t, "an expired link", err, keyward.ENotFound)
	})
}

func TestRotateOperatorTokenRetiresTheOldOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		old, err := f.Svc.EnsureOperatorToken(ctx, "")
		if err != nil || old == "" {
			t.Fatalf("first start: %q, %v", old, err)
		}
		opCtx, err := f.as(old)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Svc.RotateOperatorToken(f.Ctx)
		wantCode(t, "a tenant rotating the operator token", err, keyward.EForbidden)
		fresh, err := f.Svc.RotateOperatorToken(opCtx)
		if err != nil || !strings.HasPrefix(fresh, "kwo_") {
			t.Fatalf("rotate: %q, %v", fresh, err)
		}
		_, err = f.as(old)
		wantCode(t, "the old operator token", err, keyward.EUnauthenticated)
		if a, err := f.as(fresh); err != nil || keyward.ActorFrom(a).Kind != keyward.ActorOperator {
			t.Fatalf("the new operator token: %v", err)
		}
	})
}

func TestSignInForTokenAsksForTheSecondFactor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAudit)
		uctx := keyward.WithActor(context.Background(), mustActor(t, f, f.signIn("ana@demo.test", testPassword)))
		setup, err := f.Svc.NewTOTP(uctx)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := totp.GenerateCode(setup.Secret, f.Now)
		if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, c); err != nil {
			t.Fatal(err)
		}
		in := service.TokenSignIn{Email: "ana@demo.test", Password: testPassword}
		_, _, err = f.Svc.SignInForToken(context.Background(), in, "192.0.2.1")
		var e *keyward.Error
		if !asError(err, &e) || e.Field != "code" {
			t.Fatalf("the password alone with a second factor on: %v", err)
		}
		in.Code = "000000"
		_, _, err = f.Svc.SignInForToken(context.Background(), in, "192.0.2.1")
		wantCode(t, "a wrong code", err, keyward.EInvalid)
		f.Now = f.Now.Add(30 * time.Second)
		in.Code, _ = totp.GenerateCode(setup.Secret, f.Now)
		_, tok, err := f.Svc.SignInForToken(context.Background(), in, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.as(tok); err != nil {
			t.Fatalf("the token from a two-factor sign-in: %v", err)
		}
	})
}

// A user revokes their own tokens; an administrator holding Users revokes
// anyone's through the tenant's tokens, never through "my tokens"; anyone
// else is told the token does not exist.
func TestTokenRevocationFollowsWhoseTokenItIs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")
		f.staff("bo@demo.test")
		f.staff("cy@demo.test", keyward.FeatureUsers)
		as := func(email string) context.Context {
			a, err := f.actor(f.signIn(email, testPassword))
			if err != nil {
				t.Fatal(err)
			}
			return keyward.WithActor(context.Background(), a)
		}
		ana, bo, cy := as("ana@demo.test"), as("bo@demo.test"), as("cy@demo.test")
		token := func() string {
			tok, _, err := f.Svc.CreateToken(ana, "", keyward.TokenCreate{Name: "ci"})
			if err != nil {
				t.Fatal(err)
			}
			return tok.ID
		}
		id := token()
		for name, try := range map[string]func() error{
			"another user, my tokens":     func() error { return f.Svc.RevokeMyToken(bo, id) },
			"another user, tenant's":      func() error { return f.Svc.DeleteToken(bo, id) },
			"an administrator, my tokens": func() error { return f.Svc.RevokeMyToken(cy, id) },
		} {
			if err := try(); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Errorf("%s: %v, want not_found", name, err)
			}
		}
		if err := f.Svc.DeleteToken(cy, id); err != nil {
			t.Fatalf("an administrator, tenant's: %v", err)
		}
		if err := f.Svc.RevokeMyToken(ana, token()); err != nil {
			t.Fatalf("the owner, my tokens: %v", err)
		}
		if err := f.Svc.DeleteToken(ana, token()); err != nil {
			t.Fatalf("the owner, tenant's: %v", err)
		}
		if left, _ := f.Svc.ListTokens(ana); len(left) != 0 {
			t.Fatalf("tokens left: %d", len(left))
		}
	})
}
