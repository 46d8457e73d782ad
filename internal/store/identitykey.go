package store

import (
	"context"
	"database/sql"
	"time"
)

// States of an identity key.
const (
	IdentityKeyNext     = "next"     // published, not signing yet
	IdentityKeyCurrent  = "current"  // signing
	IdentityKeyPrevious = "previous" // replaced, still verifying until retired
)

// IdentityKey is one key signing identity headers, sealed with the master
// key.
type IdentityKey struct {
	ID          string
	Sealed      string
	State       string
	CreatedAt   time.Time
	ActivatedAt *time.Time
}

// IdentityKeys lists the identity keys, oldest first.
func (q *Q) IdentityKeys(ctx context.Context) ([]IdentityKey, error) {
	rows, err := q.query(ctx, `SELECT id, secret_sealed, state, created_at, activated_at FROM identity_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IdentityKey
	for rows.Next() {
		var k IdentityKey
		var at sql.NullTime
		if err := rows.Scan(&k.ID, &k.Sealed, &k.State, &k.CreatedAt, &at); err != nil {
			return nil, normalise(err)
		}
		k.CreatedAt, k.ActivatedAt = k.CreatedAt.UTC(), timePtr(at)
		out = append(out, k)
	}
	return out, normalise(rows.Err())
}

// InsertIdentityKey stores k unless a key already holds its state (next
// or current), and reports whether it did.
func (q *Q) InsertIdentityKey(ctx context.Context, k IdentityKey) (bool, error) {
	res, err := q.exec(ctx, `INSERT INTO identity_keys (id, secret_sealed, state, created_at, activated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, k.ID, k.Sealed, k.State, k.CreatedAt.UTC(), nullTime(k.ActivatedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// ActivateIdentityKey makes the next key id current and the current one
// previous, and reports whether id was the next key.
func (q *Q) ActivateIdentityKey(ctx context.Context, id string, at time.Time) (bool, error) {
	if _, err := q.exec(ctx, `UPDATE identity_keys SET state = 'previous' WHERE state = 'current'`); err != nil {
		return false, err
	}
	res, err := q.exec(ctx, `UPDATE identity_keys SET state = 'current', activated_at = ? WHERE id = ? AND state = 'next'`, at.UTC(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// DeleteIdentityKey removes the identity key id unless it is the current
// one, which always stays.
func (q *Q) DeleteIdentityKey(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM identity_keys WHERE id = ? AND state <> 'current'`, id)
	return err
}
