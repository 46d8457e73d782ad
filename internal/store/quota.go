package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/keyward/keyward"
)

// quotaArgs are the quota_limit and quota_period values of a key's quota:
// NULL for none.
func quotaArgs(qt *keyward.Quota) (limit, period any) {
	if qt == nil {
		return nil, nil
	}
	return qt.Limit, qt.Period
}

func scanQuota(limit sql.NullInt64, period sql.NullString) *keyward.Quota {
	if !limit.Valid || !period.Valid {
		return nil
	}
	return &keyward.Quota{Limit: limit.Int64, Period: period.String}
}

// QuotaCount is what a key's quota period has used.
type QuotaCount struct {
	KeyID  string
	Period string
	Start  time.Time
	Used   int64
}

// AddQuotaUse adds requests to a key's quota period; nodes call it in
// batches.
func (q *Q) AddQuotaUse(ctx context.Context, c QuotaCount) error {
	_, err := q.exec(ctx, `INSERT INTO key_quota_usage (key_id, period, period_start, used) VALUES (?, ?, ?, ?)
		ON CONFLICT (key_id, period, period_start) DO UPDATE SET used = key_quota_usage.used + excluded.used`,
		c.KeyID, c.Period, c.Start.UTC(), c.Used)
	return err
}

// QuotaCounts returns the use of every current quota period: the day
// starting at day, the month starting at month, and every credit.
func (q *Q) QuotaCounts(ctx context.Context, day, month time.Time) ([]QuotaCount, error) {
	rows, err := q.query(ctx, `SELECT key_id, period, period_start, used FROM key_quota_usage
		WHERE (period = ? AND period_start = ?) OR (period = ? AND period_start = ?) OR period = ?`,
		keyward.QuotaDay, day.UTC(), keyward.QuotaMonth, month.UTC(), keyward.QuotaNone)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QuotaCount
	for rows.Next() {
		var c QuotaCount
		if err := rows.Scan(&c.KeyID, &c.Period, &c.Start, &c.Used); err != nil {
			return nil, err
		}
		c.Start = c.Start.UTC()
		out = append(out, c)
	}
	return out, normalise(rows.Err())
}

// QuotaUsed returns what a key's quota period starting at start has used.
func (q *Q) QuotaUsed(ctx context.Context, keyID, period string, start time.Time) (int64, error) {
	var n int64
	err := q.row(ctx, `SELECT COALESCE(SUM(used), 0) FROM key_quota_usage WHERE key_id = ? AND period = ? AND period_start = ?`,
		keyID, period, start.UTC()).Scan(&n)
	return n, normalise(err)
}

// PruneQuotaUse removes the counts of days and months that ended before
// the given time; credits are kept.
func (q *Q) PruneQuotaUse(ctx context.Context, before time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM key_quota_usage WHERE period <> ? AND period_start < ?`, keyward.QuotaNone, before.UTC())
	return err
}
