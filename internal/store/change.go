package store

import (
	"context"
	"time"
)

// Change is one entry of the change log that data-plane nodes follow.
type Change struct {
	Seq      int64
	TenantID string
	Kind     string // "key", "licence", "tenant", "store"
	ObjectID string
	At       time.Time
}

// AppendChange records, in the caller's transaction, that an object the
// data plane holds has changed.
func (q *Q) AppendChange(ctx context.Context, tenantID, kind, objectID string, at time.Time) error {
	if q.engine == Postgres {
		// Serialise change-log writers until commit, so sequence numbers
		// become visible in order and a follower never skips one.
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(7303311)`); err != nil {
			return err
		}
	}
	_, err := q.exec(ctx, `INSERT INTO changes (tenant_id, kind, object_id, at) VALUES (?, ?, ?, ?)`, tenantID, kind, objectID, at)
	if err == nil && q.engine == Postgres && q.tx {
		// Delivered at commit; wakes every node listening.
		_, err = q.exec(ctx, `SELECT pg_notify('keyward_changes', ?)`, tenantID)
	}
	return err
}

// ChangesAfter lists change log entries after seq, oldest first.
func (q *Q) ChangesAfter(ctx context.Context, seq int64, limit int) ([]Change, error) {
	rows, err := q.query(ctx, `SELECT seq, tenant_id, kind, object_id, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.TenantID, &c.Kind, &c.ObjectID, &c.At); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, normalise(rows.Err())
}

// LastChange returns the newest change log sequence number (0 if empty).
func (q *Q) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	err := q.row(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&seq)
	return seq, normalise(err)
}

// FirstChange returns the oldest change log sequence number kept (0 if
// empty): retention removes older ones.
func (q *Q) FirstChange(ctx context.Context) (int64, error) {
	var seq int64
	err := q.row(ctx, `SELECT COALESCE(MIN(seq), 0) FROM changes`).Scan(&seq)
	return seq, normalise(err)
}
