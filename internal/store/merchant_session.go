package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// MerchantSession is a merchant portal session. As with staff sessions,
// the id the browser holds is never stored: only its SHA-256, in Digest.
type MerchantSession struct {
	ID             string
	Digest         []byte
	TenantID       string
	MerchantUserID string
	Address        string
	CreatedAt      time.Time
	LastSeenAt     time.Time
	// ExpiresAt is the absolute end of the session, however active.
	ExpiresAt time.Time
	// PendingMFA marks a sign-in waiting for the user's TOTP code; such a
	// session opens nothing.
	PendingMFA bool
}

// InsertMerchantSession adds a merchant portal session.
func (q *Q) InsertMerchantSession(ctx context.Context, s *MerchantSession) error {
	_, err := q.exec(ctx, `INSERT INTO merchant_sessions (id, digest, tenant_id, merchant_user_id, address, created_at, last_seen_at, expires_at, pending_mfa)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Digest, s.TenantID, s.MerchantUserID, s.Address, s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC(), s.PendingMFA)
	return err
}

// MerchantSessionByDigest finds a merchant portal session by the SHA-256
// of its id.
func (q *Q) MerchantSessionByDigest(ctx context.Context, digest []byte) (*MerchantSession, error) {
	var s MerchantSession
	err := q.row(ctx, `SELECT id, digest, tenant_id, merchant_user_id, address, created_at, last_seen_at, expires_at, pending_mfa
		FROM merchant_sessions WHERE digest = ?`, digest).
		Scan(&s.ID, &s.Digest, &s.TenantID, &s.MerchantUserID, &s.Address, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.PendingMFA)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no such session")
	}
	if err != nil {
		return nil, normalise(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	return &s, nil
}

// TouchMerchantSession records activity on a merchant portal session.
func (q *Q) TouchMerchantSession(ctx context.Context, id string, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE merchant_sessions SET last_seen_at = ? WHERE id = ?`, at.UTC(), id)
	return err
}

// DeleteMerchantSession removes a merchant portal session.
func (q *Q) DeleteMerchantSession(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM merchant_sessions WHERE id = ?`, id)
	return err
}

// DeleteMerchantUserSessions removes every portal session of a merchant
// user.
func (q *Q) DeleteMerchantUserSessions(ctx context.Context, merchantUserID string) error {
	_, err := q.exec(ctx, `DELETE FROM merchant_sessions WHERE merchant_user_id = ?`, merchantUserID)
	return err
}

// DeleteStaleMerchantSessions removes merchant portal sessions past their
// absolute expiry or idle since before idleSince.
func (q *Q) DeleteStaleMerchantSessions(ctx context.Context, now, idleSince time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM merchant_sessions WHERE expires_at <= ? OR last_seen_at <= ?`, now.UTC(), idleSince.UTC())
	return err
}

// MerchantUserPassword is a merchant user with the hash of the portal
// password, for sign-in.
type MerchantUserPassword struct {
	User *keyward.MerchantUser
	// Hash is "" when no portal password has been set.
	Hash string
}

// MerchantUsersByEmail finds the merchant users holding an e-mail address,
// in any tenant or, when domain is not "", in the tenant of that domain,
// with their portal password hashes; for sign-in.
func (q *Q) MerchantUsersByEmail(ctx context.Context, email, domain string) ([]MerchantUserPassword, error) {
	rows, err := q.query(ctx, `SELECT `+qualified("u", merchantUserCols)+`, u.password_hash FROM merchant_users u JOIN tenants t ON t.id = u.tenant_id
		WHERE u.email = ? AND (t.domain = ? OR ? = '') ORDER BY t.domain`, email, domain, domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MerchantUserPassword
	for rows.Next() {
		var hash sql.NullString
		u, err := scanMerchantUser(rows, &hash)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, MerchantUserPassword{User: u, Hash: hash.String})
	}
	return out, normalise(rows.Err())
}

// SetMerchantUserPassword stores the hash of a merchant user's portal
// password ("" removes it, so the user cannot sign in).
func (q *Q) SetMerchantUserPassword(ctx context.Context, merchantUserID, hash string) error {
	_, err := q.exec(ctx, `UPDATE merchant_users SET password_hash = ? WHERE id = ?`, nullString(hash), merchantUserID)
	return err
}

// MerchantUserHasPassword reports whether a merchant user can sign in to
// the portal.
func (q *Q) MerchantUserHasPassword(ctx context.Context, merchantUserID string) (bool, error) {
	var hash sql.NullString
	err := q.row(ctx, `SELECT password_hash FROM merchant_users WHERE id = ?`, merchantUserID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return hash.String != "", normalise(err)
}

// MerchantUserTOTP returns a merchant user's sealed TOTP seed ("" when
// the second factor is off) and the last time step accepted.
func (q *Q) MerchantUserTOTP(ctx context.Context, merchantUserID string) (sealed string, lastStep int64, err error) {
	var s sql.NullString
	err = q.row(ctx, `SELECT totp_sealed, totp_last_step FROM merchant_users WHERE id = ?`, merchantUserID).Scan(&s, &lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, keyward.Errorf(keyward.ENotFound, "no such merchant user")
	}
	return s.String, lastStep, normalise(err)
}

// SetMerchantUserTOTP sets a merchant user's sealed TOTP seed ("" turns
// the second factor off) and resets the last accepted step to step.
func (q *Q) SetMerchantUserTOTP(ctx context.Context, merchantUserID, sealed string, step int64) error {
	_, err := q.exec(ctx, `UPDATE merchant_users SET totp_sealed = ?, totp_last_step = ? WHERE id = ?`, nullString(sealed), step, merchantUserID)
	return err
}

// AcceptMerchantTOTPStep records step as the merchant user's last
// accepted TOTP step if it is later than the one recorded, and reports
// whether it was, so a code works once.
func (q *Q) AcceptMerchantTOTPStep(ctx context.Context, merchantUserID string, step int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE merchant_users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, merchantUserID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// DeleteOtherMerchantSessions removes every portal session of a merchant
// user but keep.
func (q *Q) DeleteOtherMerchantSessions(ctx context.Context, merchantUserID, keep string) error {
	_, err := q.exec(ctx, `DELETE FROM merchant_sessions WHERE merchant_user_id = ? AND id <> ?`, merchantUserID, keep)
	return err
}
