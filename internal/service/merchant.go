package service

import (
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// merchantStores resolves store codes or ids to the tenant's store ids.
func merchantStores(ctx context.Context, q *store.Q, tenantID string, refs []string) ([]string, error) {
	ids := []string{}
	for _, ref := range refs {
		st, err := q.Store(ctx, tenantID, ref)
		if keyward.ErrorCode(err) == keyward.ENotFound {
			return nil, keyward.Invalid("stores", "unknown store %q; list stores at GET /api/v1/stores", ref)
		} else if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, st.ID) {
			ids = append(ids, st.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// CreateMerchant adds a merchant; it needs the Merchants feature.
func (s *Service) CreateMerchant(ctx context.Context, in keyward.MerchantCreate) (*keyward.Merchant, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidName("name", in.Name, 200); err != nil {
		return nil, err
	}
	m := &keyward.Merchant{ID: keyward.NewID("mer"), TenantID: a.TenantID, Name: in.Name, CreatedAt: s.now(), UpdatedAt: s.now(), Versioned: keyward.Versioned{Version: 1}}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if m.StoreIDs, err = merchantStores(ctx, q, a.TenantID, in.Stores); err != nil {
			return err
		}
		if err := q.InsertMerchant(ctx, m); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "merchant.create", "merchant", m.ID, map[string]any{"name": m.Name, "stores": m.StoreIDs})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ListMerchants lists the tenant's merchants.
func (s *Service) ListMerchants(ctx context.Context) ([]*keyward.Merchant, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	out, err := s.db.Read().ListMerchants(ctx, a.TenantID)
	if out == nil && err == nil {
		out = []*keyward.Merchant{}
	}
	return out, err
}

// Merchant returns one merchant.
func (s *Service) Merchant(ctx context.Context, id string) (*keyward.Merchant, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	m, err := q.Merchant(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	return m, version(ctx, q, "merchants", m.ID, &m.Versioned)
}

// UpdateMerchant renames a merchant or changes its stores; its users'
// credentials follow at once.
func (s *Service) UpdateMerchant(ctx context.Context, id string, in keyward.MerchantUpdate) (*keyward.Merchant, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	var m *keyward.Merchant
	err = s.db.Write(ctx, func(q *store.Q) error {
		if m, err = q.Merchant(ctx, a.TenantID, id); err != nil {
			return err
		}
		if err := precondition(ctx, q, "merchants", m.ID); err != nil {
			return err
		}
		changes := map[string]any{}
		if in.Name != nil && *in.Name != m.Name {
			if err := keyward.ValidName("name", *in.Name, 200); err != nil {
				return err
			}
			m.Name = *in.Name
			changes["name"] = m.Name
		}
		if in.Stores != nil {
			ids, err := merchantStores(ctx, q, a.TenantID, *in.Stores)
			if err != nil {
				return err
			}
			if !slices.Equal(ids, m.StoreIDs) {
				m.StoreIDs = ids
				changes["stores"] = ids
			}
		}
		if len(changes) == 0 {
			return version(ctx, q, "merchants", m.ID, &m.Versioned)
		}
		m.UpdatedAt = s.now()
		if err := q.UpdateMerchant(ctx, m); err != nil {
			return err
		}
		if err := version(ctx, q, "merchants", m.ID, &m.Versioned); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant.update", "merchant", m.ID, changes)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return m, nil
}

// DeleteMerchant removes a merchant and its users; their credentials stop
// working at once.
func (s *Service) DeleteMerchant(ctx context.Context, id string) error {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		m, err := q.Merchant(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "merchants", m.ID); err != nil {
			return err
		}
		users, err := q.ListMerchantUsers(ctx, a.TenantID, m.ID)
		if err != nil {
			return err
		}
		if err := q.DeleteMerchant(ctx, m.ID); err != nil {
			return err
		}
		for _, u := range users {
			if err := q.AppendChange(ctx, a.TenantID, "merchant_user", u.ID, s.now()); err != nil {
				return err
			}
		}
		return s.audit(ctx, q, a, a.TenantID, "merchant.delete", "merchant", m.ID, map[string]any{"name": m.Name})
	})
	if err == nil {
		s.changed(ctx)
	}
	return err
}

// apiAccessLevel2Only explains why a Level 1 user cannot have API access.
func apiAccessLevel2Only() error {
	return keyward.Invalid("api_access", "API access can be granted only to Merchant Level 2 users; set level to 2 first")
}

// grantAPIAccess gives u a new API Account ID (kept if it has one) and a
// new API Auth Key, returned in u.AuthKey.
func (s *Service) grantAPIAccess(u *keyward.MerchantUser) {
	if u.AccountID == "" {
		u.AccountID = keyward.NewID("acc")
	}
	plain := secret.Generate(secret.KindMerchantKey)
	d := secret.Digest(plain)
	u.AuthKey, u.AuthKeyHint, u.AuthKeyDigest = plain, secret.Hint(plain), d[:]
	now := s.now()
	u.APIAccess, u.APIEnabledAt = true, &now
	u.PreviousKeyDigest, u.PreviousKeyExpiresAt = nil, nil
}

// regenerateAuthKey gives u a new API Auth Key (see grantAPIAccess); the
// old one keeps working for grace, or stops at once when grace is 0.
func (s *Service) regenerateAuthKey(u *keyward.MerchantUser, grace time.Duration) {
	old := u.AuthKeyDigest
	s.grantAPIAccess(u)
	if grace > 0 && len(old) > 0 {
		until := s.now().Add(grace)
		u.PreviousKeyDigest, u.PreviousKeyExpiresAt = old, &until
	}
}

// regenerateChanges is what the audit log records of a new API Auth Key.
func regenerateChanges(u *keyward.MerchantUser, grace time.Duration) map[string]any {
	c := map[string]any{"api_account_id": u.AccountID, "grace": grace.String()}
	if u.PreviousKeyExpiresAt != nil {
		c["previous_key_expires_at"] = *u.PreviousKeyExpiresAt
	}
	return c
}

func revokeAPIAccess(u *keyward.MerchantUser) {
	u.APIAccess, u.AuthKeyHint, u.AuthKeyDigest, u.APIEnabledAt = false, "", nil, nil
	u.PreviousKeyDigest, u.PreviousKeyExpiresAt = nil, nil
}

// CreateMerchantUser adds a user to a merchant. With api_access (Level 2
// only) the answer carries the API Auth Key, shown once.
func (s *Service) CreateMerchantUser(ctx context.Context, merchantID string, in keyward.MerchantUserCreate) (*keyward.MerchantUser, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	email, err := keyward.NormaliseEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if in.Level != keyward.MerchantLevel1 && in.Level != keyward.MerchantLevel2 {
		return nil, keyward.Invalid("level", "level must be 1 or 2")
	}
	if in.APIAccess && in.Level != keyward.MerchantLevel2 {
		return nil, apiAccessLevel2Only()
	}
	if err := keyward.ValidText("name", in.Name, 200); err != nil {
		return nil, err
	}
	u := &keyward.MerchantUser{ID: keyward.NewID("mus"), TenantID: a.TenantID, Email: email, Name: in.Name, Level: in.Level, CreatedAt: s.now(), UpdatedAt: s.now(),
		Versioned: keyward.Versioned{Version: 1}}
	err = s.db.Write(ctx, func(q *store.Q) error {
		m, err := q.Merchant(ctx, a.TenantID, merchantID)
		if err != nil {
			return err
		}
		u.MerchantID = m.ID
		if in.APIAccess {
			if err := s.requireLicence(ctx, q, a.TenantID); err != nil {
				return err
			}
			s.grantAPIAccess(u)
		}
		if err := q.InsertMerchantUser(ctx, u); err != nil {
			return err
		}
		if u.APIAccess {
			if err := s.emitMerchantAccess(ctx, q, m, u, "merchant.api_access.enabled"); err != nil {
				return err
			}
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant_user.create", "merchant_user", u.ID, map[string]any{
			"email": u.Email, "merchant_id": u.MerchantID, "level": u.Level, "api_access": u.APIAccess, "api_account_id": u.AccountID,
		})
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return u, nil
}

func (s *Service) requireLicence(ctx context.Context, q *store.Q, tenantID string) error {
	l, err := q.Licence(ctx, tenantID)
	if err != nil {
		return err
	}
	if !l.Active(s.now()) {
		return s.licenceRequired()
	}
	return nil
}

// merchantUserOf finds a user of the merchant; a user of another
// merchant is not found.
func merchantUserOf(ctx context.Context, q *store.Q, tenantID, merchantID, userID string) (*keyward.MerchantUser, error) {
	u, err := q.MerchantUser(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if u.MerchantID != merchantID {
		return nil, keyward.Errorf(keyward.ENotFound, "no merchant user %q in merchant %q", userID, merchantID)
	}
	return u, nil
}

// ListMerchantUsers lists a merchant's users.
func (s *Service) ListMerchantUsers(ctx context.Context, merchantID string) ([]*keyward.MerchantUser, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	m, err := q.Merchant(ctx, a.TenantID, merchantID)
	if err != nil {
		return nil, err
	}
	out, err := q.ListMerchantUsers(ctx, a.TenantID, m.ID)
	if out == nil && err == nil {
		out = []*keyward.MerchantUser{}
	}
	return out, err
}

// UpdateMerchantUser changes a merchant user's name, level or API access.
// Moving a user to Level 1 switches API access off at once; switching it
// on (Level 2 only) returns a new API Auth Key, shown once.
func (s *Service) UpdateMerchantUser(ctx context.Context, merchantID, userID string, in keyward.MerchantUserUpdate) (*keyward.MerchantUser, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	if in.Level != nil && *in.Level != keyward.MerchantLevel1 && *in.Level != keyward.MerchantLevel2 {
		return nil, keyward.Invalid("level", "level must be 1 or 2")
	}
	var u *keyward.MerchantUser
	err = s.db.Write(ctx, func(q *store.Q) error {
		if u, err = merchantUserOf(ctx, q, a.TenantID, merchantID, userID); err != nil {
			return err
		}
		if err := precondition(ctx, q, "merchant_users", u.ID); err != nil {
			return err
		}
		changes := map[string]any{}
		if in.Name != nil && *in.Name != u.Name {
			if err := keyward.ValidText("name", *in.Name, 200); err != nil {
				return err
			}
			u.Name = *in.Name
			changes["name"] = u.Name
		}
		if in.Level != nil && *in.Level != u.Level {
			u.Level = *in.Level
			changes["level"] = u.Level
		}
		wantAPI := u.APIAccess
		if in.APIAccess != nil {
			wantAPI = *in.APIAccess
		}
		if u.Level != keyward.MerchantLevel2 {
			if in.APIAccess != nil && *in.APIAccess {
				return apiAccessLevel2Only()
			}
			wantAPI = false
		}
		switch {
		case wantAPI && !u.APIAccess:
			if err := s.requireLicence(ctx, q, a.TenantID); err != nil {
				return err
			}
			s.grantAPIAccess(u)
			changes["api_access"] = true
			changes["api_account_id"] = u.AccountID
		case !wantAPI && u.APIAccess:
			revokeAPIAccess(u)
			changes["api_access"] = false
		}
		if in.AllowedAddresses != nil {
			if err := setAllowedAddresses(u, *in.AllowedAddresses, changes); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return version(ctx, q, "merchant_users", u.ID, &u.Versioned)
		}
		u.UpdatedAt = s.now()
		if err := q.UpdateMerchantUser(ctx, u); err != nil {
			return err
		}
		if err := version(ctx, q, "merchant_users", u.ID, &u.Versioned); err != nil {
			return err
		}
		if on, ok := changes["api_access"].(bool); ok {
			m, err := q.Merchant(ctx, a.TenantID, u.MerchantID)
			if err != nil {
				return err
			}
			typ := map[bool]string{true: "merchant.api_access.enabled", false: "merchant.api_access.deactivated"}[on]
			if err := s.emitMerchantAccess(ctx, q, m, u, typ); err != nil {
				return err
			}
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant_user.update", "merchant_user", u.ID, changes)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return u, nil
}

// RegenerateMerchantAuthKey replaces a merchant user's API Auth Key; the
// old one stops working at once, or after in.Grace.
func (s *Service) RegenerateMerchantAuthKey(ctx context.Context, merchantID, userID string, in keyward.AuthKeyRegenerate) (*keyward.MerchantUser, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var u *keyward.MerchantUser
	err = s.db.Write(ctx, func(q *store.Q) error {
		if u, err = merchantUserOf(ctx, q, a.TenantID, merchantID, userID); err != nil {
			return err
		}
		if !u.APIAccess {
			return keyward.Invalid("api_access", "this user has no API access; switch API access on first")
		}
		if err := s.requireLicence(ctx, q, a.TenantID); err != nil {
			return err
		}
		s.regenerateAuthKey(u, time.Duration(in.Grace))
		u.UpdatedAt = s.now()
		if err := q.UpdateMerchantUser(ctx, u); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant_user.regenerate_key", "merchant_user", u.ID, regenerateChanges(u, time.Duration(in.Grace)))
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return u, nil
}

// ListMerchantAPIAccess lists every merchant user with API access on, with
// the API Account ID, as administrators see it under Integrations > API.
func (s *Service) ListMerchantAPIAccess(ctx context.Context) ([]keyward.MerchantAPIAccess, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	users, err := q.ListMerchantUsers(ctx, a.TenantID, "")
	if err != nil {
		return nil, err
	}
	ms, err := q.ListMerchants(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, m := range ms {
		names[m.ID] = m.Name
	}
	out := []keyward.MerchantAPIAccess{}
	for _, u := range users {
		out = append(out, keyward.MerchantAPIAccess{AccountID: u.AccountID, MerchantID: u.MerchantID, MerchantName: names[u.MerchantID],
			UserID: u.ID, Email: u.Email, AuthKeyHint: u.AuthKeyHint, EnabledAt: u.APIEnabledAt})
	}
	return out, nil
}

// DeactivateMerchantAPIAccess switches off the API access of the merchant
// user holding the API Account ID.
func (s *Service) DeactivateMerchantAPIAccess(ctx context.Context, accountID string) error {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return err
	}
	u, err := s.db.Read().MerchantUser(ctx, a.TenantID, accountID)
	if err != nil {
		return err
	}
	off := false
	_, err = s.UpdateMerchantUser(ctx, u.MerchantID, u.ID, keyward.MerchantUserUpdate{APIAccess: &off})
	return err
}

// AuthenticateMerchant resolves merchant API credentials to an actor that
// may read its own credentials' metadata and nothing else of the admin API.
func (s *Service) AuthenticateMerchant(ctx context.Context, accountID, authKey, address string) (*keyward.Actor, *keyward.MerchantUser, error) {
	// The same problem as the gateway's for these credentials: type and
	// title unauthenticated, the verify code NOT_FOUND.
	unauth := &keyward.Error{Code: keyward.EUnauthenticated,
		Message: "The API Account ID and API Auth Key do not match an enabled merchant credential: the ID is unknown, the key is wrong, or the tenant's administrators have switched API access off.",
		Details: map[string]any{"verify_code": keyward.CodeNotFound}}
	if kind, err := secret.Parse(authKey); err != nil || kind != secret.KindMerchantKey {
		return nil, nil, unauth
	}
	d := secret.Digest(authKey)
	q := s.db.Read()
	u, err := q.MerchantUserByAccount(ctx, accountID)
	if err != nil || u == nil {
		return nil, nil, unauth
	}
	current := secret.Equal(u.AuthKeyDigest, d[:])
	previous := len(u.PreviousKeyDigest) > 0 && u.PreviousKeyExpiresAt != nil && s.now().Before(*u.PreviousKeyExpiresAt) &&
		secret.Equal(u.PreviousKeyDigest, d[:])
	if !u.APIAccess || u.Level != keyward.MerchantLevel2 || !(current || previous) {
		return nil, nil, unauth
	}
	a := &keyward.Actor{Kind: keyward.ActorMerchant, TenantID: u.TenantID, UserID: u.ID, Email: u.Email, MerchantID: u.MerchantID, Address: address}
	return a, u, nil
}

// MerchantSelf returns the calling merchant user's own credential metadata.
func (s *Service) MerchantSelf(ctx context.Context) (*keyward.MerchantUser, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil || a.Kind != keyward.ActorMerchant {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "Send your API Account ID and API Auth Key with HTTP Basic authentication.")
	}
	return s.db.Read().MerchantUser(ctx, a.TenantID, a.UserID)
}

// emitMerchantAccess sends a merchant API access event about the stores
// the merchant works in.
func (s *Service) emitMerchantAccess(ctx context.Context, q *store.Q, m *keyward.Merchant, u *keyward.MerchantUser, typ string) error {
	return s.emit(ctx, q, m.TenantID, m.StoreIDs, typ, map[string]any{
		"merchant_id": m.ID, "merchant_user_id": u.ID, "api_account_id": u.AccountID,
	})
}
