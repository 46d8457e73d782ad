package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// KeyPolicy returns a tenant's key policy; a tenant that never set one
// has every rule off and no version.
func (q *Q) KeyPolicy(ctx context.Context, tenantID string) (*keyward.KeyPolicy, error) {
	p := &keyward.KeyPolicy{TenantID: tenantID}
	var at time.Time
	err := q.row(ctx, `SELECT max_lifetime_days, inactive_days, updated_at, version FROM key_policies WHERE tenant_id = ?`, tenantID).
		Scan(&p.MaxLifetimeDays, &p.InactiveDays, &at, &p.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return nil, normalise(err)
	}
	at = at.UTC()
	p.UpdatedAt = &at
	return p, nil
}

// PutKeyPolicy writes a tenant's key policy.
func (q *Q) PutKeyPolicy(ctx context.Context, p *keyward.KeyPolicy) error {
	_, err := q.exec(ctx, `INSERT INTO key_policies (tenant_id, max_lifetime_days, inactive_days, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET max_lifetime_days = excluded.max_lifetime_days, inactive_days = excluded.inactive_days,
		updated_at = excluded.updated_at`, p.TenantID, p.MaxLifetimeDays, p.InactiveDays, p.UpdatedAt.UTC())
	return err
}

// InactivityPolicies lists the key policies that disable unused keys.
func (q *Q) InactivityPolicies(ctx context.Context) ([]*keyward.KeyPolicy, error) {
	rows, err := q.query(ctx, `SELECT tenant_id, max_lifetime_days, inactive_days FROM key_policies WHERE inactive_days > 0 ORDER BY tenant_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.KeyPolicy
	for rows.Next() {
		p := &keyward.KeyPolicy{}
		if err := rows.Scan(&p.TenantID, &p.MaxLifetimeDays, &p.InactiveDays); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, normalise(rows.Err())
}

// AddNotice records that a notice about a credential, due at due, is
// being sent, and reports whether it is new: false when any node has
// recorded it before, so each notice is sent once.
func (q *Q) AddNotice(ctx context.Context, tenantID, credentialID, notice string, due, at time.Time) (bool, error) {
	res, err := q.exec(ctx, `INSERT INTO credential_notices (credential_id, notice, due_at, tenant_id, sent_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (credential_id, notice, due_at) DO NOTHING`, credentialID, notice, due.UTC(), tenantID, at.UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// LatestNotice returns when the newest notice of a kind about a
// credential was sent and what it was due at; ok is false when none was.
func (q *Q) LatestNotice(ctx context.Context, credentialID, notice string) (due, sent time.Time, ok bool, err error) {
	err = q.row(ctx, `SELECT due_at, sent_at FROM credential_notices WHERE credential_id = ? AND notice = ? ORDER BY sent_at DESC LIMIT 1`,
		credentialID, notice).Scan(&due, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, time.Time{}, false, nil
	}
	return due.UTC(), sent.UTC(), err == nil, normalise(err)
}

// PruneNotices deletes the notices due before the given time: past their
// credential's expiry they can no longer be sent again.
func (q *Q) PruneNotices(ctx context.Context, before time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM credential_notices WHERE due_at < ?`, before.UTC())
	return err
}

// Expiring is a credential whose expiry falls in a window, as an expiry
// warning names it.
type Expiring struct {
	Kind      string // keyward.CredentialKey, CredentialSecret, …
	ID        string
	TenantID  string
	Name      string
	ExpiresAt time.Time
	// KeyID and Slot name a secret's key; UserID a token's user;
	// MerchantID and AccountID a merchant Auth Key's merchant.
	KeyID      string
	Slot       int
	UserID     string
	MerchantID string
	AccountID  string
	// Stores are the stores the credential acts on; none for all.
	Stores []string
}

// ExpiringCredentials lists the credentials that still work and expire
// after from and no later than to: enabled keys, the secrets of enabled
// keys kept for a grace period, personal tokens and merchant Auth Keys
// kept for a grace period after a new one was generated.
func (q *Q) ExpiringCredentials(ctx context.Context, from, to time.Time) ([]Expiring, error) {
	f, t := from.UTC(), to.UTC()
	var out []Expiring
	type scanFn func(*sql.Rows) (Expiring, error)
	each := func(query string, scan scanFn) error {
		rows, err := q.query(ctx, query, f, t)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scan(rows)
			if err != nil {
				return err
			}
			e.ExpiresAt = e.ExpiresAt.UTC()
			out = append(out, e)
		}
		return normalise(rows.Err())
	}
	err := each(`SELECT id, tenant_id, name, expires_at FROM api_keys WHERE enabled = TRUE AND expires_at > ? AND expires_at <= ? ORDER BY id`,
		func(r *sql.Rows) (Expiring, error) {
			e := Expiring{Kind: keyward.CredentialKey}
			err := r.Scan(&e.ID, &e.TenantID, &e.Name, &e.ExpiresAt)
			e.KeyID = e.ID
			return e, err
		})
	if err == nil {
		err = each(`SELECT s.id, k.tenant_id, k.name, s.expires_at, s.key_id, s.slot FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id
			WHERE k.enabled = TRUE AND s.expires_at > ? AND s.expires_at <= ? ORDER BY s.id`,
			func(r *sql.Rows) (Expiring, error) {
				e := Expiring{Kind: keyward.CredentialSecret}
				return e, r.Scan(&e.ID, &e.TenantID, &e.Name, &e.ExpiresAt, &e.KeyID, &e.Slot)
			})
	}
	if err == nil {
		err = each(`SELECT id, tenant_id, name, expires_at, user_id FROM tokens WHERE expires_at > ? AND expires_at <= ? ORDER BY id`,
			func(r *sql.Rows) (Expiring, error) {
				e := Expiring{Kind: keyward.CredentialToken}
				return e, r.Scan(&e.ID, &e.TenantID, &e.Name, &e.ExpiresAt, &e.UserID)
			})
	}
	if err == nil {
		err = each(`SELECT id, tenant_id, email, previous_key_expires_at, merchant_id, account_id FROM merchant_users
			WHERE api_access = TRUE AND previous_key_expires_at > ? AND previous_key_expires_at <= ? ORDER BY id`,
			func(r *sql.Rows) (Expiring, error) {
				e := Expiring{Kind: keyward.CredentialMerchantKey}
				var acc sql.NullString
				err := r.Scan(&e.ID, &e.TenantID, &e.Name, &e.ExpiresAt, &e.MerchantID, &acc)
				e.AccountID = acc.String
				return e, err
			})
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].KeyID == "" {
			continue
		}
		if err := q.keyStoreIDs(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keyStoreIDs sets the stores of a key's expiring credential: the key's
// selection, or none for a key of all stores.
func (q *Q) keyStoreIDs(ctx context.Context, e *Expiring) error {
	rows, err := q.query(ctx, `SELECT s.store_id FROM api_key_stores s JOIN api_keys k ON k.id = s.key_id
		WHERE s.key_id = ? AND k.store_access = 'selected' ORDER BY s.store_id`, e.KeyID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		e.Stores = append(e.Stores, id)
	}
	return normalise(rows.Err())
}
