package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// LeakPolicy reads a tenant's leak policy.
func (q *Q) LeakPolicy(ctx context.Context, tenantID string) (string, error) {
	var p string
	err := q.row(ctx, `SELECT leak_policy FROM tenants WHERE id = ?`, tenantID).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keyward.Errorf(keyward.ENotFound, "no such tenant")
	}
	return p, normalise(err)
}

// SetLeakPolicy writes a tenant's leak policy.
func (q *Q) SetLeakPolicy(ctx context.Context, tenantID, policy string) error {
	_, err := q.exec(ctx, `UPDATE tenants SET leak_policy = ? WHERE id = ?`, policy, tenantID)
	return err
}

// LeakReportAnswer returns the answer given to the report whose body has
// digest, if it was accepted before.
func (q *Q) LeakReportAnswer(ctx context.Context, digest []byte) (answer string, ok bool, err error) {
	err = q.row(ctx, `SELECT answer FROM leak_reports WHERE digest = ?`, digest).Scan(&answer)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return answer, err == nil, normalise(err)
}

// InsertLeakReport records an accepted report and its answer.
func (q *Q) InsertLeakReport(ctx context.Context, digest []byte, signer, answer string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO leak_reports (digest, signer, answer, received_at) VALUES (?, ?, ?, ?)`, digest, signer, answer, at.UTC())
	return err
}

// InsertLeak records one reported token; tenantID is "" for a token that
// was no live secret.
func (q *Q) InsertLeak(ctx context.Context, tenantID string, tokenDigest []byte, l *keyward.Leak) error {
	_, err := q.exec(ctx, `INSERT INTO leaks (id, tenant_id, object_type, object_id, kind, hint, token_digest, type, url, source, action, found_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, sql.NullString{String: tenantID, Valid: tenantID != ""}, l.ObjectType, l.ObjectID, l.Kind, l.Hint, tokenDigest,
		l.Type, l.URL, l.Source, l.Action, l.FoundAt.UTC())
	return err
}

// Leaks lists the leaks recorded for one of a tenant's objects (a key, a
// merchant user), newest first.
func (q *Q) Leaks(ctx context.Context, tenantID, objectID string) ([]*keyward.Leak, error) {
	rows, err := q.query(ctx, `SELECT id, object_type, object_id, kind, hint, type, url, source, action, found_at
		FROM leaks WHERE tenant_id = ? AND object_id = ? ORDER BY found_at DESC, id LIMIT 20`, tenantID, objectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Leak
	for rows.Next() {
		var l keyward.Leak
		if err := rows.Scan(&l.ID, &l.ObjectType, &l.ObjectID, &l.Kind, &l.Hint, &l.Type, &l.URL, &l.Source, &l.Action, &l.FoundAt); err != nil {
			return nil, err
		}
		l.FoundAt = l.FoundAt.UTC()
		out = append(out, &l)
	}
	return out, normalise(rows.Err())
}

// LiveKeySecret finds the key whose secret has digest, if the secret is
// live at now (not past its grace period).
func (q *Q) LiveKeySecret(ctx context.Context, digest []byte, now time.Time) (keyID, tenantID string, ok bool, err error) {
	var exp sql.NullTime
	err = q.row(ctx, `SELECT s.key_id, k.tenant_id, s.expires_at FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id WHERE s.digest = ?`, digest).
		Scan(&keyID, &tenantID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, normalise(err)
	}
	return keyID, tenantID, !exp.Valid || now.Before(exp.Time), nil
}

// MerchantUserByKeyDigest finds the merchant user whose current or
// previous Auth Key has digest.
func (q *Q) MerchantUserByKeyDigest(ctx context.Context, digest []byte) (*keyward.MerchantUser, error) {
	u, err := scanMerchantUser(q.row(ctx, `SELECT `+merchantUserCols+` FROM merchant_users WHERE auth_key_digest = ? OR previous_key_digest = ?`, digest, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, normalise(err)
}
