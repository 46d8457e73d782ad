package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// InsertProfile adds a security profile.
func (q *Q) InsertProfile(ctx context.Context, p *keyward.Profile) error {
	f, _ := json.Marshal(p.Features)
	_, err := q.exec(ctx, `INSERT INTO profiles (id, tenant_id, name, name_fold, features, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.TenantID, p.Name, keyward.FoldName(p.Name), string(f), p.CreatedAt, p.UpdatedAt)
	if IsUnique(err) {
		return nameTaken("profile", p.Name, "")
	}
	return err
}

// UpdateProfile writes a profile's name and features.
func (q *Q) UpdateProfile(ctx context.Context, p *keyward.Profile) error {
	f, _ := json.Marshal(p.Features)
	_, err := q.exec(ctx, `UPDATE profiles SET `+keepFold+`, name = ?, features = ?, updated_at = ? WHERE id = ?`,
		p.Name, keyward.FoldName(p.Name), p.Name, string(f), p.UpdatedAt, p.ID)
	if IsUnique(err) {
		return nameTaken("profile", p.Name, "")
	}
	return err
}

// DeleteProfile removes a profile; it fails with a conflict while users hold it.
func (q *Q) DeleteProfile(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM profiles WHERE id = ?`, id)
	if IsForeignKey(err) {
		return keyward.Errorf(keyward.EConflict, "users still hold this profile; give them another profile first")
	}
	return err
}

const profileCols = `id, tenant_id, name, features, created_at, updated_at`

func scanProfile(s interface{ Scan(...any) error }) (*keyward.Profile, error) {
	var p keyward.Profile
	var f string
	if err := s.Scan(&p.ID, &p.TenantID, &p.Name, &f, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(f), &p.Features); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

// Profile finds a tenant's profile by id or name.
func (q *Q) Profile(ctx context.Context, tenantID, idOrName string) (*keyward.Profile, error) {
	p, err := scanProfile(q.row(ctx, `SELECT `+profileCols+` FROM profiles WHERE tenant_id = ? AND (id = ? OR name = ?)`, tenantID, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no security profile %q in this tenant", idOrName)
	}
	return p, normalise(err)
}

// ListProfiles lists a tenant's profiles by name.
func (q *Q) ListProfiles(ctx context.Context, tenantID string) ([]*keyward.Profile, error) {
	rows, err := q.query(ctx, `SELECT `+profileCols+` FROM profiles WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, normalise(rows.Err())
}

// InsertUser adds a user.
func (q *Q) InsertUser(ctx context.Context, u *keyward.User) error {
	_, err := q.exec(ctx, `INSERT INTO users (id, tenant_id, email, name, profile_id, active, must_change_password, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.TenantID, u.Email, u.Name, u.ProfileID, u.Active, u.MustChangePassword, u.PasswordHash, u.CreatedAt, u.UpdatedAt)
	if IsUnique(err) {
		return &keyward.Error{Code: keyward.EConflict, Field: "email", Message: "a user with email " + quote(u.Email) + " already exists in this tenant"}
	}
	return err
}

// UpdateUser writes a user's name, profile, active flag, password hash and
// whether the password must be changed.
func (q *Q) UpdateUser(ctx context.Context, u *keyward.User) error {
	_, err := q.exec(ctx, `UPDATE users SET name = ?, profile_id = ?, active = ?, must_change_password = ?, password_hash = ?, updated_at = ? WHERE id = ?`,
		u.Name, u.ProfileID, u.Active, u.MustChangePassword, u.PasswordHash, u.UpdatedAt, u.ID)
	return err
}

const userCols = `id, tenant_id, email, name, profile_id, active, must_change_password, password_hash, created_at, updated_at`

func scanUser(s interface{ Scan(...any) error }) (*keyward.User, error) {
	var u keyward.User
	if err := s.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &u.ProfileID, &u.Active, &u.MustChangePassword, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// User finds a tenant's user by id or email.
func (q *Q) User(ctx context.Context, tenantID, idOrEmail string) (*keyward.User, error) {
	u, err := scanUser(q.row(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND (id = ? OR email = ?)`, tenantID, idOrEmail, idOrEmail))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no user %q in this tenant", idOrEmail)
	}
	return u, normalise(err)
}

// ListUsers lists a tenant's users by e-mail.
func (q *Q) ListUsers(ctx context.Context, tenantID string) ([]*keyward.User, error) {
	rows, err := q.query(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? ORDER BY email`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, normalise(rows.Err())
}

// InsertToken adds a personal access token.
func (q *Q) InsertToken(ctx context.Context, t *keyward.Token) error {
	_, err := q.exec(ctx, `INSERT INTO tokens (id, tenant_id, user_id, name, hint, digest, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.TenantID, t.UserID, t.Name, t.Hint, t.Digest, t.CreatedAt, nullTime(t.ExpiresAt))
	return err
}

const tokenCols = `id, tenant_id, user_id, name, hint, created_at, expires_at, last_used_at`

func scanToken(s interface{ Scan(...any) error }) (*keyward.Token, error) {
	var t keyward.Token
	var exp, used sql.NullTime
	if err := s.Scan(&t.ID, &t.TenantID, &t.UserID, &t.Name, &t.Hint, &t.CreatedAt, &exp, &used); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt, t.LastUsedAt = timePtr(exp), timePtr(used)
	return &t, nil
}

// TokenByDigest finds a token by the SHA-256 of its secret.
func (q *Q) TokenByDigest(ctx context.Context, digest []byte) (*keyward.Token, error) {
	t, err := scanToken(q.row(ctx, `SELECT `+tokenCols+` FROM tokens WHERE digest = ?`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no such token")
	}
	return t, normalise(err)
}

// Token finds a tenant's token by id.
func (q *Q) Token(ctx context.Context, tenantID, id string) (*keyward.Token, error) {
	t, err := scanToken(q.row(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no token %q in this tenant", id)
	}
	return t, normalise(err)
}

// ListTokens lists a user's tokens, newest first.
func (q *Q) ListTokens(ctx context.Context, tenantID, userID string) ([]*keyward.Token, error) {
	rows, err := q.query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, id`, tenantID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, normalise(rows.Err())
}

// TouchToken records a token's use.
func (q *Q) TouchToken(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, now(), id)
	return err
}

// DeleteToken removes a token.
func (q *Q) DeleteToken(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	return err
}

// DeleteUserTokens removes every token of a user and reports how many
// there were.
func (q *Q) DeleteUserTokens(ctx context.Context, userID string) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM tokens WHERE user_id = ?`, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SignInLink is a one-time link to set a password and sign in. Only the
// SHA-256 of its secret is kept.
type SignInLink struct {
	ID        string
	Digest    []byte
	TenantID  string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// InsertSignInLink adds a sign-in link, and removes the user's earlier
// unused ones, so only the newest link works.
func (q *Q) InsertSignInLink(ctx context.Context, l *SignInLink) error {
	if _, err := q.exec(ctx, `DELETE FROM sign_in_links WHERE user_id = ? AND used_at IS NULL`, l.UserID); err != nil {
		return err
	}
	_, err := q.exec(ctx, `INSERT INTO sign_in_links (id, digest, tenant_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		l.ID, l.Digest, l.TenantID, l.UserID, l.CreatedAt.UTC(), l.ExpiresAt.UTC())
	return err
}

// DeleteUserSignInLinks removes a user's unused sign-in links.
func (q *Q) DeleteUserSignInLinks(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `DELETE FROM sign_in_links WHERE user_id = ? AND used_at IS NULL`, userID)
	return err
}

// SignInLinkByDigest finds a sign-in link by the SHA-256 of its secret.
func (q *Q) SignInLinkByDigest(ctx context.Context, digest []byte) (*SignInLink, error) {
	var l SignInLink
	var used sql.NullTime
	err := q.row(ctx, `SELECT id, digest, tenant_id, user_id, created_at, expires_at, used_at FROM sign_in_links WHERE digest = ?`, digest).
		Scan(&l.ID, &l.Digest, &l.TenantID, &l.UserID, &l.CreatedAt, &l.ExpiresAt, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no such sign-in link")
	}
	if err != nil {
		return nil, normalise(err)
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = l.CreatedAt.UTC(), l.ExpiresAt.UTC(), timePtr(used)
	return &l, nil
}

// UseSignInLink marks a link used, once: it reports false when the link
// was already used.
func (q *Q) UseSignInLink(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := q.exec(ctx, `UPDATE sign_in_links SET used_at = ? WHERE id = ? AND used_at IS NULL`, at.UTC(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
