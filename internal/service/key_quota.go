package service

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// checkQuota validates a key's quota; nil is none.
func checkQuota(qt *keyward.Quota) error {
	if qt == nil {
		return nil
	}
	if qt.Period == "" {
		return keyward.Invalid("quota", "quota.period is required: \"day\", \"month\" or \"none\" (a one-off credit)")
	}
	return qt.Validate()
}

// mergeQuota applies a merge patch to a key's quota: a limit or period
// left out keeps the key's; remove drops the quota. A credit is topped
// up by raising its limit: what it used stays counted.
func mergeQuota(cur, patch *keyward.Quota, remove bool) *keyward.Quota {
	if remove {
		return nil
	}
	if patch == nil {
		return cur
	}
	out := *patch
	if cur != nil {
		if out.Limit == 0 {
			out.Limit = cur.Limit
		}
		if out.Period == "" {
			out.Period = cur.Period
		}
	}
	return &out
}

// fillQuotaUsage adds what the current period of a key's quota has used,
// as the nodes have written it to the database.
func (s *Service) fillQuotaUsage(ctx context.Context, q *store.Q, k *keyward.Key) error {
	if k.Quota == nil {
		return nil
	}
	now := s.now()
	used, err := q.QuotaUsed(ctx, k.ID, k.Quota.Period, k.Quota.Start(now))
	if err != nil {
		return err
	}
	u := &keyward.QuotaUsage{Used: used, Remaining: max(0, k.Quota.Limit-used)}
	if r := k.Quota.Reset(now); !r.IsZero() {
		u.ResetAt = &r
	}
	k.QuotaUsage = u
	return nil
}
