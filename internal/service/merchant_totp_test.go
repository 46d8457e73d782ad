package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A merchant user turns TOTP on from the portal: the seed is stored
// sealed, sign-in then waits for a code whose pending session opens
// nothing, each code works once, wrong codes are throttled as staff codes
// are, and turning it off needs a current code.
func TestMerchantTOTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newSealedFixture(t, db)
		ctx := context.Background()
		u, pw := f.portalUser(keyward.MerchantLevel2)
		const addr = "198.51.100.9"

		res, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil || res.Merchant == nil || res.Merchant.PendingMFA {
			t.Fatalf("sign in without a second factor: %+v, %v", res, err)
		}
		a, err := f.Svc.WebActor(ctx, res.Token, addr)
		if err != nil {
			t.Fatal(err)
		}
		mctx := keyward.WithActor(ctx, a)
		if on, err := f.Svc.MerchantTOTPEnabled(mctx); err != nil || on {
			t.Fatalf("TOTP before turning it on: %v, %v", on, err)
		}
		setup, err := f.Svc.NewMerchantTOTP(mctx)
		if err != nil || !strings.HasPrefix(setup.URI, "otpauth://totp/") {
			t.Fatalf("setup: %+v, %v", setup, err)
		}
		if err := f.Svc.EnableMerchantTOTP(mctx, setup.Secret, "000000"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("enable with a wrong code: %v", err)
		}
		code := func() string {
			c, err := totp.GenerateCode(setup.Secret, f.Now)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if err := f.Svc.EnableMerchantTOTP(mctx, setup.Secret, code()); err != nil {
			t.Fatal(err)
		}
		// The seed is kept sealed, never in clear.
		var stored string
		if err := db.SQL().QueryRow(`SELECT totp_sealed FROM merchant_users WHERE id = '` + u.ID + `'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, seal.Version+".") || strings.Contains(stored, setup.Secret) {
			t.Fatalf("the stored seed is not sealed: %q", stored)
		}

		// Sign-in now waits for the code; the pending session opens nothing.
		f.Advance(30 * time.Second)
		res, err = f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil || res.Merchant == nil || !res.Merchant.PendingMFA {
			t.Fatalf("sign in with a second factor: %+v, %v", res, err)
		}
		if _, err := f.Svc.WebActor(ctx, res.Token, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("a pending portal session opened the portal: %v", err)
		}
		if _, err := f.Svc.SignInSecondFactorAny(ctx, res.Token, "000000", addr); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a wrong code: %v", err)
		}
		c := code()
		done, err := f.Svc.SignInSecondFactorAny(ctx, res.Token, c, addr)
		if err != nil || done.Merchant == nil || done.Merchant.PendingMFA || done.Token == res.Token {
			t.Fatalf("the right code: %+v, %v", done, err)
		}
		if a, err := f.Svc.WebActor(ctx, done.Token, addr); err != nil || a.UserID != u.ID {
			t.Fatalf("after the code: %+v, %v", a, err)
		}
		// The same code a second time is refused.
		again, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.SignInSecondFactorAny(ctx, again.Token, c, addr); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("a code used twice: %v", err)
		}
		// Wrong codes are throttled like staff codes.
		var last error
		for range service.SignInMaxFailures + 1 {
			_, last = f.Svc.SignInSecondFactorAny(ctx, again.Token, "000000", addr)
		}
		if keyward.ErrorCode(last) != keyward.ERateLimited {
			t.Fatalf("after %d wrong codes: %v, want rate limited", service.SignInMaxFailures+1, last)
		}

		// Turning it off needs a current code (from another address: this
		// one is throttled now).
		f.Advance(time.Minute)
		a, err = f.Svc.WebActor(ctx, done.Token, "198.51.100.10")
		if err != nil {
			t.Fatal(err)
		}
		mctx = keyward.WithActor(ctx, a)
		if err := f.Svc.DisableMerchantTOTP(mctx, "000000"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("disable with a wrong code: %v", err)
		}
		if err := f.Svc.DisableMerchantTOTP(mctx, code()); err != nil {
			t.Fatal(err)
		}
		res, err = f.Svc.SignInAny(ctx, "", u.Email, pw, "198.51.100.10")
		if err != nil || res.Merchant.PendingMFA {
			t.Fatalf("sign in after turning TOTP off: %+v, %v", res, err)
		}

		// A user who lost their app: an administrator's new portal
		// password turns the second factor off.
		a, err = f.Svc.WebActor(ctx, res.Token, "198.51.100.10")
		if err != nil {
			t.Fatal(err)
		}
		mctx = keyward.WithActor(ctx, a)
		setup, err = f.Svc.NewMerchantTOTP(mctx)
		if err != nil {
			t.Fatal(err)
		}
		f.Advance(time.Minute)
		if err := f.Svc.EnableMerchantTOTP(mctx, setup.Secret, code()); err != nil {
			t.Fatal(err)
		}
		pw, err = f.Svc.SetMerchantUserPassword(f.Ctx, u.MerchantID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		res, err = f.Svc.SignInAny(ctx, "", u.Email, pw, "198.51.100.10")
		if err != nil || res.Merchant == nil || res.Merchant.PendingMFA {
			t.Fatalf("sign in after a new portal password: %+v, %v", res, err)
		}
	})
}

// The merchant TOTP column is among the sealed fields, so rotating the
// master key and the start-up check reach it.
func TestMerchantTOTPIsASealedField(t *testing.T) {
	for _, f := range store.SealedFields {
		if f.Table == "merchant_users" && f.Column == "totp_sealed" && f.TenantColumn == "tenant_id" {
			return
		}
	}
	t.Fatal("merchant_users.totp_sealed is not in store.SealedFields")
}
