package service

import (
	"context"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// CreateProfile adds a security profile; it needs the Users feature.
func (s *Service) CreateProfile(ctx context.Context, in keyward.ProfileCreate) (*keyward.Profile, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidName("name", in.Name, 100); err != nil {
		return nil, err
	}
	fs, err := keyward.ParseFeatures("features", in.Features)
	if err != nil {
		return nil, err
	}
	p := &keyward.Profile{ID: keyward.NewID("prf"), TenantID: a.TenantID, Name: in.Name, Features: fs, CreatedAt: s.now(), UpdatedAt: s.now(), Versioned: keyward.Versioned{Version: 1}}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := q.InsertProfile(ctx, p); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "profile.create", "profile", p.ID, map[string]any{"name": p.Name, "features": p.Features})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ListProfiles lists the tenant's security profiles.
func (s *Service) ListProfiles(ctx context.Context) ([]*keyward.Profile, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	out, err := s.db.Read().ListProfiles(ctx, a.TenantID)
	if out == nil && err == nil {
		out = []*keyward.Profile{}
	}
	return out, err
}

// Profile returns a profile by id or name.
func (s *Service) Profile(ctx context.Context, idOrName string) (*keyward.Profile, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	p, err := q.Profile(ctx, a.TenantID, idOrName)
	if err != nil {
		return nil, err
	}
	return p, version(ctx, q, "profiles", p.ID, &p.Versioned)
}

// UpdateProfile renames a profile or changes its features. Users holding
// the profile get the new features on their next request.
func (s *Service) UpdateProfile(ctx context.Context, idOrName string, in keyward.ProfileUpdate) (*keyward.Profile, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	var features keyward.FeatureSet
	if in.Features != nil {
		if features, err = keyward.ParseFeatures("features", *in.Features); err != nil {
			return nil, err
		}
	}
	if in.Name != nil {
		if err := keyward.ValidName("name", *in.Name, 100); err != nil {
			return nil, err
		}
	}
	var p *keyward.Profile
	err = s.db.Write(ctx, func(q *store.Q) error {
		p, err = q.Profile(ctx, a.TenantID, idOrName)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "profiles", p.ID); err != nil {
			return err
		}
		changes := map[string]any{}
		if in.Name != nil && *in.Name != p.Name {
			p.Name = *in.Name
			changes["name"] = p.Name
		}
		if in.Features != nil && !slices.Equal(features, p.Features) {
			p.Features = features
			changes["features"] = p.Features
		}
		if len(changes) == 0 {
			return version(ctx, q, "profiles", p.ID, &p.Versioned)
		}
		p.UpdatedAt = s.now()
		if err := q.UpdateProfile(ctx, p); err != nil {
			return err
		}
		if err := version(ctx, q, "profiles", p.ID, &p.Versioned); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "profile.update", "profile", p.ID, changes)
	})
	return p, err
}

// GrantFeatures adds features to a profile, keeping those it holds.
func (s *Service) GrantFeatures(ctx context.Context, idOrName string, features []keyward.Feature) (*keyward.Profile, error) {
	p, err := s.Profile(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone([]keyward.Feature(p.Features)), features...)
	return s.UpdateProfile(ctx, p.ID, keyward.ProfileUpdate{Features: &all})
}

// DeleteProfile removes a profile no user holds.
func (s *Service) DeleteProfile(ctx context.Context, idOrName string) error {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		p, err := q.Profile(ctx, a.TenantID, idOrName)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "profiles", p.ID); err != nil {
			return err
		}
		if err := q.DeleteProfile(ctx, p.ID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "profile.delete", "profile", p.ID, map[string]any{"name": p.Name})
	})
}

// CreateUser adds a staff user. When no password is given one is
// generated and returned; it is shown once and stored only as a hash.
func (s *Service) CreateUser(ctx context.Context, in keyward.UserCreate) (*keyward.User, string, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, "", err
	}
	if err := in.Validate(); err != nil {
		return nil, "", err
	}
	password, generated := in.Password, ""
	if password == "" {
		password = secret.GeneratePassword()
		generated = password
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return nil, "", err
	}
	u := &keyward.User{
		ID: keyward.NewID("usr"), TenantID: a.TenantID, Email: in.Email, Name: in.Name,
		Active: in.Active == nil || *in.Active, PasswordHash: hash, CreatedAt: s.now(), UpdatedAt: s.now(),
		Versioned: keyward.Versioned{Version: 1},
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		p, err := q.Profile(ctx, a.TenantID, in.ProfileID)
		if err != nil {
			return invalidRef("profile_id", err)
		}
		u.ProfileID = p.ID
		if err := q.InsertUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.create", "user", u.ID, map[string]any{
			"email": u.Email, "name": u.Name, "profile_id": u.ProfileID, "active": u.Active,
		})
	})
	if err != nil {
		return nil, "", err
	}
	return u, generated, nil
}

// invalidRef turns "the referenced record does not exist" into an
// invalid_argument on the field that referenced it.
func invalidRef(field string, err error) error {
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return keyward.Invalid(field, "%s: %s", field, keyward.ErrorMessage(err))
	}
	return err
}

// ListUsers lists the tenant's staff users.
func (s *Service) ListUsers(ctx context.Context) ([]*keyward.User, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	out, err := s.db.Read().ListUsers(ctx, a.TenantID)
	if out == nil && err == nil {
		out = []*keyward.User{}
	}
	return out, err
}

// User returns a user by id or e-mail.
func (s *Service) User(ctx context.Context, idOrEmail string) (*keyward.User, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	u, err := q.User(ctx, a.TenantID, idOrEmail)
	if err != nil {
		return nil, err
	}
	return u, version(ctx, q, "users", u.ID, &u.Versioned)
}

// UpdateUser changes a user's name, profile or active flag. Deactivating
// a user revokes their personal access tokens, sign-in links and sessions
// for good: activating them again brings none back.
func (s *Service) UpdateUser(ctx context.Context, idOrEmail string, in keyward.UserUpdate) (*keyward.User, error) {
	a, err := tenantActor(ctx, keyward.FeatureUsers)
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		if err := keyward.ValidName("name", *in.Name, 200); err != nil {
			return nil, err
		}
	}
	var u *keyward.User
	err = s.db.Write(ctx, func(q *store.Q) error {
		u, err = q.User(ctx, a.TenantID, idOrEmail)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "users", u.ID); err != nil {
			return err
		}
		changes := map[string]any{}
		if in.Name != nil && *in.Name != u.Name {
			u.Name = *in.Name
			changes["name"] = u.Name
		}
		if in.ProfileID != nil {
			p, err := q.Profile(ctx, a.TenantID, *in.ProfileID)
			if err != nil {
				return invalidRef("profile_id", err)
			}
			if p.ID != u.ProfileID {
				u.ProfileID = p.ID
				changes["profile_id"] = p.ID
			}
		}
		if in.Active != nil && *in.Active != u.Active {
			if !*in.Active && u.ID == a.UserID {
				return keyward.Invalid("active", "you cannot deactivate yourself; ask another administrator")
			}
			u.Active = *in.Active
			changes["active"] = u.Active
			if !u.Active {
				n, err := q.DeleteUserTokens(ctx, u.ID)
				if err != nil {
					return err
				}
				if err := q.DeleteUserSessions(ctx, u.ID, ""); err != nil {
					return err
				}
				if err := q.DeleteUserSignInLinks(ctx, u.ID); err != nil {
					return err
				}
				changes["tokens_revoked"] = n
			}
		}
		if len(changes) == 0 {
			return version(ctx, q, "users", u.ID, &u.Versioned)
		}
		u.UpdatedAt = s.now()
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := version(ctx, q, "users", u.ID, &u.Versioned); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.update", "user", u.ID, changes)
	})
	return u, err
}

// ListAudit lists the tenant's audit log newest first; before is the
// sequence number to continue from (0 for the newest).
func (s *Service) ListAudit(ctx context.Context, before int64, limit int) (*Page[*keyward.AuditEntry], error) {
	a, err := tenantActor(ctx, keyward.FeatureAudit)
	if err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	es, err := s.db.Read().ListAudit(ctx, a.TenantID, before, limit+1)
	if err != nil {
		return nil, err
	}
	p := &Page[*keyward.AuditEntry]{Data: es}
	if len(es) > limit {
		p.Data = es[:limit]
		p.NextCursor = itoa(es[limit-1].Seq)
	}
	if p.Data == nil {
		p.Data = []*keyward.AuditEntry{}
	}
	return p, nil
}
