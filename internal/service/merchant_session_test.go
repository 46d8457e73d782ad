package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// portalUser adds a merchant user with a portal password.
func (f *fixture) portalUser(level int) (*keyward.MerchantUser, string) {
	f.TB.Helper()
	m, err := f.Svc.CreateMerchant(f.Ctx, keyward.MerchantCreate{Name: "Acme Couriers"})
	if err != nil {
		f.TB.Fatal(err)
	}
	u, err := f.Svc.CreateMerchantUser(f.Ctx, m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: level, APIAccess: level == keyward.MerchantLevel2})
	if err != nil {
		f.TB.Fatal(err)
	}
	pw, err := f.Svc.SetMerchantUserPassword(f.Ctx, m.ID, u.ID)
	if err != nil {
		f.TB.Fatal(err)
	}
	return u, pw
}

func TestMerchantPortalSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u, pw := f.portalUser(keyward.MerchantLevel2)
		const addr = "198.51.100.7"

		res, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil || res.Merchant == nil || res.Staff != nil {
			t.Fatalf("sign in: %+v, %v", res, err)
		}
		a, err := f.Svc.WebActor(ctx, res.Token, addr)
		if err != nil || a.Kind != keyward.ActorMerchant || a.UserID != u.ID || !a.Features.Has(service.PortalAPISettings) {
			t.Fatalf("actor: %+v, %v", a, err)
		}
		// A merchant actor is refused every administrators' call.
		if _, err := f.Svc.ListKeys(keyward.WithActor(ctx, a), keyward.KeyFilter{}); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("list keys as a merchant user: %v", err)
		}
		// Its own Auth Key, regenerated, works at once; the old one stops.
		nu, err := f.Svc.RegenerateOwnAuthKey(keyward.WithActor(ctx, a), keyward.AuthKeyRegenerate{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Svc.AuthenticateMerchant(ctx, u.AccountID, nu.AuthKey, addr); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, _, err := f.Svc.AuthenticateMerchant(ctx, u.AccountID, u.AuthKey, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("old key: %v", err)
		}

		// Idle for the staff limit: the session ends.
		f.Advance(service.SessionIdle)
		if _, err := f.Svc.WebActor(ctx, res.Token, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after %v idle: %v", service.SessionIdle, err)
		}

		// Signing out ends it; so does a new portal password.
		res, err = f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Svc.SignOutAny(ctx, res.Token, addr); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.WebActor(ctx, res.Token, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after sign-out: %v", err)
		}
		res, err = f.Svc.SignInAny(ctx, "", u.Email, pw, addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.SetMerchantUserPassword(f.Ctx, u.MerchantID, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.WebActor(ctx, res.Token, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("after a new portal password: %v", err)
		}
		if _, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("the old portal password: %v", err)
		}
	})
}

func TestMerchantSignInSharesTheStaffThrottle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		u, pw := f.portalUser(keyward.MerchantLevel1)
		const addr = "198.51.100.8"
		for i := range service.SignInMaxFailures {
			if _, err := f.Svc.SignInAny(ctx, "", u.Email, "wrong password "+string(rune('a'+i)), addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		if _, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr); keyward.ErrorCode(err) != keyward.ERateLimited {
			t.Fatalf("after %d failures: %v", service.SignInMaxFailures, err)
		}
		// After the wait, the right password signs in, and its success
		// forgets the failures.
		f.Advance(service.SignInBaseDelay + time.Second)
		if _, err := f.Svc.SignInAny(ctx, "", u.Email, pw, addr); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
		if _, err := f.Svc.SignInAny(ctx, "", u.Email, "wrong again", addr); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("one failure after a success: %v", err)
		}
	})
}
