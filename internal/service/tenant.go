package service

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// CreateTenant creates a tenant (operator only).
func (s *Service) CreateTenant(ctx context.Context, in keyward.TenantCreate) (*keyward.Tenant, error) {
	a, err := operatorActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	t := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: in.Domain, Name: in.Name, CreatedAt: s.now()}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := q.InsertTenant(ctx, t); err != nil {
			return err
		}
		return s.audit(ctx, q, a, t.ID, "tenant.create", "tenant", t.ID, map[string]any{"domain": t.Domain, "name": t.Name})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ListTenants lists tenants by domain (operator only), after the cursor
// of a previous page's NextCursor.
func (s *Service) ListTenants(ctx context.Context, cursor string, limit int) (*Page[*keyward.Tenant], error) {
	if _, err := operatorActor(ctx); err != nil {
		return nil, err
	}
	after, err := decodeCursor("tenants", cursor)
	if err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	ts, err := s.db.Read().ListTenants(ctx, after, limit+1)
	if err != nil {
		return nil, err
	}
	return pageOf("tenants", ts, limit, func(t *keyward.Tenant) string { return t.Domain }), nil
}

// Tenant returns a tenant by domain (operator only).
func (s *Service) Tenant(ctx context.Context, domain string) (*keyward.Tenant, error) {
	if _, err := operatorActor(ctx); err != nil {
		return nil, err
	}
	return s.db.Read().TenantByDomain(ctx, domain)
}

// TenantByDomain looks a tenant up without an actor, for the CLI and
// sign-in, which act before anyone is authenticated.
func (s *Service) TenantByDomain(ctx context.Context, domain string) (*keyward.Tenant, error) {
	return s.db.Read().TenantByDomain(ctx, domain)
}

// Licence returns a tenant's licence (operator only).
func (s *Service) Licence(ctx context.Context, domain string) (*keyward.Licence, error) {
	if _, err := operatorActor(ctx); err != nil {
		return nil, err
	}
	t, err := s.db.Read().TenantByDomain(ctx, domain)
	if err != nil {
		return nil, err
	}
	l, err := s.db.Read().Licence(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return l, version(ctx, s.db.Read(), "licences", t.ID, &l.Versioned)
}

// GrantLicence grants or changes a tenant's licence (operator only). A
// grant switches API access on unless api_access is given as false; the
// other fields left out keep their value, except an expiry already passed,
// which a grant removes. expires_at given as null removes the expiry.
func (s *Service) GrantLicence(ctx context.Context, domain string, in keyward.LicenceGrant) (*keyward.Licence, error) {
	return s.putLicence(ctx, domain, in, "licence.grant")
}

func (s *Service) putLicence(ctx context.Context, domain string, in keyward.LicenceGrant, action string) (*keyward.Licence, error) {
	a, err := operatorActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *keyward.Licence
	err = s.db.Write(ctx, func(q *store.Q) error {
		t, err := q.TenantByDomain(ctx, domain)
		if err != nil {
			return err
		}
		// Key creations read the licence under the same lock.
		if err := q.LockTenant(ctx, t.ID); err != nil {
			return err
		}
		if err := precondition(ctx, q, "licences", t.ID); err != nil {
			return err
		}
		l, err := q.Licence(ctx, t.ID)
		if err != nil {
			return err
		}
		l.APIAccess = true
		if in.APIAccess != nil {
			l.APIAccess = *in.APIAccess
		}
		if in.MaxKeys != nil {
			l.MaxKeys = *in.MaxKeys
		}
		if in.RateLimit != nil {
			l.RateLimit = *in.RateLimit
		}
		switch {
		case in.ExpiresAt.Time != nil:
			exp := in.ExpiresAt.Time.UTC()
			l.ExpiresAt = &exp
			if !exp.After(s.now()) {
				return keyward.Invalid("expires_at", "expires_at %s is in the past", exp.Format("2006-01-02T15:04:05Z"))
			}
		case in.ExpiresAt.Set:
			l.ExpiresAt = nil
		case l.APIAccess && l.ExpiresAt != nil && !l.ExpiresAt.After(s.now()):
			// A grant is meant to give access: an expiry already passed
			// ends with it, unless the grant names a new one.
			l.ExpiresAt = nil
		}
		l.UpdatedAt = s.now()
		if err := q.PutLicence(ctx, l); err != nil {
			return err
		}
		if err := version(ctx, q, "licences", t.ID, &l.Versioned); err != nil {
			return err
		}
		if err := q.AppendChange(ctx, t.ID, "licence", t.ID, s.now()); err != nil {
			return err
		}
		out = l
		typ := map[bool]string{true: "licence.updated", false: "licence.revoked"}[l.APIAccess]
		if err := s.emit(ctx, q, t.ID, nil, typ, map[string]any{
			"active": l.Active(s.now()), "api_access": l.APIAccess, "max_keys": l.MaxKeys, "rate_limit": l.RateLimit, "expires_at": l.ExpiresAt,
		}); err != nil {
			return err
		}
		return s.audit(ctx, q, a, t.ID, action, "licence", t.ID, map[string]any{
			"api_access": l.APIAccess, "max_keys": l.MaxKeys, "rate_limit": l.RateLimit, "expires_at": l.ExpiresAt,
		})
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return out, nil
}

// RevokeLicence switches a tenant's API access off (operator only). Keys
// are kept, and refused until a licence is granted again.
func (s *Service) RevokeLicence(ctx context.Context, domain string) (*keyward.Licence, error) {
	off := false
	return s.putLicence(ctx, domain, keyward.LicenceGrant{APIAccess: &off}, "licence.revoke")
}
