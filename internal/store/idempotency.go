package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Idempotency is a request sent with an Idempotency-Key and, once it has
// one, its first answer, sealed.
type Idempotency struct {
	ID          string // names the sealed answer's row
	Scope       string // who sent it
	Key         string
	Route       string
	RequestHash string
	Status      int    // 0 while the first request runs
	Response    string // sealed answer; "" until Status is set
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// ClaimIdempotency records a request as running under its key. When the
// scope already holds the key, it returns the stored record and false
// instead; concurrent claims on one key, from any node, have one winner,
// which the primary key decides.
func (q *Q) ClaimIdempotency(ctx context.Context, in *Idempotency) (*Idempotency, bool, error) {
	if _, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= ?`, in.CreatedAt); err != nil {
		return nil, false, err
	}
	res, err := q.exec(ctx, `INSERT INTO idempotency_keys (id, scope, idem_key, route, request_hash, status, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`,
		in.ID, in.Scope, in.Key, in.Route, in.RequestHash, in.CreatedAt, in.ExpiresAt)
	if err != nil {
		return nil, false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, false, normalise(err)
	} else if n == 1 {
		return in, true, nil
	}
	got, err := q.idempotency(ctx, in.Scope, in.Key)
	return got, false, err
}

func (q *Q) idempotency(ctx context.Context, scope, key string) (*Idempotency, error) {
	r := Idempotency{Scope: scope, Key: key}
	var resp sql.NullString
	err := q.row(ctx, `SELECT route, request_hash, status, response, created_at, expires_at FROM idempotency_keys WHERE scope = ? AND idem_key = ?`, scope, key).
		Scan(&r.Route, &r.RequestHash, &r.Status, &resp, &r.CreatedAt, &r.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("store: idempotency record vanished")
	}
	if err != nil {
		return nil, normalise(err)
	}
	r.Response, r.CreatedAt, r.ExpiresAt = resp.String, r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return &r, nil
}

// FinishIdempotency keeps the first answer of a claimed request.
func (q *Q) FinishIdempotency(ctx context.Context, scope, key string, status int, sealed string) error {
	_, err := q.exec(ctx, `UPDATE idempotency_keys SET status = ?, response = ? WHERE scope = ? AND idem_key = ? AND status = 0`, status, sealed, scope, key)
	return err
}

// ReleaseIdempotency forgets a claimed request that kept no answer, so
// the key can be sent again.
func (q *Q) ReleaseIdempotency(ctx context.Context, scope, key string) error {
	_, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND status = 0`, scope, key)
	return err
}
