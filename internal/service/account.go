package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// SignInLinkLifetime is how long a sign-in link the operator issues works;
// it works once.
const SignInLinkLifetime = 24 * time.Hour

// signInLinkPrefix starts every sign-in link secret, so one pasted into a
// chat or a ticket is recognised for what it is.
const signInLinkPrefix = "kwl_"

// passwordChangeRequired is what every call but the password change
// answers while a user must choose a new password.
func passwordChangeRequired() error {
	return keyward.Errorf(keyward.EPasswordChange,
		"Your password was reset or issued by someone else: choose a new one first (under your name > Account in the back office, or POST /api/v1/me/password). Nothing else is allowed until then.")
}

// selfActor returns the caller, who must be a tenant user acting for
// themselves; unlike tenantActor it lets through a user who must change
// their password, so they can.
func selfActor(ctx context.Context) (*keyward.Actor, error) {
	if a := keyward.ActorFrom(ctx); a != nil && a.Kind == keyward.ActorUser {
		return a, nil
	}
	if _, err := tenantActor(ctx, ""); err != nil {
		return nil, err
	}
	return nil, keyward.Errorf(keyward.EForbidden, "Only a signed-in user can do this, for their own account.")
}

// RequireSelf returns the caller if it is a tenant user acting for
// themselves, as selfActor decides, or the error the calls on one's own
// account answer.
func RequireSelf(ctx context.Context) (*keyward.Actor, error) { return selfActor(ctx) }

// Me returns the caller's own user record. It answers even while the
// caller must change their password, so a client can see why it is
// refused elsewhere.
func (s *Service) Me(ctx context.Context) (*keyward.User, error) {
	a, err := selfActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Read().User(ctx, a.TenantID, a.UserID)
}

// ChangePassword changes the caller's own password, given the current
// one. It clears a pending forced change, and ends the caller's other
// sessions. Wrong current passwords count towards the sign-in throttle.
func (s *Service) ChangePassword(ctx context.Context, in keyward.PasswordChange) error {
	a, err := selfActor(ctx)
	if err != nil {
		return err
	}
	if in.CurrentPassword == "" {
		return keyward.Invalid("current_password", "Enter your current password.")
	}
	if err := keyward.ValidPassword("new_password", in.NewPassword); err != nil {
		return err
	}
	if in.NewPassword == in.CurrentPassword {
		return keyward.Invalid("new_password", "The new password must differ from the current one.")
	}
	// Counted before the check, in one locked step, like a sign-in.
	att, err := s.attempt(ctx, []limit{{"password:" + a.UserID, SignInMaxFailures}})
	if err != nil {
		return err
	}
	u, err := s.db.Read().User(ctx, a.TenantID, a.UserID)
	if err != nil {
		return err
	}
	ok, _, err := s.hasher.Check(u.PasswordHash, in.CurrentPassword)
	if err != nil && !errors.Is(err, secret.ErrPasswordTooLong) {
		s.log.Error("check password: stored hash unusable", "user", u.ID, "err", err)
	}
	if !ok {
		return keyward.Invalid("current_password", "The current password is wrong.")
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if err := att.succeeded(ctx, q); err != nil {
			return err
		}
		return s.setPassword(ctx, q, a, u, in.NewPassword, "user.password_change", a.TokenID)
	})
}

// setPassword gives u a password the user chose, clears a forced change,
// ends u's sessions but keep, and records action.
func (s *Service) setPassword(ctx context.Context, q *store.Q, a *keyward.Actor, u *keyward.User, password, action, keep string) error {
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return err
	}
	was := u.MustChangePassword
	u.PasswordHash, u.MustChangePassword, u.UpdatedAt = hash, false, s.now()
	if err := q.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := q.DeleteUserSessions(ctx, u.ID, keep); err != nil {
		return err
	}
	if keep != "" {
		// The session kept gets a new id on its next request.
		if err := q.ExpireSessionGrant(ctx, keep); err != nil {
			return err
		}
	}
	var changes map[string]any
	if was {
		changes = map[string]any{"must_change_password": false}
	}
	return s.audit(ctx, q, a, u.TenantID, action, "user", u.ID, changes)
}

// ResetPassword gives another user of the tenant a temporary password,
// returned once, which they must change at their next sign-in; until then
// their tokens are refused. Their sessions end at once. It needs the Users
// feature.
func (s *Service) ResetPassword(ctx context.Context, idOrEmail string) (*keyward.User, string, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, "", err
	}
	password := secret.GeneratePassword()
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return nil, "", err
	}
	var u *keyward.User
	err = s.db.Write(ctx, func(q *store.Q) error {
		if u, err = q.User(ctx, a.TenantID, idOrEmail); err != nil {
			return err
		}
		if u.ID == a.UserID {
			return keyward.Invalid("user", "To change your own password, use your name > Account (or POST /api/v1/me/password); a reset is for other users.")
		}
		u.PasswordHash, u.MustChangePassword, u.UpdatedAt = hash, true, s.now()
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := q.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.password_reset", "user", u.ID, map[string]any{"must_change_password": true})
	})
	if err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// TokenSignIn asks for a personal access token with an e-mail address
// and password, for a user who has no token yet.
type TokenSignIn struct {
	// Tenant is the tenant's domain, needed only when the e-mail address
	// and password fit users of several tenants.
	Tenant   string `json:"tenant"`
	Email    string `json:"email"`
	Password string `json:"password"`
	// Code is the current TOTP code, for users with two-factor sign-in.
	Code string `json:"code"`
	// NewPassword, when given, becomes the user's password; it is
	// required when the password must be changed first (after a reset).
	NewPassword string     `json:"new_password"`
	Name        string     `json:"name"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

// SignInForToken checks an e-mail address and password as the back
// office's sign-in does (same throttle, same second factor) and returns a
// new personal access token of that user, once. A user who must change
// their password gets a token only by sending new_password.
func (s *Service) SignInForToken(ctx context.Context, in TokenSignIn, address string) (*keyward.Token, string, error) {
	if in.Name == "" {
		in.Name = "sign-in"
	}
	if err := keyward.ValidName("name", in.Name, 100); err != nil {
		return nil, "", err
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		return nil, "", keyward.Invalid("expires_at", "expires_at must be in the future")
	}
	if in.NewPassword != "" {
		if err := keyward.ValidPassword("new_password", in.NewPassword); err != nil {
			return nil, "", err
		}
		if in.NewPassword == in.Password {
			return nil, "", keyward.Invalid("new_password", "The new password must differ from the current one.")
		}
	}
	ses, tok, err := s.SignInTo(ctx, in.Tenant, in.Email, in.Password, address)
	if err != nil {
		return nil, "", err
	}
	if ses.PendingMFA {
		if strings.TrimSpace(in.Code) == "" {
			s.endSession(ctx, ses.ID)
			return nil, "", keyward.Invalid("code", "Two-factor sign-in is on for this user: send the current 6-digit code from the authenticator app as code.")
		}
		if ses, _, err = s.SignInSecondFactor(ctx, tok, in.Code, address); err != nil {
			return nil, "", err
		}
	}
	// The session only carried the sign-in; the token is what the caller keeps.
	defer s.endSession(ctx, ses.ID)
	a, err := s.userActor(ctx, ses.TenantID, ses.UserID, address)
	if err != nil {
		return nil, "", err
	}
	if a == nil {
		return nil, "", wrongCredentials()
	}
	if a.MustChangePassword && in.NewPassword == "" {
		return nil, "", &keyward.Error{Code: keyward.EPasswordChange, Field: "new_password",
			Message: "This password was set by an administrator and must be changed: send the password you choose as new_password (12 to 256 characters)."}
	}
	if in.NewPassword != "" {
		err := s.db.Write(ctx, func(q *store.Q) error {
			u, err := q.User(ctx, a.TenantID, a.UserID)
			if err != nil {
				return err
			}
			return s.setPassword(ctx, q, a, u, in.NewPassword, "user.password_change", "")
		})
		if err != nil {
			return nil, "", err
		}
		a.MustChangePassword = false
	}
	return s.CreateToken(keyward.WithActor(ctx, a), "", keyward.TokenCreate{Name: in.Name, ExpiresAt: in.ExpiresAt})
}

// endSession removes a session opened only to carry a sign-in.
func (s *Service) endSession(ctx context.Context, id string) {
	if err := s.db.Write(ctx, func(q *store.Q) error { return q.DeleteSession(ctx, id) }); err != nil {
		s.log.Warn("end a sign-in session", "session", id, "err", err)
	}
}

// TenantAdminCreate names a tenant's administrator for the operator.
type TenantAdminCreate struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// TenantAdmin is the answer to CreateTenantAdmin: the user, and the
// one-time sign-in link's secret, shown once.
type TenantAdmin struct {
	User *keyward.User
	// Created is false when the user already existed and only got a link.
	Created   bool
	Link      string
	ExpiresAt time.Time
}

// CreateTenantAdmin gives a tenant an administrator (operator only): a
// user holding the Administrator profile (created with every feature if
// the tenant has none of that name) and a one-time sign-in link, valid for
// SignInLinkLifetime, which leads to setting a password. For an existing
// user of the tenant it issues a new link only, which is how an
// administrator who lost every way in gets back.
func (s *Service) CreateTenantAdmin(ctx context.Context, domain string, in TenantAdminCreate) (*TenantAdmin, error) {
	a, err := operatorActor(ctx)
	if err != nil {
		return nil, err
	}
	email, err := keyward.NormaliseEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidText("name", in.Name, 200); err != nil {
		return nil, err
	}
	link := signInLinkPrefix + rand.Text() + rand.Text()
	d := sha256.Sum256([]byte(link))
	out := &TenantAdmin{Link: link, ExpiresAt: s.now().Add(SignInLinkLifetime)}
	// An unguessable password nobody knows, until the link sets one.
	hash, err := s.hasher.Hash(secret.GeneratePassword())
	if err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		t, err := q.TenantByDomain(ctx, domain)
		if err != nil {
			return err
		}
		u, err := q.User(ctx, t.ID, email)
		switch {
		case err == nil:
			if !u.Active {
				return keyward.Invalid("email", "%s is deactivated; an administrator of the tenant must activate them first", email)
			}
		case keyward.ErrorCode(err) == keyward.ENotFound:
			p, err := q.Profile(ctx, t.ID, "Administrator")
			if keyward.ErrorCode(err) == keyward.ENotFound {
				p = &keyward.Profile{ID: keyward.NewID("prf"), TenantID: t.ID, Name: "Administrator", Features: keyward.Features, CreatedAt: s.now(), UpdatedAt: s.now()}
				if err := q.InsertProfile(ctx, p); err != nil {
					return err
				}
				if err := s.audit(ctx, q, a, t.ID, "profile.create", "profile", p.ID, map[string]any{"name": p.Name, "features": p.Features}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			u = &keyward.User{
				ID: keyward.NewID("usr"), TenantID: t.ID, Email: email, Name: in.Name, ProfileID: p.ID, Active: true,
				MustChangePassword: true, PasswordHash: hash, CreatedAt: s.now(), UpdatedAt: s.now(),
			}
			if err := q.InsertUser(ctx, u); err != nil {
				return err
			}
			out.Created = true
			if err := s.audit(ctx, q, a, t.ID, "user.create", "user", u.ID, map[string]any{
				"email": u.Email, "name": u.Name, "profile_id": u.ProfileID, "active": u.Active,
			}); err != nil {
				return err
			}
		default:
			return err
		}
		out.User = u
		if err := q.InsertSignInLink(ctx, &store.SignInLink{
			ID: keyward.NewID("lnk"), Digest: d[:], TenantID: t.ID, UserID: u.ID, CreatedAt: s.now(), ExpiresAt: out.ExpiresAt,
		}); err != nil {
			return err
		}
		return s.audit(ctx, q, a, t.ID, "user.sign_in_link", "user", u.ID, map[string]any{"expires_at": out.ExpiresAt})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func linkUnusable() error {
	return keyward.Errorf(keyward.ENotFound, "This sign-in link is unknown, has expired or has already been used. Ask your platform operator for a new one.")
}

// signInLink finds a usable link and its user.
func (s *Service) signInLink(ctx context.Context, q *store.Q, link string) (*store.SignInLink, *keyward.User, error) {
	if !strings.HasPrefix(link, signInLinkPrefix) || len(link) > 100 {
		return nil, nil, linkUnusable()
	}
	d := sha256.Sum256([]byte(link))
	l, err := q.SignInLinkByDigest(ctx, d[:])
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return nil, nil, linkUnusable()
	} else if err != nil {
		return nil, nil, err
	}
	if l.UsedAt != nil || !s.now().Before(l.ExpiresAt) {
		return nil, nil, linkUnusable()
	}
	u, err := q.User(ctx, l.TenantID, l.UserID)
	if err != nil || !u.Active {
		return nil, nil, linkUnusable()
	}
	return l, u, nil
}

// SignInLinkUser returns the user a usable sign-in link is for, so the
// page can say whose password is being set. It uses nothing up.
func (s *Service) SignInLinkUser(ctx context.Context, link string) (*keyward.User, error) {
	_, u, err := s.signInLink(ctx, s.db.Read(), link)
	return u, err
}

// RedeemSignInLink uses a sign-in link once: the password chosen becomes
// the user's and a session opens (pending, when the user has a second
// factor). The user's other sessions end.
func (s *Service) RedeemSignInLink(ctx context.Context, link, password, address string) (*Session, string, error) {
	if err := keyward.ValidPassword("password", password); err != nil {
		return nil, "", err
	}
	var ses *Session
	var token string
	err := s.db.Write(ctx, func(q *store.Q) error {
		l, u, err := s.signInLink(ctx, q, link)
		if err != nil {
			return err
		}
		if ok, err := q.UseSignInLink(ctx, l.ID, s.now()); err != nil {
			return err
		} else if !ok {
			return linkUnusable()
		}
		a := &keyward.Actor{Kind: keyward.ActorUser, TenantID: u.TenantID, UserID: u.ID, Email: u.Email, Address: address}
		if err := s.setPassword(ctx, q, a, u, password, "user.password_set", ""); err != nil {
			return err
		}
		seed, _, err := q.UserTOTP(ctx, u.ID)
		if err != nil {
			return err
		}
		ses, token, err = s.openSession(ctx, q, u, seed != "", address)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return ses, token, nil
}

// RotateOperatorToken replaces the operator token with a new one,
// returned once (operator only). The old token stops working at once. A
// token given by KEYWARD_OPERATOR_TOKEN replaces this one at the next
// start.
func (s *Service) RotateOperatorToken(ctx context.Context) (string, error) {
	a, err := operatorActor(ctx)
	if err != nil {
		return "", err
	}
	tok := secret.Generate(secret.KindOperatorToken)
	d := secret.Digest(tok)
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := q.PutSetting(ctx, operatorDigestSetting, hex.EncodeToString(d[:])); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "", "operator.token_rotate", "operator", "operator", nil)
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// RevokeMyToken revokes one of the caller's own tokens; another user's
// token is not found, whatever the caller's features.
func (s *Service) RevokeMyToken(ctx context.Context, id string) error {
	return s.revokeToken(ctx, id, true)
}
