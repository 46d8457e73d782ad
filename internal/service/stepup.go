package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// StepUpWindow is how long a password check lasts for the back office's
// most sensitive actions (creating or rolling an API key, generating
// merchant credentials, connector secrets, changing profiles): older than
// this, they ask for the password, and the TOTP code when it is on, again.
const StepUpWindow = 5 * time.Minute

// StepUpNeeded reports whether the caller must prove their password again
// before a sensitive action. Only back-office sessions are asked: a
// personal access token acts within its own scope.
func (s *Service) StepUpNeeded(ctx context.Context) (bool, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil || a.Kind != keyward.ActorUser || !strings.HasPrefix(a.TokenID, "ses_") {
		return false, nil
	}
	ses, err := s.db.Read().SessionByID(ctx, a.TokenID)
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return false, sessionEnded()
	} else if err != nil {
		return false, err
	}
	return ses.CheckedAt == nil || s.now().Sub(*ses.CheckedAt) >= StepUpWindow, nil
}

// StepUp checks the caller's password, and their TOTP code when
// two-factor sign-in is on, and records the check for StepUpWindow. The
// session gets a new id on its next request. Wrong passwords count
// towards the same throttle as a password change.
func (s *Service) StepUp(ctx context.Context, password, code string) error {
	a, err := userCaller(ctx)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(a.TokenID, "ses_") {
		return keyward.Errorf(keyward.EForbidden, "Only a back-office session confirms its password this way.")
	}
	if password == "" {
		return keyward.Invalid("password", "Enter your password.")
	}
	att, err := s.attempt(ctx, []limit{{"password:" + a.UserID, SignInMaxFailures}})
	if err != nil {
		return err
	}
	u, err := s.db.Read().User(ctx, a.TenantID, a.UserID)
	if err != nil {
		return err
	}
	ok, _, err := s.checkPassword(u.PasswordHash, password)
	if err != nil && !errors.Is(err, secret.ErrPasswordTooLong) {
		s.log.Error("check password: stored hash unusable", "user", u.ID, "err", err)
	}
	if !ok {
		return keyward.Invalid("password", "The password is wrong.")
	}
	// The password was right: not a failure, whatever the code.
	if err := s.db.Write(ctx, func(q *store.Q) error { return att.succeeded(ctx, q) }); err != nil {
		return err
	}
	checked := func(q *store.Q) error {
		if err := q.CheckSession(ctx, a.TokenID, s.now()); err != nil {
			return err
		}
		if err := q.ExpireSessionGrant(ctx, a.TokenID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.step_up", "user", a.UserID, nil)
	}
	on, err := s.TOTPEnabled(ctx)
	if err != nil {
		return err
	}
	if !on {
		return s.db.Write(ctx, checked)
	}
	if strings.TrimSpace(code) == "" {
		return keyward.Invalid("code", "Enter the current 6-digit code from your authenticator app.")
	}
	return s.checkTOTP(ctx, a.TenantID, a.UserID, a.Address, "", code, checked)
}
