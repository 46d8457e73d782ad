package service_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

const testPassword = "correct horse battery staple"

// staffWithTOTP adds a user with the password who has turned two-factor
// sign-in on, and returns the TOTP seed.
func (f *fixture) staffWithTOTP(email string) string {
	f.TB.Helper()
	f.staff(email)
	a, _ := f.actor(f.signIn(email, testPassword))
	uctx := keyward.WithActor(context.Background(), a)
	setup, _ := f.Svc.NewTOTP(uctx)
	c, _ := totp.GenerateCode(setup.Secret, f.Now)
	if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, c); err != nil {
		f.TB.Fatal(err)
	}
	return setup.Secret
}

// staff adds a user with the password and a new profile holding features.
func (f *fixture) staff(email string, features ...keyward.Feature) *keyward.User {
	f.TB.Helper()
	p, err := f.Svc.CreateProfile(f.Ctx, keyward.ProfileCreate{Name: "P " + email, Features: features})
	if err != nil {
		f.TB.Fatal(err)
	}
	u, _, err := f.Svc.CreateUser(f.Ctx, keyward.UserCreate{Email: email, ProfileID: p.ID, Password: testPassword})
	if err != nil {
		f.TB.Fatal(err)
	}
	return u
}

func (f *fixture) signIn(email, password string) string {
	f.TB.Helper()
	ses, token, err := f.Svc.SignIn(context.Background(), email, password, "192.0.2.1")
	if err != nil {
		f.TB.Fatalf("sign in %s: %v", email, err)
	}
	if ses.PendingMFA {
		f.TB.Fatalf("sign in %s: pending a second factor", email)
	}
	return token
}

func (f *fixture) actor(token string) (*keyward.Actor, error) {
	return f.Svc.SessionActor(context.Background(), token, "192.0.2.1")
}

func TestSignInOpensASessionWhoseFeaturesFollowTheProfile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAPIManagement, keyward.FeatureAudit)
		token := f.signIn("  Ana@Demo.test ", testPassword)
		if !strings.HasPrefix(token, "kws_") {
			t.Fatalf("session id %q lacks the kws_ prefix", token)
		}
		a, err := f.actor(token)
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != "ana@demo.test" || a.Domain != "demo" || !a.Features.Has(keyward.FeatureAPIManagement) || a.TokenID == "" {
			t.Fatalf("actor = %+v", a)
		}
		none := []keyward.Feature{keyward.FeatureAudit}
		if _, err := f.Svc.UpdateProfile(f.Ctx, "P ana@demo.test", keyward.ProfileUpdate{Features: &none}); err != nil {
			t.Fatal(err)
		}
		a, err = f.actor(token)
		if err != nil {
			t.Fatal(err)
		}
		if a.Features.Has(keyward.FeatureAPIManagement) {
			t.Fatal("profile change did not apply on the next request")
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM sessions WHERE digest = ?`, []byte(token)).Scan(&n); err == nil && n != 0 {
			t.Fatal("the session id is stored in plain text")
		}
	})
}

func TestSignInRefusalsLookAlike(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		u := f.staff("ana@demo.test")
		f.staff("off@demo.test")
		off := false
		if _, err := f.Svc.UpdateUser(f.Ctx, "off@demo.test", keyward.UserUpdate{Active: &off}); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ name, email, password string }{
			{"wrong password", u.Email, "not the password at all"},
			{"unknown e-mail", "nobody@demo.test", testPassword},
			{"inactive user", "off@demo.test", testPassword},
			{"empty password", u.Email, ""},
			{"password too long", u.Email, strings.Repeat("x", 300)},
		}
		var first string
		for _, tc := range cases {
			_, _, err := f.Svc.SignIn(context.Background(), tc.email, tc.password, "")
			if keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("%s: got %v, want unauthenticated", tc.name, err)
			}
			if first == "" {
				first = keyward.ErrorMessage(err)
			} else if keyward.ErrorMessage(err) != first {
				t.Fatalf("%s: message %q differs from %q", tc.name, keyward.ErrorMessage(err), first)
			}
		}
	})
}

func TestSignInSlowsGuessesFromOneAddressOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")
		ctx := context.Background()
		const attacker, user = "203.0.113.66", "198.51.100.7"
		for i := range service.SignInMaxFailures {
			_, _, err := f.Svc.SignIn(ctx, "ana@demo.test", "wrong password "+string(rune('a'+i)), attacker)
			if keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		// The attacker must wait, even with the right password...
		_, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, attacker)
		if keyward.ErrorCode(err) != keyward.ERateLimited || !strings.Contains(keyward.ErrorMessage(err), "Wait 1 minute") {
			t.Fatalf("6th attempt from the guessing address: got %v, want rate_limited with a wait of 1 minute", err)
		}
		// ...but the real user, elsewhere, is not locked out.
		if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, user); err != nil {
			t.Fatalf("the user from another address: %v", err)
		}

		// Each further failure doubles the wait: 1, 2, 4 minutes.
		for _, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
			f.Now = f.Now.Add(wait - time.Second)
			if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", "wrong", attacker); keyward.ErrorCode(err) != keyward.ERateLimited {
				t.Fatalf("attempt %s early: %v", time.Second, err)
			}
			f.Now = f.Now.Add(time.Second)
			if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", "wrong", attacker); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("attempt after waiting %s: %v", wait, err)
			}
		}
		_, _, err = f.Svc.SignIn(ctx, "ana@demo.test", testPassword, attacker)
		if !strings.Contains(keyward.ErrorMessage(err), "Wait 8 minutes") {
			t.Fatalf("after 8 failures: %v, want a wait of 8 minutes", err)
		}
		f.Now = f.Now.Add(8 * time.Minute)
		if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, attacker); err != nil {
			t.Fatalf("the right password once the wait is over: %v", err)
		}
	})
}

func TestSignInLimitsOneAddressAcrossAccounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")
		ctx := context.Background()
		guess := func(i int) error {
			_, _, err := f.Svc.SignIn(ctx, "guess"+strconv.Itoa(i)+"@demo.test", "x", "203.0.113.7")
			return err
		}
		for i := range service.SignInAddressMaxFailures - 1 {
			if err := guess(i); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		// A successful sign-in from the address is not held against it.
		if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "203.0.113.7"); err != nil {
			t.Fatalf("the right password after %d failures from the address: %v", service.SignInAddressMaxFailures-1, err)
		}
		if err := guess(100); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("guess %d: %v", service.SignInAddressMaxFailures, err)
		}
		if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "203.0.113.7"); keyward.ErrorCode(err) != keyward.ERateLimited {
			t.Fatalf("sign-in from an address that guessed %d accounts: %v", service.SignInAddressMaxFailures, err)
		}
		if _, _, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "203.0.113.8"); err != nil {
			t.Fatalf("sign-in from another address: %v", err)
		}
	})
}

func TestParallelWrongPasswordsAreCheckedAtMostTheLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")
		checks := service.CountPasswordChecks(f.Svc)
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = f.Svc.SignIn(context.Background(), "ana@demo.test", "wrong password "+strconv.Itoa(i), "203.0.113.9")
			})
		}
		wg.Wait()
		refused, wrong := 0, 0
		for _, err := range errs {
			switch keyward.ErrorCode(err) {
			case keyward.ERateLimited:
				refused++
			case keyward.EUnauthenticated:
				wrong++
			default:
				t.Fatalf("unexpected answer: %v", err)
			}
		}
		if got := checks(); got > service.SignInMaxFailures || wrong != int(got) || refused != n-wrong {
			t.Fatalf("%d parallel wrong passwords: %d checked, %d answered wrong, %d refused; want at most %d checked",
				n, got, wrong, refused, service.SignInMaxFailures)
		}
	})
}

func TestSessionsEndOnIdleLifetimeSignOutAndDeactivation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test")

		idle := f.signIn("ana@demo.test", testPassword)
		f.Now = f.Now.Add(service.SessionIdle - time.Second)
		if _, err := f.actor(idle); err != nil {
			t.Fatalf("active before the idle timeout: %v", err)
		}
		f.Now = f.Now.Add(service.SessionIdle)
		if _, err := f.actor(idle); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after the idle timeout: %v", err)
		}

		long := f.signIn("ana@demo.test", testPassword)
		for range int(service.SessionLifetime/(10*time.Minute)) - 1 {
			f.Now = f.Now.Add(10 * time.Minute)
			if _, err := f.actor(long); err != nil {
				t.Fatalf("busy session ended early: %v", err)
			}
		}
		f.Now = f.Now.Add(10 * time.Minute)
		if _, err := f.actor(long); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after the absolute lifetime: %v", err)
		}

		out := f.signIn("ana@demo.test", testPassword)
		if err := f.Svc.SignOut(context.Background(), out, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(out); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after sign-out: %v", err)
		}

		gone := f.signIn("ana@demo.test", testPassword)
		off := false
		if _, err := f.Svc.UpdateUser(f.Ctx, "ana@demo.test", keyward.UserUpdate{Active: &off}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(gone); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after deactivation: %v", err)
		}
		if _, err := f.actor("kws_not-a-session"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("malformed id: %v", err)
		}
	})
}

func TestSignInRehashesAWeakPasswordHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := &fixture{keywardtest.New(t, db, service.WithPasswordHasher(secret.DefaultHasher()))}
		u := f.staff("ana@demo.test")
		salt := make([]byte, 16)
		rand.Read(salt)
		b64 := base64.RawStdEncoding
		u.PasswordHash = "$argon2id$v=19$m=4096,t=1,p=1$" + b64.EncodeToString(salt) + "$" +
			b64.EncodeToString(argon2.IDKey([]byte(testPassword), salt, 1, 4096, 1, 32))
		if err := db.Write(context.Background(), func(q *store.Q) error { return q.UpdateUser(context.Background(), u) }); err != nil {
			t.Fatal(err)
		}
		f.signIn("ana@demo.test", testPassword)
		got, err := db.Read().User(context.Background(), u.TenantID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got.PasswordHash, "$m=19456,t=2,p=1$") {
			t.Fatalf("hash not renewed: %s", got.PasswordHash)
		}
		f.signIn("ana@demo.test", testPassword)
	})
}

func TestTOTPSecondFactorIsSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		f.staff("ana@demo.test")
		ctx := context.Background()
		first := f.signIn("ana@demo.test", testPassword)
		a, err := f.actor(first)
		if err != nil {
			t.Fatal(err)
		}
		other := f.signIn("ana@demo.test", testPassword)
		uctx := keyward.WithActor(ctx, a)
		setup, err := f.Svc.NewTOTP(uctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(setup.URI, "otpauth://totp/") || len(setup.Secret) < 32 {
			t.Fatalf("setup = %+v", setup)
		}
		code := func() string {
			c, err := totp.GenerateCode(setup.Secret, f.Now)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, "000000"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("enable with a wrong code: %v", err)
		}
		if _, err := f.Svc.EnableTOTP(uctx, setup.Secret, code()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.actor(first); err != nil {
			t.Fatalf("the session that turned the second factor on ended: %v", err)
		}
		if _, err := f.actor(other); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("another session survived the second-factor change: %v", err)
		}

		ses, pending, err := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "192.0.2.1")
		if err != nil || !ses.PendingMFA {
			t.Fatalf("sign-in with a second factor: %+v %v", ses, err)
		}
		if _, err := f.actor(pending); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("a pending session acts: %v", err)
		}
		if _, _, err := f.Svc.SignInSecondFactor(ctx, pending, code(), ""); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("the code used to turn the factor on was accepted again: %v", err)
		}
		f.Now = f.Now.Add(30 * time.Second)
		_, full, err := f.Svc.SignInSecondFactor(ctx, pending, code(), "")
		if err != nil {
			t.Fatal(err)
		}
		if full == pending {
			t.Fatal("the session id was not renewed after the second factor")
		}
		if _, err := f.actor(full); err != nil {
			t.Fatal(err)
		}

		_, again, _ := f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "192.0.2.1")
		if _, _, err := f.Svc.SignInSecondFactor(ctx, again, code(), ""); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("replayed code: %v", err)
		}
		f.Now = f.Now.Add(service.SecondFactorWindow)
		if _, _, err := f.Svc.SignInSecondFactor(ctx, again, code(), ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("expired pending sign-in: %v", err)
		}

		a, _ = f.actor(full)
		f.Now = f.Now.Add(30 * time.Second)
		if err := f.Svc.DisableTOTP(keyward.WithActor(ctx, a), code()); err != nil {
			t.Fatal(err)
		}
		f.signIn("ana@demo.test", testPassword)
	})
}

func TestSecondFactorGuessesAreThrottled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		seed := f.staffWithTOTP("ana@demo.test")
		_, pending, _ := f.Svc.SignIn(context.Background(), "ana@demo.test", testPassword, "")
		for range service.SignInMaxFailures {
			f.Svc.SignInSecondFactor(context.Background(), pending, "123456", "")
		}
		f.Now = f.Now.Add(30 * time.Second)
		c, _ := totp.GenerateCode(seed, f.Now)
		if _, _, err := f.Svc.SignInSecondFactor(context.Background(), pending, c, ""); keyward.ErrorCode(err) != keyward.ERateLimited {
			t.Fatalf("right code after 5 wrong ones: %v", err)
		}
	})
}

func TestRequireAndCheckKeyLicence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.staff("ana@demo.test", keyward.FeatureAudit)
		a, _ := f.actor(f.signIn("ana@demo.test", testPassword))
		uctx := keyward.WithActor(context.Background(), a)
		if _, err := service.Require(uctx, keyward.FeatureAPIManagement); keyward.ErrorCode(err) != keyward.EFeatureRequired {
			t.Fatalf("Require without the feature: %v", err)
		}
		if err := f.Svc.CheckKeyLicence(f.Ctx); err != nil {
			t.Fatalf("licensed tenant: %v", err)
		}
		if _, err := f.Svc.RevokeLicence(f.Op, "demo"); err != nil {
			t.Fatal(err)
		}
		err := f.Svc.CheckKeyLicence(f.Ctx)
		if keyward.ErrorCode(err) != keyward.ELicenceRequired || !strings.Contains(keyward.ErrorMessage(err), "sales@platform.test") {
			t.Fatalf("unlicensed tenant: %v", err)
		}
	})
}

func TestEmailAddressesArePerTenant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		f.staff("ana@demo.test")
		other, err := f.Svc.CreateTenant(f.Op, keyward.TenantCreate{Domain: "other", Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		octx := keyward.WithActor(ctx, service.SystemActor(other, "test"))
		p, err := f.Svc.CreateProfile(octx, keyward.ProfileCreate{Name: "Staff"})
		if err != nil {
			t.Fatal(err)
		}
		// Another tenant may hold the same address: it neither learns that
		// the address exists elsewhere nor takes it from the demo tenant.
		const otherPassword = "another tenant's long password"
		if _, _, err := f.Svc.CreateUser(octx, keyward.UserCreate{Email: "ana@demo.test", ProfileID: p.ID, Password: otherPassword}); err != nil {
			t.Fatalf("the same address in another tenant: %v", err)
		}
		if _, _, err := f.Svc.CreateUser(octx, keyward.UserCreate{Email: "ana@demo.test", ProfileID: p.ID, Password: otherPassword}); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("the same address twice in one tenant: %v, want conflict", err)
		}

		// Each password signs in to its own tenant's user.
		for _, tc := range []struct{ password, domain string }{{testPassword, "demo"}, {otherPassword, "other"}} {
			ses, tok, err := f.Svc.SignIn(ctx, "ana@demo.test", tc.password, "192.0.2.1")
			if err != nil {
				t.Fatalf("sign in to %s: %v", tc.domain, err)
			}
			a, err := f.Svc.SessionActor(ctx, tok, "192.0.2.1")
			if err != nil || a.Domain != tc.domain || ses.PendingMFA {
				t.Fatalf("sign in with %s's password: actor %+v, %v", tc.domain, a, err)
			}
		}

		// When one password fits both, sign-in asks which tenant.
		third, err := f.Svc.CreateTenant(f.Op, keyward.TenantCreate{Domain: "third", Name: "Third"})
		if err != nil {
			t.Fatal(err)
		}
		tctx := keyward.WithActor(ctx, service.SystemActor(third, "test"))
		if p, err = f.Svc.CreateProfile(tctx, keyward.ProfileCreate{Name: "Staff"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Svc.CreateUser(tctx, keyward.UserCreate{Email: "ana@demo.test", ProfileID: p.ID, Password: testPassword}); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Svc.SignIn(ctx, "ana@demo.test", testPassword, "192.0.2.1")
		var e *keyward.Error
		if !asError(err, &e) || e.Code != keyward.EInvalid || e.Field != "tenant" {
			t.Fatalf("a password fitting two tenants: %v, want invalid tenant", err)
		}
		for _, domain := range []string{"demo", " Third "} {
			_, tok, err := f.Svc.SignInTo(ctx, domain, "ana@demo.test", testPassword, "192.0.2.1")
			if err != nil {
				t.Fatalf("sign in to %q: %v", domain, err)
			}
			if a, _ := f.Svc.SessionActor(ctx, tok, "192.0.2.1"); a == nil || a.Domain != strings.TrimSpace(strings.ToLower(domain)) {
				t.Fatalf("sign in to %q gave %+v", domain, a)
			}
		}
		// A wrong password reveals nothing about the tenants.
		_, _, err = f.Svc.SignIn(ctx, "ana@demo.test", "not the password", "192.0.2.1")
		if keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("wrong password for a shared address: %v", err)
		}
		if _, _, err := f.Svc.SignInTo(ctx, "nosuch", "ana@demo.test", testPassword, "192.0.2.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("an unknown tenant: %v", err)
		}
	})
}

func TestParallelWrongCodesAreCheckedAtMostTheLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		seed := f.staffWithTOTP("ana@demo.test")
		_, pending, err := f.Svc.SignIn(context.Background(), "ana@demo.test", testPassword, "203.0.113.9")
		if err != nil {
			t.Fatal(err)
		}
		// A code valid at no step in reach.
		wrongCode := "000000"
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			if c, _ := totp.GenerateCode(seed, f.Now.Add(d)); c == wrongCode {
				wrongCode = "000001"
			}
		}
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = f.Svc.SignInSecondFactor(context.Background(), pending, wrongCode, "203.0.113.9")
			})
		}
		wg.Wait()
		refused, wrong := 0, 0
		for _, err := range errs {
			switch keyward.ErrorCode(err) {
			case keyward.ERateLimited:
				refused++
			case keyward.EInvalid:
				wrong++
			default:
				t.Fatalf("unexpected answer: %v", err)
			}
		}
		if wrong > service.SignInMaxFailures || wrong+refused != n {
			t.Fatalf("%d parallel wrong codes: %d checked, %d refused; want at most %d checked", n, wrong, refused, service.SignInMaxFailures)
		}
	})
}
