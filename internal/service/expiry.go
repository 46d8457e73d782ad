package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// LifecycleRun is what one run of the lifecycle job did.
type LifecycleRun struct {
	// Warned counts key.expiring events, Reported key.inactive_soon and
	// Disabled the keys disabled for inactivity.
	Warned, Reported, Disabled int
}

// noticeKeep is how long a notice is kept after it was due, so that a
// node with a clock behind the others does not send it again.
const noticeKeep = 30 * 24 * time.Hour

// RunLifecycle sends the expiry warnings and inactivity reports that are
// due and disables the keys unused past their tenant's limit (operator or
// system). Every node may run it at any time: each notice is recorded
// once, in the transaction that sends it, so none is sent twice.
func (s *Service) RunLifecycle(ctx context.Context) (LifecycleRun, error) {
	var run LifecycleRun
	if _, err := operatorActor(ctx); err != nil {
		return run, err
	}
	var err error
	if run.Warned, err = s.warnExpiring(ctx); err != nil {
		return run, err
	}
	if run.Reported, run.Disabled, err = s.enforceInactivity(ctx); err != nil {
		return run, err
	}
	err = s.db.Write(ctx, func(q *store.Q) error { return q.PruneNotices(ctx, s.now().Add(-noticeKeep)) })
	return run, err
}

// expiryThreshold names the warning due for an expiry at now: "1d" within
// a day, else "7d". A credential found with less than a day left gets
// only the later warning.
func expiryThreshold(exp, now time.Time) string {
	if exp.Sub(now) <= keyward.ExpiryWarnLate {
		return "1d"
	}
	return "7d"
}

// warnExpiring sends key.expiring for each credential expiring within 7
// days, once per threshold and expiry: a credential given a new expiry is
// warned about again.
func (s *Service) warnExpiring(ctx context.Context) (int, error) {
	now := s.now()
	es, err := s.db.Read().ExpiringCredentials(ctx, now, now.Add(keyward.ExpiryWarnEarly))
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, e := range es {
		threshold := expiryThreshold(e.ExpiresAt, now)
		var fresh bool
		err := s.db.Write(ctx, func(q *store.Q) error {
			var err error
			if fresh, err = q.AddNotice(ctx, e.TenantID, e.ID, "expiring_"+threshold, e.ExpiresAt, now); err != nil || !fresh {
				return err
			}
			t, err := q.TenantByID(ctx, e.TenantID)
			if err != nil {
				return err
			}
			return s.emit(ctx, q, e.TenantID, e.Stores, "key.expiring", expiringData(t, &e, threshold))
		})
		if err != nil {
			return sent, err
		}
		if fresh {
			sent++
		}
	}
	return sent, nil
}

// expiringData is what key.expiring says about a credential: never a
// secret.
func expiringData(t *keyward.Tenant, e *store.Expiring, threshold string) map[string]any {
	d := map[string]any{"kind": e.Kind, "id": e.ID, "name": e.Name, "expires_at": e.ExpiresAt, "threshold": threshold}
	switch e.Kind {
	case keyward.CredentialKey:
		d["display_name"] = t.Domain + "-" + e.Name
	case keyward.CredentialSecret:
		d["display_name"] = t.Domain + "-" + e.Name
		d["key_id"], d["slot"] = e.KeyID, e.Slot
	case keyward.CredentialToken:
		d["user_id"] = e.UserID
	case keyward.CredentialMerchantKey:
		d["merchant_id"], d["api_account_id"] = e.MerchantID, e.AccountID
	}
	return d
}
