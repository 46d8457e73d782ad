package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// InsertMerchant adds a merchant with its stores.
func (q *Q) InsertMerchant(ctx context.Context, m *keyward.Merchant) error {
	_, err := q.exec(ctx, `INSERT INTO merchants (id, tenant_id, name, name_fold, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.TenantID, m.Name, keyward.FoldName(m.Name), m.CreatedAt, m.UpdatedAt)
	if IsUnique(err) {
		return nameTaken("merchant", m.Name, "")
	}
	if err != nil {
		return err
	}
	return q.putMerchantStores(ctx, m)
}

func (q *Q) putMerchantStores(ctx context.Context, m *keyward.Merchant) error {
	if _, err := q.exec(ctx, `DELETE FROM merchant_stores WHERE merchant_id = ?`, m.ID); err != nil {
		return err
	}
	for _, s := range m.StoreIDs {
		if _, err := q.exec(ctx, `INSERT INTO merchant_stores (merchant_id, store_id) VALUES (?, ?)`, m.ID, s); err != nil {
			return err
		}
	}
	return nil
}

// UpdateMerchant writes a merchant's name and stores.
func (q *Q) UpdateMerchant(ctx context.Context, m *keyward.Merchant) error {
	_, err := q.exec(ctx, `UPDATE merchants SET `+keepFold+`, name = ?, updated_at = ? WHERE id = ?`,
		m.Name, keyward.FoldName(m.Name), m.Name, m.UpdatedAt, m.ID)
	if IsUnique(err) {
		return nameTaken("merchant", m.Name, "")
	}
	if err != nil {
		return err
	}
	return q.putMerchantStores(ctx, m)
}

// DeleteMerchant removes a merchant and its users.
func (q *Q) DeleteMerchant(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM merchants WHERE id = ?`, id)
	return err
}

// Merchant finds a tenant's merchant by id.
func (q *Q) Merchant(ctx context.Context, tenantID, id string) (*keyward.Merchant, error) {
	var m keyward.Merchant
	err := q.row(ctx, `SELECT id, tenant_id, name, created_at, updated_at FROM merchants WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&m.ID, &m.TenantID, &m.Name, &m.CreatedAt, &m.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no merchant %q in this tenant", id)
	}
	if err != nil {
		return nil, normalise(err)
	}
	ms := []*keyward.Merchant{&m}
	return &m, q.fillMerchants(ctx, ms)
}

// ListMerchants lists a tenant's merchants by name.
func (q *Q) ListMerchants(ctx context.Context, tenantID string) ([]*keyward.Merchant, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, name, created_at, updated_at FROM merchants WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	var out []*keyward.Merchant
	for rows.Next() {
		var m keyward.Merchant
		if err := rows.Scan(&m.ID, &m.TenantID, &m.Name, &m.CreatedAt, &m.UpdatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, &m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, normalise(err)
	}
	return out, q.fillMerchants(ctx, out)
}

func (q *Q) fillMerchants(ctx context.Context, ms []*keyward.Merchant) error {
	for _, m := range ms {
		m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
		m.StoreIDs = []string{}
		rows, err := q.query(ctx, `SELECT store_id FROM merchant_stores WHERE merchant_id = ? ORDER BY store_id`, m.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			m.StoreIDs = append(m.StoreIDs, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return normalise(err)
		}
	}
	return nil
}

// InsertMerchantUser adds a merchant user.
func (q *Q) InsertMerchantUser(ctx context.Context, u *keyward.MerchantUser) error {
	_, err := q.exec(ctx, `INSERT INTO merchant_users (id, tenant_id, merchant_id, email, name, level, api_access, account_id,
		auth_key_hint, auth_key_digest, api_enabled_at, created_at, updated_at, allowed_addresses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.TenantID, u.MerchantID, u.Email, u.Name, u.Level, u.APIAccess, nullString(u.AccountID),
		nullString(u.AuthKeyHint), nullBytes(u.AuthKeyDigest), nullTime(u.APIEnabledAt), u.CreatedAt, u.UpdatedAt, encodeAddresses(u.AllowedAddresses))
	if IsUnique(err) {
		return &keyward.Error{Code: keyward.EConflict, Field: "email", Message: "a merchant user with email " + quote(u.Email) + " already exists"}
	}
	return err
}

// UpdateMerchantUser writes a merchant user, including its credentials.
func (q *Q) UpdateMerchantUser(ctx context.Context, u *keyward.MerchantUser) error {
	_, err := q.exec(ctx, `UPDATE merchant_users SET name = ?, level = ?, api_access = ?, account_id = ?, auth_key_hint = ?,
		auth_key_digest = ?, api_enabled_at = ?, previous_key_digest = ?, previous_key_expires_at = ?, updated_at = ?, allowed_addresses = ? WHERE id = ?`,
		u.Name, u.Level, u.APIAccess, nullString(u.AccountID), nullString(u.AuthKeyHint), nullBytes(u.AuthKeyDigest),
		nullTime(u.APIEnabledAt), nullBytes(u.PreviousKeyDigest), nullTime(u.PreviousKeyExpiresAt), u.UpdatedAt, encodeAddresses(u.AllowedAddresses), u.ID)
	return err
}

// DeleteMerchantUser removes a merchant user.
func (q *Q) DeleteMerchantUser(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM merchant_users WHERE id = ?`, id)
	return err
}

const merchantUserCols = `id, tenant_id, merchant_id, email, name, level, api_access, account_id, auth_key_hint, auth_key_digest, api_enabled_at, previous_key_digest, previous_key_expires_at, created_at, updated_at, allowed_addresses`

// scanMerchantUser reads the merchantUserCols of a row, and extra the
// columns after them.
func scanMerchantUser(s interface{ Scan(...any) error }, extra ...any) (*keyward.MerchantUser, error) {
	var u keyward.MerchantUser
	var acc, hint, addrs sql.NullString
	var enabled, prevExpires sql.NullTime
	dest := append([]any{&u.ID, &u.TenantID, &u.MerchantID, &u.Email, &u.Name, &u.Level, &u.APIAccess, &acc, &hint,
		&u.AuthKeyDigest, &enabled, &u.PreviousKeyDigest, &prevExpires, &u.CreatedAt, &u.UpdatedAt, &addrs}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	if err := decodeAddresses(addrs, &u.AllowedAddresses); err != nil {
		return nil, err
	}
	u.AccountID, u.AuthKeyHint, u.APIEnabledAt = acc.String, hint.String, timePtr(enabled)
	u.PreviousKeyExpiresAt = timePtr(prevExpires)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// MerchantUser finds a tenant's merchant user by id, or by API Account ID.
func (q *Q) MerchantUser(ctx context.Context, tenantID, idOrAccount string) (*keyward.MerchantUser, error) {
	u, err := scanMerchantUser(q.row(ctx, `SELECT `+merchantUserCols+` FROM merchant_users WHERE tenant_id = ? AND (id = ? OR account_id = ?)`,
		tenantID, idOrAccount, idOrAccount))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no merchant user %q in this tenant", idOrAccount)
	}
	return u, normalise(err)
}

// MerchantUserByID finds a merchant user of any tenant, for the data
// plane; nil when gone.
func (q *Q) MerchantUserByID(ctx context.Context, id string) (*keyward.MerchantUser, error) {
	u, err := scanMerchantUser(q.row(ctx, `SELECT `+merchantUserCols+` FROM merchant_users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, normalise(err)
}

// ListMerchantUsers lists a merchant's users, or with merchantID "" the
// tenant's users with API access on.
func (q *Q) ListMerchantUsers(ctx context.Context, tenantID, merchantID string) ([]*keyward.MerchantUser, error) {
	query := `SELECT ` + merchantUserCols + ` FROM merchant_users WHERE tenant_id = ?`
	args := []any{tenantID}
	if merchantID != "" {
		query += ` AND merchant_id = ?`
		args = append(args, merchantID)
	} else {
		query += ` AND api_access = ?`
		args = append(args, true)
	}
	return q.merchantUsers(ctx, query+` ORDER BY email`, args...)
}

// AllMerchantUsersWithAPIAccess lists every enabled merchant credential.
func (q *Q) AllMerchantUsersWithAPIAccess(ctx context.Context) ([]*keyward.MerchantUser, error) {
	return q.merchantUsers(ctx, `SELECT `+merchantUserCols+` FROM merchant_users WHERE api_access = ?`, true)
}

func (q *Q) merchantUsers(ctx context.Context, query string, args ...any) ([]*keyward.MerchantUser, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.MerchantUser
	for rows.Next() {
		u, err := scanMerchantUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, normalise(rows.Err())
}

// SetOwner records the merchant that owns a record, replacing any owner
// recorded before; an empty merchantID removes the record's owner.
func (q *Q) SetOwner(ctx context.Context, tenantID, resource, recordID, merchantID string, at time.Time) error {
	if merchantID == "" {
		_, err := q.exec(ctx, `DELETE FROM record_owners WHERE tenant_id = ? AND resource = ? AND record_id = ?`, tenantID, resource, recordID)
		return err
	}
	_, err := q.exec(ctx, `INSERT INTO record_owners (tenant_id, resource, record_id, merchant_id, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, resource, record_id) DO UPDATE SET merchant_id = excluded.merchant_id, created_at = excluded.created_at`,
		tenantID, resource, recordID, merchantID, at)
	return err
}

// Owner is one record's owning merchant.
type Owner struct {
	TenantID, Resource, RecordID, MerchantID string
}

// AllOwners calls fn for every ownership record, for the data plane.
func (q *Q) AllOwners(ctx context.Context, fn func(Owner)) error {
	rows, err := q.query(ctx, `SELECT tenant_id, resource, record_id, merchant_id FROM record_owners`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o Owner
		if err := rows.Scan(&o.TenantID, &o.Resource, &o.RecordID, &o.MerchantID); err != nil {
			return err
		}
		fn(o)
	}
	return normalise(rows.Err())
}

// OwnerOf returns a record's owning merchant ("" when none).
func (q *Q) OwnerOf(ctx context.Context, tenantID, resource, recordID string) (string, error) {
	var m string
	err := q.row(ctx, `SELECT merchant_id FROM record_owners WHERE tenant_id = ? AND resource = ? AND record_id = ?`, tenantID, resource, recordID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return m, normalise(err)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// MerchantUserByAccount finds a merchant user of any tenant by API Account
// ID; nil when none.
func (q *Q) MerchantUserByAccount(ctx context.Context, accountID string) (*keyward.MerchantUser, error) {
	u, err := scanMerchantUser(q.row(ctx, `SELECT `+merchantUserCols+` FROM merchant_users WHERE account_id = ?`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, normalise(err)
}
