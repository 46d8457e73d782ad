package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Session is a back-office session. The id the browser holds is never
// stored: only its SHA-256, in Digest.
type Session struct {
	ID       string
	Digest   []byte
	TenantID string
	UserID   string
	// PendingMFA marks a session that has passed the password but not yet
	// the second factor; it grants nothing.
	PendingMFA bool
	Address    string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session, however active.
	ExpiresAt time.Time
	// CheckedAt is when the user last proved their password (and second
	// factor) in this session; nil when never.
	CheckedAt *time.Time
	// GrantHash names what the user was allowed when the session's id was
	// issued; the session gets a new id when it no longer matches.
	GrantHash string
}

// InsertSession adds a session.
func (q *Q) InsertSession(ctx context.Context, s *Session) error {
	_, err := q.exec(ctx, `INSERT INTO sessions (id, digest, tenant_id, user_id, pending_mfa, address, created_at, last_seen_at, expires_at, checked_at, grant_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Digest, s.TenantID, s.UserID, s.PendingMFA, s.Address, s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC(), nullTime(s.CheckedAt), s.GrantHash)
	return err
}

// SessionByDigest finds a session by the SHA-256 of its id.
func (q *Q) SessionByDigest(ctx context.Context, digest []byte) (*Session, error) {
	var s Session
	var checked sql.NullTime
	err := q.row(ctx, `SELECT id, digest, tenant_id, user_id, pending_mfa, address, created_at, last_seen_at, expires_at, checked_at, grant_hash
		FROM sessions WHERE digest = ?`, digest).
		Scan(&s.ID, &s.Digest, &s.TenantID, &s.UserID, &s.PendingMFA, &s.Address, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &checked, &s.GrantHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no such session")
	}
	if err != nil {
		return nil, normalise(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	s.CheckedAt = timePtr(checked)
	return &s, nil
}

// TouchSession records activity on a session.
func (q *Q) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, at.UTC(), id)
	return err
}

// DeleteSession removes a session.
func (q *Q) DeleteSession(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// DeleteUserSessions removes every session of a user except the one named
// by keep ("" keeps none).
func (q *Q) DeleteUserSessions(ctx context.Context, userID, keep string) error {
	_, err := q.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
	return err
}

// DeleteStaleSessions removes sessions past their absolute expiry or idle
// since before idleSince.
func (q *Q) DeleteStaleSessions(ctx context.Context, now, idleSince time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`, now.UTC(), idleSince.UTC())
	return err
}

// AddSignInFailure records a failed attempt against subject.
func (q *Q) AddSignInFailure(ctx context.Context, subject string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO sign_in_failures (subject, at) VALUES (?, ?)`, subject, at.UTC())
	return err
}

// SignInFailures returns the times of subject's failed attempts after since,
// oldest first.
func (q *Q) SignInFailures(ctx context.Context, subject string, since time.Time) ([]time.Time, error) {
	rows, err := q.query(ctx, `SELECT at FROM sign_in_failures WHERE subject = ? AND at > ? ORDER BY at`, subject, since.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return nil, err
		}
		out = append(out, at.UTC())
	}
	return out, normalise(rows.Err())
}

// LockSignInSubjects holds, until the transaction ends, a lock on each
// subject's attempts, so that counting them and recording a new one is one
// step: parallel attempts cannot all read the same count. On PostgreSQL it
// takes an advisory lock per subject, in a fixed order so that two
// transactions never wait on each other; SQLite's write transactions
// already run one at a time.
func (q *Q) LockSignInSubjects(ctx context.Context, subjects ...string) error {
	if q.engine != Postgres {
		return nil
	}
	sorted := slices.Clone(subjects)
	slices.Sort(sorted)
	for _, sub := range slices.Compact(sorted) {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 7))`, "sign_in:"+sub); err != nil {
			return err
		}
	}
	return nil
}

// DropSignInFailure forgets one attempt of subject recorded at at.
func (q *Q) DropSignInFailure(ctx context.Context, subject string, at time.Time) error {
	query := `DELETE FROM sign_in_failures WHERE rowid IN (SELECT rowid FROM sign_in_failures WHERE subject = ? AND at = ? LIMIT 1)`
	if q.engine == Postgres {
		query = `DELETE FROM sign_in_failures WHERE ctid IN (SELECT ctid FROM sign_in_failures WHERE subject = ? AND at = ? LIMIT 1)`
	}
	_, err := q.exec(ctx, query, subject, at.UTC())
	return err
}

// UsersByEmail finds the users holding an e-mail address, in any tenant
// or, when domain is not "", in the tenant of that domain; for sign-in.
// An address is unique within a tenant only.
func (q *Q) UsersByEmail(ctx context.Context, email, domain string) ([]*keyward.User, error) {
	rows, err := q.query(ctx, `SELECT `+qualified("u", userCols)+` FROM users u JOIN tenants t ON t.id = u.tenant_id
		WHERE u.email = ? AND (t.domain = ? OR ? = '') ORDER BY t.domain`, email, domain, domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, u)
	}
	return out, normalise(rows.Err())
}

// qualified prefixes each of a comma-separated list of columns with alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// ClearSignInFailures forgets subject's failed attempts.
func (q *Q) ClearSignInFailures(ctx context.Context, subject string) error {
	_, err := q.exec(ctx, `DELETE FROM sign_in_failures WHERE subject = ?`, subject)
	return err
}

// PruneSignInFailures forgets every failed attempt up to before.
func (q *Q) PruneSignInFailures(ctx context.Context, before time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM sign_in_failures WHERE at <= ?`, before.UTC())
	return err
}

// UserTOTP returns a user's TOTP seed as stored ("" when the second
// factor is off): sealed, or, when stored in clear by an earlier version
// and not yet sealed, in clear. It also returns the last time step
// accepted.
func (q *Q) UserTOTP(ctx context.Context, userID string) (seed string, lastStep int64, err error) {
	var s sql.NullString
	err = q.row(ctx, `SELECT COALESCE(totp_sealed, totp_secret), totp_last_step FROM users WHERE id = ?`, userID).Scan(&s, &lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, keyward.Errorf(keyward.ENotFound, "no such user")
	}
	return s.String, lastStep, normalise(err)
}

// SetUserTOTP sets a user's sealed TOTP seed ("" turns the second factor
// off), clears any seed kept in clear, and resets the last accepted step
// to step.
func (q *Q) SetUserTOTP(ctx context.Context, userID, sealed string, step int64) error {
	var v any
	if sealed != "" {
		v = sealed
	}
	_, err := q.exec(ctx, `UPDATE users SET totp_sealed = ?, totp_secret = NULL, totp_last_step = ? WHERE id = ?`, v, step, userID)
	return err
}

// AcceptTOTPStep records step as the user's last accepted TOTP step if it
// is later than the one recorded, and reports whether it was. Two requests
// racing with the same code cannot both succeed.
func (q *Q) AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, userID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}
