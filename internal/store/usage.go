package store

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// AddUsage adds request counts to a key's minute; nodes call it in batches.
func (q *Q) AddUsage(ctx context.Context, keyID string, minute time.Time, requests int64) error {
	_, err := q.exec(ctx, `INSERT INTO key_usage (key_id, minute, requests) VALUES (?, ?, ?)
		ON CONFLICT (key_id, minute) DO UPDATE SET requests = key_usage.requests + excluded.requests`,
		keyID, minute.UTC(), requests)
	return err
}

// TouchKeySecret records that the secret with the given digest was used at
// the given time from the client address from ("" when not known),
// keeping the latest use when nodes report out of order. A digest that
// names no key secret (a merchant's) changes nothing.
func (q *Q) TouchKeySecret(ctx context.Context, digest []byte, at time.Time, from string) error {
	var addr any
	if from != "" {
		addr = from
	}
	_, err := q.exec(ctx, `UPDATE api_key_secrets SET last_used_at = ?, last_used_from = ? WHERE digest = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		at.UTC(), addr, digest, at.UTC())
	return err
}

// HourlyUsage returns a key's requests per hour since the given time.
func (q *Q) HourlyUsage(ctx context.Context, keyID string, since time.Time) ([]keyward.UsageBucket, error) {
	rows, err := q.query(ctx, `SELECT minute, requests FROM key_usage WHERE key_id = ? AND minute >= ? ORDER BY minute`, keyID, since.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyward.UsageBucket
	for rows.Next() {
		var m time.Time
		var n int64
		if err := rows.Scan(&m, &n); err != nil {
			return nil, err
		}
		h := m.UTC().Truncate(time.Hour)
		if len(out) > 0 && out[len(out)-1].Start.Equal(h) {
			out[len(out)-1].Requests += n
		} else {
			out = append(out, keyward.UsageBucket{Start: h, Requests: n})
		}
	}
	return out, normalise(rows.Err())
}

// DeleteUsage removes a key's usage rows.
func (q *Q) DeleteUsage(ctx context.Context, keyID string) error {
	if _, err := q.exec(ctx, `DELETE FROM key_usage WHERE key_id = ?`, keyID); err != nil {
		return err
	}
	_, err := q.exec(ctx, `DELETE FROM key_quota_usage WHERE key_id = ?`, keyID)
	return err
}
