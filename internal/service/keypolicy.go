package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// KeyPolicy returns the tenant's key policy (API Management).
func (s *Service) KeyPolicy(ctx context.Context) (*keyward.KeyPolicy, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	return s.db.Read().KeyPolicy(ctx, a.TenantID)
}

// UpdateKeyPolicy changes the tenant's key policy (API Management). A
// maximum lifetime applies to keys created, or given a new expiry, from
// then on; the inactivity rule applies to every enabled key at the next
// run of the lifecycle job.
func (s *Service) UpdateKeyPolicy(ctx context.Context, in keyward.KeyPolicyUpdate) (*keyward.KeyPolicy, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *keyward.KeyPolicy
	err = s.db.Write(ctx, func(q *store.Q) error {
		// Key creations read the policy under the same lock.
		if err := q.LockTenant(ctx, a.TenantID); err != nil {
			return err
		}
		if err := precondition(ctx, q, "key_policies", a.TenantID); err != nil {
			return err
		}
		p, err := q.KeyPolicy(ctx, a.TenantID)
		if err != nil {
			return err
		}
		before := keyPolicyChanges(p)
		if in.MaxLifetimeDays != nil {
			p.MaxLifetimeDays = *in.MaxLifetimeDays
		}
		if in.InactiveDays != nil {
			p.InactiveDays = *in.InactiveDays
		}
		out = p
		changes := diff(before, keyPolicyChanges(p))
		if len(changes) == 0 {
			return nil
		}
		now := s.now()
		p.UpdatedAt = &now
		if err := q.PutKeyPolicy(ctx, p); err != nil {
			return err
		}
		if err := version(ctx, q, "key_policies", a.TenantID, &p.Versioned); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "key_policy.update", "key_policy", a.TenantID, changes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func keyPolicyChanges(p *keyward.KeyPolicy) map[string]any {
	return map[string]any{"max_lifetime_days": p.MaxLifetimeDays, "inactive_days": p.InactiveDays}
}

// applyMaxLifetime holds a key's expiry to the tenant's maximum lifetime
// when the key is created or its expiry is being set: a new key without
// an expiry gets the longest allowed, and a later expiry, or removing the
// expiry of a key, is refused. Defaulting rather than refusing keeps
// callers that never send an expiry working while no key outlives the
// policy; the answer (and key.expiring, later) shows the expiry given.
func (s *Service) applyMaxLifetime(ctx context.Context, q *store.Q, k *keyward.Key, create bool) error {
	p, err := q.KeyPolicy(ctx, k.TenantID)
	if err != nil || p.MaxLifetimeDays == 0 {
		return err
	}
	limit := s.now().Add(time.Duration(p.MaxLifetimeDays) * 24 * time.Hour).UTC()
	if k.ExpiresAt == nil && create {
		k.ExpiresAt = &limit
		return nil
	}
	if k.ExpiresAt == nil {
		return &keyward.Error{Code: keyward.EInvalid, Field: "expires_at",
			Message: "expires_at cannot be removed: the tenant's maximum key lifetime is " + days(p.MaxLifetimeDays) +
				", so a key needs an expiry no later than " + limit.Format(time.RFC3339),
			Details: map[string]any{"max_lifetime_days": p.MaxLifetimeDays, "latest_expires_at": limit}}
	}
	if k.ExpiresAt.After(limit) {
		return &keyward.Error{Code: keyward.EInvalid, Field: "expires_at",
			Message: "expires_at " + k.ExpiresAt.Format(time.RFC3339) + " is beyond the tenant's maximum key lifetime of " + days(p.MaxLifetimeDays) +
				" (at most " + limit.Format(time.RFC3339) + "); choose an earlier expiry, or change the maximum under Settings > Key Policy",
			Details: map[string]any{"max_lifetime_days": p.MaxLifetimeDays, "latest_expires_at": limit}}
	}
	return nil
}

// days formats a number of days.
func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return itoa(int64(n)) + " days"
}
