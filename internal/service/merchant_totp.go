package service

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Merchant users may turn on TOTP for portal sign-in as staff do: the seed
// is sealed (merchant_users.totp_sealed, in store.SealedFields so that
// rotating the master key reaches it), sign-in then waits on the same code
// page, and code attempts share the staff throttle.

// merchantTOTPPlace is where a merchant user's TOTP seed is sealed.
func merchantTOTPPlace(tenantID, merchantUserID string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: merchantUserID, Field: "merchant_users.totp_sealed"}
}

// checkMerchantTOTP is checkTOTP for a merchant user, whose seed is kept
// with the merchant users; attempts count against the same limits as
// staff codes.
func (s *Service) checkMerchantTOTP(ctx context.Context, u *keyward.MerchantUser, address, seed, code string, then func(q *store.Q) error) error {
	return s.checkFactor(ctx, secondFactor{
		userID: u.ID, place: merchantTOTPPlace(u.TenantID, u.ID),
		stored: func(q *store.Q) (string, int64, error) { return q.MerchantUserTOTP(ctx, u.ID) },
		set: func(q *store.Q, sealed string, step int64) error {
			return q.SetMerchantUserTOTP(ctx, u.ID, sealed, step)
		},
		accept: func(q *store.Q, step int64) (bool, error) { return q.AcceptMerchantTOTPStep(ctx, u.ID, step) },
	}, address, seed, code, then)
}

// portalUser returns the calling merchant user.
func (s *Service) portalUser(ctx context.Context) (*keyward.Actor, *keyward.MerchantUser, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.db.Read().MerchantUser(ctx, a.TenantID, a.UserID)
	return a, u, err
}

// MerchantTOTPEnabled reports whether the calling merchant user has a
// second factor.
func (s *Service) MerchantTOTPEnabled(ctx context.Context) (bool, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return false, err
	}
	seed, _, err := s.db.Read().MerchantUserTOTP(ctx, a.UserID)
	return seed != "", err
}

// NewMerchantTOTP makes a fresh TOTP seed for the calling merchant user to
// load into an authenticator app. Nothing is stored until
// EnableMerchantTOTP confirms a code.
func (s *Service) NewMerchantTOTP(ctx context.Context) (*TOTPSetup, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return nil, err
	}
	return newTOTPSetup(a)
}

// EnableMerchantTOTP makes seed the calling merchant user's second factor
// once code proves an authenticator app holds it; the seed is kept sealed.
// The user's other portal sessions end.
func (s *Service) EnableMerchantTOTP(ctx context.Context, seed, code string) error {
	a, u, err := s.portalUser(ctx)
	if err != nil {
		return err
	}
	on, err := s.MerchantTOTPEnabled(ctx)
	if err != nil {
		return err
	}
	if err := checkNewSeed(seed, on); err != nil {
		return err
	}
	return s.checkMerchantTOTP(ctx, u, a.Address, seed, code, func(q *store.Q) error {
		if err := q.DeleteOtherMerchantSessions(ctx, u.ID, a.TokenID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "merchant_user.totp_enable", "merchant_user", u.ID, nil)
	})
}

// DisableMerchantTOTP turns the calling merchant user's second factor off,
// given a current code. The user's other portal sessions end.
func (s *Service) DisableMerchantTOTP(ctx context.Context, code string) error {
	a, u, err := s.portalUser(ctx)
	if err != nil {
		return err
	}
	if on, err := s.MerchantTOTPEnabled(ctx); err != nil || !on {
		return err
	}
	return s.checkMerchantTOTP(ctx, u, a.Address, "", code, func(q *store.Q) error {
		if err := q.SetMerchantUserTOTP(ctx, u.ID, "", 0); err != nil {
			return err
		}
		if err := q.DeleteOtherMerchantSessions(ctx, u.ID, a.TokenID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "merchant_user.totp_disable", "merchant_user", u.ID, nil)
	})
}

// SignInSecondFactorAny completes a pending sign-in, staff or merchant,
// with a TOTP code (see SignInSecondFactor). The pending session is
// replaced by a new one with a new id; each code is accepted once.
func (s *Service) SignInSecondFactorAny(ctx context.Context, pendingToken, code, address string) (*SignInResult, error) {
	pending, err := s.merchantSessionByToken(ctx, pendingToken)
	if err != nil {
		return nil, err
	}
	if pending == nil {
		ses, token, err := s.SignInSecondFactor(ctx, pendingToken, code, address)
		if err != nil {
			return nil, err
		}
		return &SignInResult{Staff: ses, Token: token}, nil
	}
	expired := keyward.Errorf(keyward.EUnauthenticated, "The sign-in has expired. Sign in again with your e-mail address and password.")
	if !pending.PendingMFA || !s.now().Before(pending.ExpiresAt) {
		return nil, expired
	}
	u, err := s.db.Read().MerchantUserByID(ctx, pending.MerchantUserID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, expired
	}
	var ses *MerchantSession
	var token string
	err = s.checkMerchantTOTP(ctx, u, address, "", code, func(q *store.Q) error {
		if err := q.DeleteMerchantSession(ctx, pending.ID); err != nil {
			return err
		}
		ses, token, err = s.openMerchantSession(ctx, q, u, address, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &SignInResult{Merchant: ses, Token: token}, nil
}

// MerchantSignInPending reports whether a pending sign-in token belongs to
// a merchant user waiting for their second factor (rather than to staff).
func (s *Service) MerchantSignInPending(ctx context.Context, pendingToken string) bool {
	ses, err := s.merchantSessionByToken(ctx, pendingToken)
	return err == nil && ses != nil && ses.PendingMFA
}
