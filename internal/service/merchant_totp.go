package service

import (
	"context"
	"encoding/base32"
	"strings"

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

// checkMerchantTOTP is checkTOTP for a merchant user: it checks code
// against the user's seed (or, when seed is given, that seed, which then
// becomes the user's, sealed), accepts its time step once, and runs then
// in the same transaction. Attempts count against the same limits as
// staff codes.
func (s *Service) checkMerchantTOTP(ctx context.Context, u *keyward.MerchantUser, address, seed, code string, then func(q *store.Q) error) error {
	att, err := s.attempt(ctx, totpLimits(u.ID, address))
	if err != nil {
		return err
	}
	wrong := keyward.Invalid("code", "The code is wrong or has already been used. Enter the current 6-digit code from your authenticator app.")
	stored, _, err := s.db.Read().MerchantUserTOTP(ctx, u.ID)
	if err != nil {
		return err
	}
	place := merchantTOTPPlace(u.TenantID, u.ID)
	var sealed string
	if seed != "" {
		if s.keyring == nil {
			return keyward.Errorf(keyward.EUnavailable, "Two-factor sign-in needs a master key to keep its seed sealed, and none is set. Ask the platform operator to set KEYWARD_MASTER_KEY.")
		}
		sealed = string(s.keyring.Seal([]byte(seed), place))
	} else if stored != "" {
		if s.keyring == nil {
			return keyward.Errorf(keyward.EUnavailable, "no master key is set, so the TOTP seed cannot be opened")
		}
		b, err := s.keyring.Open(seal.Sealed(stored), place)
		if err != nil {
			return &keyward.Error{Code: keyward.EInternal, Message: "the TOTP seed of merchant user " + u.ID + " does not open", Err: err}
		}
		seed = string(b)
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	step, ok := totpStep(seed, code, s.now())
	if seed == "" || !ok {
		return wrong
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if stored == "" {
			if err := q.SetMerchantUserTOTP(ctx, u.ID, sealed, step); err != nil {
				return err
			}
		} else if accepted, err := q.AcceptMerchantTOTPStep(ctx, u.ID, step); err != nil {
			return err
		} else if !accepted {
			return wrong
		}
		if err := att.succeeded(ctx, q); err != nil {
			return err
		}
		return then(q)
	})
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
	if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(b) < 16 {
		return keyward.Invalid("secret", "The setup key is not valid. Reload the page to get a new one.")
	}
	if on, err := s.MerchantTOTPEnabled(ctx); err != nil {
		return err
	} else if on {
		return keyward.Errorf(keyward.EConflict, "Two-factor sign-in is already on. Turn it off first to use another authenticator.")
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
