package service

import (
	"context"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// integratorSecretPlace is where an integrator's signing secret is sealed.
func integratorSecretPlace(tenantID, id string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: id, Field: "integrators.secret_sealed"}
}

// integratorActor returns the caller registering integrators: a tenant's
// administrator holding API Management, or the operator for integrators of
// the whole platform. tenantID is "" for the operator.
func integratorActor(ctx context.Context) (a *keyward.Actor, tenantID string, err error) {
	if a := keyward.ActorFrom(ctx); a != nil && (a.Kind == keyward.ActorOperator || a.Kind == keyward.ActorSystem && a.TenantID == "") {
		return a, "", nil
	}
	a, err = tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, "", err
	}
	return a, a.TenantID, nil
}

// checkIntegrator validates an integrator's registration.
func (s *Service) checkIntegrator(in *keyward.IntegratorCreate) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		return keyward.Invalid("name", "name must be 1-100 characters, e.g. \"TranslatorHQ\"")
	}
	if in.CallbackURL != "" {
		if err := s.checkWebhookURL(in.CallbackURL); err != nil {
			return keyward.Invalid("callback_url", "%s", strings.Replace(keyward.ErrorMessage(err), "url", "callback_url", 1))
		}
	}
	in.Permissions = mergePermissions(nil, in.Permissions, true)
	if len(in.Permissions) == 0 {
		return keyward.Invalid("permissions", "name the most a request of this integrator may ask for, e.g. {\"orders\": \"write\"}")
	}
	for r, l := range in.Permissions {
		if l != keyward.LevelRead && l != keyward.LevelWrite {
			return keyward.Invalid("permissions", "permissions.%s must be \"read\", \"write\" or \"none\", not %q", r, l)
		}
		if !s.knownResource(r) {
			return keyward.Invalid("permissions", "unknown resource %q; the catalog's resources are %s", r, strings.Join(s.catalog.Resources(), ", "))
		}
	}
	return nil
}

func (s *Service) knownResource(r string) bool {
	for _, x := range s.catalog.Resources() {
		if x == r {
			return true
		}
	}
	return false
}

// CreateIntegrator registers an integrator: in the caller's tenant, or for
// every tenant when the operator calls. Its signing secret (whsec_…) is
// returned once and kept only sealed.
func (s *Service) CreateIntegrator(ctx context.Context, in keyward.IntegratorCreate) (*keyward.Integrator, error) {
	a, tenantID, err := integratorActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkIntegrator(&in); err != nil {
		return nil, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "integrators need a master key to keep their signing secrets; the operator sets KEYWARD_MASTER_KEY")
	}
	plain, hint := newWebhookSecret()
	now := s.now()
	it := &keyward.Integrator{ID: keyward.NewID("itg"), TenantID: tenantID, Platform: tenantID == "", Name: in.Name, CallbackURL: in.CallbackURL,
		Permissions: in.Permissions, SecretHint: hint, CreatedAt: now, UpdatedAt: now, Secret: plain}
	err = s.db.Write(ctx, func(q *store.Q) error {
		sealed := s.keyring.Seal([]byte(plain), integratorSecretPlace(tenantID, it.ID))
		if err := q.InsertIntegrator(ctx, it, string(sealed)); err != nil {
			return err
		}
		return s.auditIntegrator(ctx, q, a, tenantID, "integrator.create", it.ID,
			map[string]any{"name": it.Name, "callback_url": it.CallbackURL, "permissions": it.Permissions, "platform": it.Platform})
	})
	if err != nil {
		return nil, err
	}
	return it, nil
}

// auditIntegrator audits a change to an integrator; the platform's go to
// the operator's log (tenant "").
func (s *Service) auditIntegrator(ctx context.Context, q *store.Q, a *keyward.Actor, tenantID, action, id string, changes map[string]any) error {
	return s.audit(ctx, q, a, tenantID, action, "integrator", id, changes)
}

// ListIntegrators lists the integrators the caller's tenant may use: its
// own and the platform's (the operator sees the platform's).
func (s *Service) ListIntegrators(ctx context.Context) ([]*keyward.Integrator, error) {
	_, tenantID, err := integratorActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Read().ListIntegrators(ctx, tenantID)
}

// Integrator returns one integrator the caller's tenant may use.
func (s *Service) Integrator(ctx context.Context, id string) (*keyward.Integrator, error) {
	_, tenantID, err := integratorActor(ctx)
	if err != nil {
		return nil, err
	}
	it, _, err := s.db.Read().Integrator(ctx, tenantID, id)
	return it, err
}

// ownIntegrator returns an integrator the caller may change: a tenant
// changes its own, the operator the platform's.
func ownIntegrator(ctx context.Context, q *store.Q, tenantID, id string) (*keyward.Integrator, error) {
	it, _, err := q.Integrator(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if it.TenantID != tenantID {
		return nil, keyward.Errorf(keyward.EForbidden, "integrator %s is registered for the whole platform; only the operator changes it", id)
	}
	return it, nil
}

// RollIntegratorSecret gives an integrator a new signing secret, returned
// once; links signed with the old one stop being accepted at once.
func (s *Service) RollIntegratorSecret(ctx context.Context, id string) (*keyward.Integrator, error) {
	a, tenantID, err := integratorActor(ctx)
	if err != nil {
		return nil, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "integrators need a master key to keep their signing secrets; the operator sets KEYWARD_MASTER_KEY")
	}
	var out *keyward.Integrator
	err = s.db.Write(ctx, func(q *store.Q) error {
		it, err := ownIntegrator(ctx, q, tenantID, id)
		if err != nil {
			return err
		}
		plain, hint := newWebhookSecret()
		sealed := s.keyring.Seal([]byte(plain), integratorSecretPlace(tenantID, it.ID))
		if err := q.RollIntegratorSecret(ctx, it.ID, string(sealed), hint, s.now()); err != nil {
			return err
		}
		it.SecretHint, it.Secret, it.UpdatedAt = hint, plain, s.now()
		out = it
		return s.auditIntegrator(ctx, q, a, tenantID, "integrator.roll", it.ID, map[string]any{"secret_hint": hint})
	})
	return out, err
}

// DeleteIntegrator removes an integrator: its links stop being accepted
// and callbacks not yet delivered are not sent.
func (s *Service) DeleteIntegrator(ctx context.Context, id string) error {
	a, tenantID, err := integratorActor(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		it, err := ownIntegrator(ctx, q, tenantID, id)
		if err != nil {
			return err
		}
		if err := q.DeleteIntegrator(ctx, it.ID); err != nil {
			return err
		}
		return s.auditIntegrator(ctx, q, a, tenantID, "integrator.delete", it.ID, map[string]any{"name": it.Name})
	})
}

// integratorSecret opens an integrator's signing secret.
func (s *Service) integratorSecret(it *keyward.Integrator, sealed string) (string, error) {
	if s.keyring == nil {
		return "", keyward.Errorf(keyward.EUnavailable, "no master key is set, so integrator signing secrets cannot be opened")
	}
	plain, err := s.keyring.Open(seal.Sealed(sealed), integratorSecretPlace(it.TenantID, it.ID))
	if err != nil {
		return "", &keyward.Error{Code: keyward.EInternal, Message: "the signing secret of integrator " + it.ID + " does not open", Err: err}
	}
	return string(plain), nil
}
