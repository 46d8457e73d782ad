package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// RecoveryCodeCount is how many recovery codes a user gets when turning
// two-factor sign-in on, or when asking for new ones.
const RecoveryCodeCount = 10

// recoveryCodeLen is a recovery code's length in base32 characters, 125
// bits, shown in groups of five.
const recoveryCodeLen = 25

// newRecoveryCodes returns RecoveryCodeCount new codes as shown to the
// user and the SHA-256 of each, which is all that is kept.
func newRecoveryCodes() (codes []string, digests [][]byte) {
	for range RecoveryCodeCount {
		raw := strings.ToLower((rand.Text() + rand.Text())[:recoveryCodeLen])
		var groups []string
		for i := 0; i < len(raw); i += 5 {
			groups = append(groups, raw[i:i+5])
		}
		codes = append(codes, strings.Join(groups, "-"))
		d := recoveryDigest(raw)
		digests = append(digests, d[:])
	}
	return codes, digests
}

// normaliseRecoveryCode reads a code as typed: case, spaces and hyphens
// do not matter. It returns "" for anything that cannot be a code.
func normaliseRecoveryCode(code string) string {
	code = strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
	if len(code) != recoveryCodeLen {
		return ""
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return ""
		}
	}
	return code
}

func recoveryDigest(normalised string) [32]byte {
	return sha256.Sum256([]byte("keyward recovery code\x00" + normalised))
}

// putRecoveryCodes replaces a user's recovery codes.
func (s *Service) putRecoveryCodes(ctx context.Context, q *store.Q, tenantID, userID string, digests [][]byte) error {
	ids := make([]string, len(digests))
	for i := range ids {
		ids[i] = keyward.NewID("rcv")
	}
	return q.ReplaceRecoveryCodes(ctx, tenantID, userID, ids, digests, s.now())
}

// RecoveryCodesLeft reports how many of the caller's recovery codes are
// unused.
func (s *Service) RecoveryCodesLeft(ctx context.Context) (int, error) {
	a, err := userCaller(ctx)
	if err != nil {
		return 0, err
	}
	return s.db.Read().UnusedRecoveryCodes(ctx, a.UserID)
}

// RegenerateRecoveryCodes replaces the caller's recovery codes with
// RecoveryCodeCount new ones, returned this once; the old ones stop
// working. Two-factor sign-in must be on.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context) ([]string, error) {
	a, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if on, err := s.TOTPEnabled(ctx); err != nil {
		return nil, err
	} else if !on {
		return nil, keyward.Errorf(keyward.EConflict, "Two-factor sign-in is off, so there are no recovery codes. Turn it on first.")
	}
	codes, digests := newRecoveryCodes()
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := s.putRecoveryCodes(ctx, q, a.TenantID, a.UserID, digests); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.recovery_codes_regenerate", "user", a.UserID, map[string]any{"recovery_codes": len(codes)})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// SignInRecoveryCode completes a pending sign-in with one of the user's
// recovery codes instead of a TOTP code. Each code works once; the answer
// says how many remain. Guesses count towards the same throttle as TOTP
// codes.
func (s *Service) SignInRecoveryCode(ctx context.Context, pendingToken, code, address string) (*Session, string, int, error) {
	expired := keyward.Errorf(keyward.EUnauthenticated, "The sign-in has expired. Sign in again with your e-mail address and password.")
	pending, err := s.sessionByToken(ctx, pendingToken)
	if err != nil {
		return nil, "", 0, err
	}
	if pending == nil || !pending.PendingMFA || !s.now().Before(pending.ExpiresAt) {
		return nil, "", 0, expired
	}
	u, err := s.db.Read().User(ctx, pending.TenantID, pending.UserID)
	if err != nil || !u.Active {
		return nil, "", 0, expired
	}
	att, err := s.attempt(ctx, totpLimits(u.ID, address))
	if err != nil {
		return nil, "", 0, err
	}
	wrong := keyward.Invalid("recovery_code", "The recovery code is wrong or has already been used.")
	norm := normaliseRecoveryCode(code)
	if norm == "" {
		return nil, "", 0, wrong
	}
	d := recoveryDigest(norm)
	var ses *Session
	var token string
	var left int
	err = s.db.Write(ctx, func(q *store.Q) error {
		ok, err := q.UseRecoveryCode(ctx, u.ID, d[:], s.now())
		if err != nil {
			return err
		}
		if !ok {
			return wrong
		}
		if err := att.succeeded(ctx, q); err != nil {
			return err
		}
		if left, err = q.UnusedRecoveryCodes(ctx, u.ID); err != nil {
			return err
		}
		if err := q.DeleteSession(ctx, pending.ID); err != nil {
			return err
		}
		a := &keyward.Actor{Kind: keyward.ActorUser, TenantID: u.TenantID, UserID: u.ID, Email: u.Email, Address: address}
		if err := s.audit(ctx, q, a, u.TenantID, "user.recovery_code_use", "user", u.ID, map[string]any{"recovery_codes_left": left}); err != nil {
			return err
		}
		ses, token, err = s.openSession(ctx, q, u, false, address)
		return err
	})
	if err != nil {
		return nil, "", 0, err
	}
	return ses, token, left, nil
}

// ResetTOTP turns another user's second factor off, for a user who lost
// both their authenticator and their recovery codes: their recovery codes
// go too and their sessions end. It needs the Users feature.
func (s *Service) ResetTOTP(ctx context.Context, idOrEmail string) (*keyward.User, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	var u *keyward.User
	err = s.db.Write(ctx, func(q *store.Q) error {
		if u, err = q.User(ctx, a.TenantID, idOrEmail); err != nil {
			return err
		}
		if u.ID == a.UserID {
			return keyward.Invalid("user", "To turn off your own two-factor sign-in, use your name > Account; a reset is for other users.")
		}
		return s.resetTOTP(ctx, q, a, u)
	})
	return u, err
}

// ResetTenantAdminTOTP is ResetTOTP for the operator, for a tenant whose
// last administrator is locked out: it resets the second factor of the
// tenant's user email only when that user holds the Users feature and no
// other active user does, who could reset it instead.
func (s *Service) ResetTenantAdminTOTP(ctx context.Context, domain, email string) (*keyward.User, error) {
	a, err := operatorActor(ctx)
	if err != nil {
		return nil, err
	}
	var u *keyward.User
	err = s.db.Write(ctx, func(q *store.Q) error {
		t, err := q.TenantByDomain(ctx, domain)
		if err != nil {
			return err
		}
		if u, err = q.User(ctx, t.ID, strings.ToLower(strings.TrimSpace(email))); err != nil {
			return err
		}
		users, err := q.ListUsers(ctx, t.ID)
		if err != nil {
			return err
		}
		var admins []*keyward.User
		for _, o := range users {
			p, err := q.Profile(ctx, t.ID, o.ProfileID)
			if err != nil {
				return err
			}
			if o.Active && p.Features.Has(keyward.FeatureUsers) {
				admins = append(admins, o)
			}
		}
		if !slices.ContainsFunc(admins, func(o *keyward.User) bool { return o.ID == u.ID }) {
			return keyward.Invalid("email", "%s is not an active administrator (a user holding the Users feature) of %s.", u.Email, domain)
		}
		for _, o := range admins {
			if o.ID != u.ID {
				return keyward.Errorf(keyward.EConflict, "%s can reset this second factor under Staff > Users; the operator resets only a tenant's last administrator.", o.Email)
			}
		}
		return s.resetTOTP(ctx, q, a, u)
	})
	return u, err
}

// resetTOTP turns u's second factor off for someone else, audited.
func (s *Service) resetTOTP(ctx context.Context, q *store.Q, a *keyward.Actor, u *keyward.User) error {
	if err := q.SetUserTOTP(ctx, u.ID, "", 0); err != nil {
		return err
	}
	if err := q.DeleteRecoveryCodes(ctx, u.ID); err != nil {
		return err
	}
	if err := q.DeleteUserSessions(ctx, u.ID, ""); err != nil {
		return err
	}
	return s.audit(ctx, q, a, u.TenantID, "user.totp_reset", "user", u.ID, nil)
}
