package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// noticeInactive names the inactivity report in the notices kept.
const noticeInactive = "inactive_soon"

// LastActivity is when a key last showed it is wanted: its last use, or
// its creation, last change or newest secret when later. An inactivity
// rule counts from it, so a key never used counts from its creation, and
// one enabled again after being disabled for inactivity starts afresh.
func LastActivity(k *keyward.Key) time.Time {
	last := k.CreatedAt
	if k.UpdatedAt.After(last) {
		last = k.UpdatedAt
	}
	for _, sec := range k.Secrets {
		if sec.CreatedAt.After(last) {
			last = sec.CreatedAt
		}
		if sec.LastUsedAt != nil && sec.LastUsedAt.After(last) {
			last = *sec.LastUsedAt
		}
	}
	return last
}

// enforceInactivity reports, a day ahead, each enabled key that will have
// gone unused for its tenant's inactive_days (key.inactive_soon), and
// disables those reported whose day has come (key.disabled, reason
// "inactivity"). A key is never disabled without a report at least a day
// before, even when the rule is set with keys already unused for longer.
func (s *Service) enforceInactivity(ctx context.Context) (reported, disabled int, err error) {
	ps, err := s.db.Read().InactivityPolicies(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range ps {
		var r, d int
		err := s.db.Write(ctx, func(q *store.Q) (err error) {
			r, d, err = s.inactivityOf(ctx, q, p.TenantID)
			return err
		})
		if err != nil {
			return reported, disabled, err
		}
		reported, disabled = reported+r, disabled+d
		if d > 0 {
			s.changed(ctx)
		}
	}
	return reported, disabled, nil
}

// inactivityOf applies a tenant's inactivity rule within q, under the
// tenant's lock so that nodes running it at once take turns.
func (s *Service) inactivityOf(ctx context.Context, q *store.Q, tenantID string) (reported, disabled int, err error) {
	if err := q.LockTenant(ctx, tenantID); err != nil {
		return 0, 0, err
	}
	p, err := q.KeyPolicy(ctx, tenantID)
	if err != nil || p.InactiveDays == 0 {
		return 0, 0, err
	}
	t, err := q.TenantByID(ctx, tenantID)
	if err != nil {
		return 0, 0, err
	}
	a := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: t.ID, Domain: t.Domain}
	now := s.now()
	limit := time.Duration(p.InactiveDays) * 24 * time.Hour
	enabled := true
	f := keyward.KeyFilter{Enabled: &enabled, Limit: 500}
	for {
		ks, err := q.ListKeys(ctx, tenantID, f)
		if err != nil {
			return reported, disabled, err
		}
		for _, k := range ks {
			k.DisplayName = t.Domain + "-" + k.Name
			last := LastActivity(k)
			due := last.Add(limit)
			if now.Before(due.Add(-24 * time.Hour)) {
				continue
			}
			at, sent, ok, err := q.LatestNotice(ctx, k.ID, noticeInactive)
			if err != nil {
				return reported, disabled, err
			}
			if !ok || sent.Before(last) {
				// Not reported since its last activity: report it now,
				// and disable it no sooner than a day later.
				at = due
				if soonest := now.Add(24 * time.Hour); at.Before(soonest) {
					at = soonest
				}
				if _, err := q.AddNotice(ctx, tenantID, k.ID, noticeInactive, at, now); err != nil {
					return reported, disabled, err
				}
				if err := s.emit(ctx, q, tenantID, keyStores(k), "key.inactive_soon", inactiveData(k, last, at, p.InactiveDays)); err != nil {
					return reported, disabled, err
				}
				reported++
				continue
			}
			if now.Before(at) || now.Before(due) {
				continue
			}
			if err := s.disableInactive(ctx, q, a, k, last, p.InactiveDays); err != nil {
				return reported, disabled, err
			}
			disabled++
		}
		if len(ks) < f.Limit {
			return reported, disabled, nil
		}
		f.After = ks[len(ks)-1].ID
	}
}

// inactiveData is what key.inactive_soon says about a key.
func inactiveData(k *keyward.Key, last, disableAt time.Time, days int) map[string]any {
	d := keyEventData(k, nil)
	d["last_activity_at"], d["disable_at"], d["inactive_days"] = last, disableAt, days
	return d
}

// disableInactive disables a key for inactivity: audited and sent as
// key.disabled with reason "inactivity".
func (s *Service) disableInactive(ctx context.Context, q *store.Q, a *keyward.Actor, k *keyward.Key, last time.Time, days int) error {
	k.Enabled = false
	k.UpdatedAt = s.now()
	if err := q.UpdateKey(ctx, k); err != nil {
		return err
	}
	changes := map[string]any{"enabled": false, "reason": "inactivity", "inactive_days": days, "last_activity_at": last}
	d := keyEventData(k, map[string]any{"enabled": false})
	d["reason"] = "inactivity"
	d["last_activity_at"], d["inactive_days"] = last, days
	if err := s.emit(ctx, q, k.TenantID, keyStores(k), "key.disabled", d); err != nil {
		return err
	}
	return s.logChange(ctx, q, a, k.TenantID, "key.disable", "key", k.ID, changes)
}
