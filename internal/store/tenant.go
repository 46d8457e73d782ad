package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// InsertTenant adds a tenant.
func (q *Q) InsertTenant(ctx context.Context, t *keyward.Tenant) error {
	_, err := q.exec(ctx, `INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`,
		t.ID, t.Domain, t.Name, t.CreatedAt)
	if IsUnique(err) {
		return keyward.Errorf(keyward.EConflict, "a tenant with domain %q already exists", t.Domain)
	}
	return err
}

const tenantCols = `id, domain, name, created_at`

func scanTenant(s interface{ Scan(...any) error }) (*keyward.Tenant, error) {
	var t keyward.Tenant
	if err := s.Scan(&t.ID, &t.Domain, &t.Name, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// TenantByDomain finds a tenant by its domain.
func (q *Q) TenantByDomain(ctx context.Context, domain string) (*keyward.Tenant, error) {
	t, err := scanTenant(q.row(ctx, `SELECT `+tenantCols+` FROM tenants WHERE domain = ?`, domain))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no tenant with domain %q", domain)
	}
	return t, normalise(err)
}

// TenantByID finds a tenant by id.
func (q *Q) TenantByID(ctx context.Context, id string) (*keyward.Tenant, error) {
	t, err := scanTenant(q.row(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no tenant with id %q", id)
	}
	return t, normalise(err)
}

// ListTenants lists tenants by domain, after the given domain.
func (q *Q) ListTenants(ctx context.Context, after string, limit int) ([]*keyward.Tenant, error) {
	rows, err := q.query(ctx, `SELECT `+tenantCols+` FROM tenants WHERE domain > ? ORDER BY domain LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, normalise(rows.Err())
}

// Licence returns a tenant's licence; a tenant without one gets a licence
// that grants nothing.
func (q *Q) Licence(ctx context.Context, tenantID string) (*keyward.Licence, error) {
	l := keyward.Licence{TenantID: tenantID}
	var exp sql.NullTime
	err := q.row(ctx, `SELECT api_access, max_keys, rate_limit, expires_at, updated_at FROM licences WHERE tenant_id = ?`, tenantID).
		Scan(&l.APIAccess, &l.MaxKeys, &l.RateLimit, &exp, &l.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return &l, nil
	}
	if err != nil {
		return nil, normalise(err)
	}
	l.ExpiresAt = timePtr(exp)
	l.UpdatedAt = l.UpdatedAt.UTC()
	return &l, nil
}

// PutLicence creates or replaces a tenant's licence.
func (q *Q) PutLicence(ctx context.Context, l *keyward.Licence) error {
	_, err := q.exec(ctx, `INSERT INTO licences (tenant_id, api_access, max_keys, rate_limit, expires_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET api_access = excluded.api_access, max_keys = excluded.max_keys,
			rate_limit = excluded.rate_limit, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
		l.TenantID, l.APIAccess, l.MaxKeys, l.RateLimit, nullTime(l.ExpiresAt), l.UpdatedAt)
	return err
}

// Setting reads an operator setting; ok is false when it is not set.
func (q *Q) Setting(ctx context.Context, name string) (value string, ok bool, err error) {
	err = q.row(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, normalise(err)
}

// PutSetting writes an operator setting.
func (q *Q) PutSetting(ctx context.Context, name, value string) error {
	_, err := q.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// InsertStore adds a store.
func (q *Q) InsertStore(ctx context.Context, s *keyward.Store) error {
	_, err := q.exec(ctx, `INSERT INTO stores (id, tenant_id, code, name, active, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		s.ID, s.TenantID, s.Code, s.Name, s.Active, s.CreatedAt)
	if IsUnique(err) {
		return &keyward.Error{Code: keyward.EConflict, Field: "code", Message: "a store with code " + quote(s.Code) + " already exists in this tenant"}
	}
	return err
}

const storeCols = `id, tenant_id, code, name, active, created_at`

func scanStore(s interface{ Scan(...any) error }) (*keyward.Store, error) {
	var st keyward.Store
	if err := s.Scan(&st.ID, &st.TenantID, &st.Code, &st.Name, &st.Active, &st.CreatedAt); err != nil {
		return nil, err
	}
	st.CreatedAt = st.CreatedAt.UTC()
	return &st, nil
}

// Store finds a tenant's store by id or code.
func (q *Q) Store(ctx context.Context, tenantID, idOrCode string) (*keyward.Store, error) {
	st, err := scanStore(q.row(ctx, `SELECT `+storeCols+` FROM stores WHERE tenant_id = ? AND (id = ? OR code = ?)`, tenantID, idOrCode, idOrCode))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no store %q in this tenant", idOrCode)
	}
	return st, normalise(err)
}

// ListStores lists a tenant's stores by code.
func (q *Q) ListStores(ctx context.Context, tenantID string) ([]*keyward.Store, error) {
	rows, err := q.query(ctx, `SELECT `+storeCols+` FROM stores WHERE tenant_id = ? ORDER BY code`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Store
	for rows.Next() {
		st, err := scanStore(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, normalise(rows.Err())
}

// UpdateStore writes a store's name and whether it is active.
func (q *Q) UpdateStore(ctx context.Context, s *keyward.Store) error {
	_, err := q.exec(ctx, `UPDATE stores SET name = ?, active = ? WHERE id = ?`, s.Name, s.Active, s.ID)
	return err
}

// DeleteStore removes a store; it fails with a conflict while keys use it.
func (q *Q) DeleteStore(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM stores WHERE id = ?`, id)
	if IsForeignKey(err) {
		return keyward.Errorf(keyward.EConflict, "the store is still selected by API keys; remove it from those keys first")
	}
	return err
}

func quote(s string) string { return `"` + s + `"` }

// now is used where a store method needs a timestamp of its own.
func now() time.Time { return time.Now().UTC() }

// LockTenant serialises writes that check a tenant's limits: on
// PostgreSQL it locks the tenant's row until the transaction ends, so two
// transactions counting the tenant's keys take turns; SQLite transactions
// already take the database's write lock at BEGIN. It must run inside
// Write, before the counts it protects are read, and before anything else
// is locked. NO KEY UPDATE leaves inserts of rows that refer to the tenant
// free to go on; only other LockTenant calls wait.
func (q *Q) LockTenant(ctx context.Context, tenantID string) error {
	query := `SELECT id FROM tenants WHERE id = ?`
	if q.engine == Postgres {
		query += ` FOR NO KEY UPDATE`
	}
	var id string
	err := q.row(ctx, query, tenantID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.Errorf(keyward.ENotFound, "no tenant with id %q", tenantID)
	}
	return normalise(err)
}
