package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// ReplaceRecoveryCodes gives a user a new set of recovery codes, by the
// SHA-256 of each, removing any earlier ones.
func (q *Q) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, ids []string, digests [][]byte, at time.Time) error {
	if err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
		return err
	}
	for i, d := range digests {
		if _, err := q.exec(ctx, `INSERT INTO recovery_codes (id, tenant_id, user_id, digest, created_at) VALUES (?, ?, ?, ?, ?)`,
			ids[i], tenantID, userID, d, at.UTC()); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRecoveryCodes removes a user's recovery codes.
func (q *Q) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
	return err
}

// UseRecoveryCode marks the user's unused code of digest used, once, and
// reports whether it did. Two requests racing with one code cannot both
// succeed.
func (q *Q) UseRecoveryCode(ctx context.Context, userID string, digest []byte, at time.Time) (bool, error) {
	res, err := q.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND digest = ? AND used_at IS NULL`, at.UTC(), userID, digest)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// UnusedRecoveryCodes counts a user's recovery codes not yet used.
func (q *Q) UnusedRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return n, normalise(err)
}

// ClearTOTPSeed is a TOTP seed an earlier version stored in clear.
type ClearTOTPSeed struct {
	UserID, TenantID, Seed string
}

// ClearTOTPSeeds lists up to limit TOTP seeds still stored in clear.
func (q *Q) ClearTOTPSeeds(ctx context.Context, limit int) ([]ClearTOTPSeed, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, totp_secret FROM users WHERE totp_secret IS NOT NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ClearTOTPSeed
	for rows.Next() {
		var c ClearTOTPSeed
		if err := rows.Scan(&c.UserID, &c.TenantID, &c.Seed); err != nil {
			return nil, normalise(err)
		}
		out = append(out, c)
	}
	return out, normalise(rows.Err())
}

// SealTOTPSeed replaces a user's seed kept in clear by its sealed value,
// if the user still holds that seed.
func (q *Q) SealTOTPSeed(ctx context.Context, userID, clear, sealed string) error {
	_, err := q.exec(ctx, `UPDATE users SET totp_sealed = ?, totp_secret = NULL WHERE id = ? AND totp_secret = ?`, sealed, userID, clear)
	return err
}

// RenewSession gives a session a new id, by the SHA-256 of the new id,
// and records what its user is allowed now.
func (q *Q) RenewSession(ctx context.Context, id string, digest []byte, grant string) error {
	_, err := q.exec(ctx, `UPDATE sessions SET digest = ?, grant_hash = ? WHERE id = ?`, digest, grant, id)
	return err
}

// ExpireSessionGrant makes a session get a new id on its next request.
func (q *Q) ExpireSessionGrant(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `UPDATE sessions SET grant_hash = '' WHERE id = ?`, id)
	return err
}

// CheckSession records that the session's user has just proved their
// password (and second factor).
func (q *Q) CheckSession(ctx context.Context, id string, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE sessions SET checked_at = ? WHERE id = ?`, at.UTC(), id)
	return err
}

// SessionByID finds a session by its id (not the secret id the browser
// holds).
func (q *Q) SessionByID(ctx context.Context, id string) (*Session, error) {
	var d []byte
	if err := q.row(ctx, `SELECT digest FROM sessions WHERE id = ?`, id).Scan(&d); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, keyward.Errorf(keyward.ENotFound, "no such session")
		}
		return nil, normalise(err)
	}
	return q.SessionByDigest(ctx, d)
}
