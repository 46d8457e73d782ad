package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

const operatorDigestSetting = "operator_token_sha256"

// EnsureOperatorToken makes the operator token known. A token given (from
// KEYWARD_OPERATOR_TOKEN) replaces any stored one; without one, a token is
// generated on first start and returned once for printing. Only its
// SHA-256 is stored.
func (s *Service) EnsureOperatorToken(ctx context.Context, given string) (generated string, err error) {
	if given != "" {
		if len(given) < 32 {
			return "", keyward.Invalid("KEYWARD_OPERATOR_TOKEN", "the operator token must be at least 32 characters")
		}
		d := sha256.Sum256([]byte(given))
		return "", s.db.Write(ctx, func(q *store.Q) error { return q.PutSetting(ctx, operatorDigestSetting, hex.EncodeToString(d[:])) })
	}
	_, ok, err := s.db.Read().Setting(ctx, operatorDigestSetting)
	if err != nil || ok {
		return "", err
	}
	tok := secret.Generate(secret.KindOperatorToken)
	d := secret.Digest(tok)
	err = s.db.Write(ctx, func(q *store.Q) error { return q.PutSetting(ctx, operatorDigestSetting, hex.EncodeToString(d[:])) })
	if err != nil {
		return "", err
	}
	return tok, nil
}

// Authenticate resolves a bearer token to an actor: the operator, or a
// tenant user acting with the features its profile holds right now.
func (s *Service) Authenticate(ctx context.Context, token, address string) (*keyward.Actor, error) {
	unauth := keyward.Errorf(keyward.EUnauthenticated, "The token is not valid: it is unknown, expired or revoked, or its user is inactive. Create a new personal access token.")
	if token == "" {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "Send a personal access token as \"Authorization: Bearer <token>\".")
	}
	kind, perr := secret.Parse(token)
	if perr == nil && kind == secret.KindPersonalToken {
		d := secret.Digest(token)
		q := s.db.Read()
		t, err := q.TokenByDigest(ctx, d[:])
		if keyward.ErrorCode(err) == keyward.ENotFound {
			return nil, unauth
		} else if err != nil {
			return nil, err
		}
		if t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt) {
			return nil, unauth
		}
		a, err := s.userActor(ctx, t.TenantID, t.UserID, address)
		if err != nil {
			return nil, err
		}
		if a == nil {
			return nil, unauth
		}
		a.TokenID = t.ID
		// Last use is recorded at most once a minute, not on every request.
		if t.LastUsedAt == nil || s.now().Sub(*t.LastUsedAt) > time.Minute {
			if err := s.db.Write(ctx, func(q *store.Q) error { return q.TouchToken(ctx, t.ID) }); err != nil {
				s.log.Warn("record token use", "token", t.ID, "err", err)
			}
		}
		return a, nil
	}
	stored, ok, err := s.db.Read().Setting(ctx, operatorDigestSetting)
	if err != nil {
		return nil, err
	}
	want, _ := hex.DecodeString(stored)
	got := sha256.Sum256([]byte(token))
	if ok && secret.Equal(got[:], want) {
		return &keyward.Actor{Kind: keyward.ActorOperator, Address: address}, nil
	}
	return nil, unauth
}

// userActor builds the actor of an active user, with the features of its
// profile as they are now; nil when the user is gone or inactive.
func (s *Service) userActor(ctx context.Context, tenantID, userID, address string) (*keyward.Actor, error) {
	q := s.db.Read()
	u, err := q.User(ctx, tenantID, userID)
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, nil
	}
	p, err := q.Profile(ctx, tenantID, u.ProfileID)
	if err != nil {
		return nil, err
	}
	t, err := q.TenantByID(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return &keyward.Actor{
		Kind: keyward.ActorUser, TenantID: tenantID, Domain: t.Domain, UserID: u.ID, Email: u.Email,
		Features: p.Features, Address: address, MustChangePassword: u.MustChangePassword,
	}, nil
}

// CreateToken creates a personal access token for the caller, or, for the
// system actor, for the user named by forUser. The token is returned once.
func (s *Service) CreateToken(ctx context.Context, forUser string, in keyward.TokenCreate) (*keyward.Token, string, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, "", err
	}
	if in.Name == "" {
		in.Name = "token"
	}
	if err := keyward.ValidName("name", in.Name, 100); err != nil {
		return nil, "", err
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.now()) {
		return nil, "", keyward.Invalid("expires_at", "expires_at must be in the future")
	}
	userID := a.UserID
	if a.Kind == keyward.ActorSystem {
		u, err := s.db.Read().User(ctx, a.TenantID, forUser)
		if err != nil {
			return nil, "", invalidRef("user", err)
		}
		userID = u.ID
	}
	plain := secret.Generate(secret.KindPersonalToken)
	d := secret.Digest(plain)
	t := &keyward.Token{
		ID: keyward.NewID("tok"), TenantID: a.TenantID, UserID: userID, Name: in.Name,
		Hint: secret.Hint(plain), Digest: d[:], CreatedAt: s.now(), ExpiresAt: in.ExpiresAt,
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := q.InsertToken(ctx, t); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "token.create", "token", t.ID, map[string]any{"name": t.Name, "user_id": userID})
	})
	if err != nil {
		return nil, "", err
	}
	return t, plain, nil
}

// ListTokens lists the caller's personal access tokens (hints only).
func (s *Service) ListTokens(ctx context.Context) ([]*keyward.Token, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	out, err := s.db.Read().ListTokens(ctx, a.TenantID, a.UserID)
	if out == nil && err == nil {
		out = []*keyward.Token{}
	}
	return out, err
}

// DeleteToken revokes one of the caller's tokens; users holding the Users
// feature may revoke any token of the tenant.
func (s *Service) DeleteToken(ctx context.Context, id string) error {
	return s.revokeToken(ctx, id, false)
}

// revokeToken revokes token id of the caller's tenant: only the caller's
// own when onlyMine is set, or any with the Users feature.
func (s *Service) revokeToken(ctx context.Context, id string, onlyMine bool) error {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		t, err := q.Token(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if t.UserID != a.UserID && (onlyMine || !a.Features.Has(keyward.FeatureUsers) && a.Kind != keyward.ActorSystem) {
			return keyward.Errorf(keyward.ENotFound, "no token %q among yours", id)
		}
		if err := q.DeleteToken(ctx, t.ID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "token.delete", "token", t.ID, map[string]any{"name": t.Name})
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
