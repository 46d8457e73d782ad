package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// InsertKey adds a key with its store selection and secrets.
func (q *Q) InsertKey(ctx context.Context, k *keyward.Key) error {
	perms, methods := encodeKeyJSON(k)
	_, err := q.exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, name_fold, description, enabled, permissions, store_access, methods, rate_limit, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, keyward.FoldName(k.Name), k.Description, k.Enabled, perms, k.Stores.Access, methods, k.RateLimit, nullTime(k.ExpiresAt), k.CreatedAt, k.UpdatedAt)
	if IsUnique(err) {
		return nameTaken("key", k.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	if err := q.putKeyStores(ctx, k); err != nil {
		return err
	}
	for i := range k.Secrets {
		if err := q.InsertKeySecret(ctx, &k.Secrets[i]); err != nil {
			return err
		}
	}
	return nil
}

func encodeKeyJSON(k *keyward.Key) (perms string, methods any) {
	p, _ := json.Marshal(k.Permissions)
	if k.Methods != nil {
		m, _ := json.Marshal(k.Methods)
		methods = string(m)
	}
	return string(p), methods
}

func (q *Q) putKeyStores(ctx context.Context, k *keyward.Key) error {
	if _, err := q.exec(ctx, `DELETE FROM api_key_stores WHERE key_id = ?`, k.ID); err != nil {
		return err
	}
	for _, id := range k.Stores.IDs {
		if _, err := q.exec(ctx, `INSERT INTO api_key_stores (key_id, store_id) VALUES (?, ?)`, k.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// UpdateKey writes a key's settings and store selection (not its secrets).
func (q *Q) UpdateKey(ctx context.Context, k *keyward.Key) error {
	perms, methods := encodeKeyJSON(k)
	_, err := q.exec(ctx, `UPDATE api_keys SET `+keepFold+`, name = ?, description = ?, enabled = ?, permissions = ?, store_access = ?, methods = ?,
		rate_limit = ?, expires_at = ?, updated_at = ? WHERE id = ?`,
		k.Name, keyward.FoldName(k.Name), k.Name, k.Description, k.Enabled, perms, k.Stores.Access, methods, k.RateLimit, nullTime(k.ExpiresAt), k.UpdatedAt, k.ID)
	if IsUnique(err) {
		return nameTaken("key", k.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	return q.putKeyStores(ctx, k)
}

// keepFold sets name_fold from the arguments (name, fold): kept while the
// name stays as it is, so a record that differed from another only in
// case before names were compared that way can still be changed.
const keepFold = `name_fold = CASE WHEN name = ? THEN name_fold ELSE ? END`

// nameTaken answers a name whose fold another record of the tenant holds.
func nameTaken(kind, name, where string) error {
	return &keyward.Error{Code: keyward.EConflict, Field: "name",
		Message: "a " + kind + " named " + quote(name) + " already exists" + where + "; names are compared without regard to case"}
}

// DeleteKey removes a key and its secrets.
func (q *Q) DeleteKey(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	return err
}

// CountKeys counts a tenant's keys.
func (q *Q) CountKeys(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM api_keys WHERE tenant_id = ?`, tenantID).Scan(&n)
	return n, normalise(err)
}

// InsertKeySecret adds a secret to a key's slot.
func (q *Q) InsertKeySecret(ctx context.Context, s *keyward.KeySecret) error {
	_, err := q.exec(ctx, `INSERT INTO api_key_secrets (id, key_id, slot, hint, digest, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.KeyID, s.Slot, s.Hint, s.Digest, s.CreatedAt, nullTime(s.ExpiresAt))
	return err
}

// RetireKeySecrets ends the secrets of a key's slot that have no expiry
// yet: they are deleted when grace is nil, else they expire at *grace.
// Secrets of the slot already in a grace period are deleted either way.
func (q *Q) RetireKeySecrets(ctx context.Context, keyID string, slot int, grace *keyward.KeySecret) error {
	if _, err := q.exec(ctx, `DELETE FROM api_key_secrets WHERE key_id = ? AND slot = ? AND expires_at IS NOT NULL`, keyID, slot); err != nil {
		return err
	}
	if grace == nil {
		_, err := q.exec(ctx, `DELETE FROM api_key_secrets WHERE key_id = ? AND slot = ?`, keyID, slot)
		return err
	}
	_, err := q.exec(ctx, `UPDATE api_key_secrets SET expires_at = ? WHERE key_id = ? AND slot = ?`, nullTime(grace.ExpiresAt), keyID, slot)
	return err
}

const keyCols = `k.id, k.tenant_id, k.name, k.description, k.enabled, k.permissions, k.store_access, k.methods, k.rate_limit, k.expires_at, k.created_at, k.updated_at, k.version`

func scanKey(s interface{ Scan(...any) error }) (*keyward.Key, error) {
	var k keyward.Key
	var perms string
	var methods sql.NullString
	var exp sql.NullTime
	if err := s.Scan(&k.ID, &k.TenantID, &k.Name, &k.Description, &k.Enabled, &perms, &k.Stores.Access, &methods, &k.RateLimit, &exp, &k.CreatedAt, &k.UpdatedAt, &k.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(perms), &k.Permissions); err != nil {
		return nil, err
	}
	if methods.Valid {
		if err := json.Unmarshal([]byte(methods.String), &k.Methods); err != nil {
			return nil, err
		}
	}
	k.ExpiresAt = timePtr(exp)
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	return &k, nil
}

// Key finds a tenant's key by id, with its stores and secrets.
func (q *Q) Key(ctx context.Context, tenantID, id string) (*keyward.Key, error) {
	k, err := scanKey(q.row(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.tenant_id = ? AND k.id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no API key %q in this tenant", id)
	}
	if err != nil {
		return nil, normalise(err)
	}
	if err := q.fillKeys(ctx, []*keyward.Key{k}); err != nil {
		return nil, err
	}
	return k, nil
}

// ListKeys lists a tenant's keys by id, filtered, after the cursor.
func (q *Q) ListKeys(ctx context.Context, tenantID string, f keyward.KeyFilter) ([]*keyward.Key, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + keyCols + ` FROM api_keys k WHERE k.tenant_id = ? AND k.id > ?`)
	args := []any{tenantID, f.After}
	if f.Enabled != nil {
		b.WriteString(` AND k.enabled = ?`)
		args = append(args, *f.Enabled)
	}
	if f.Access != "" {
		b.WriteString(` AND k.store_access = ?`)
		args = append(args, f.Access)
	}
	if f.StoreID != "" {
		b.WriteString(` AND (k.store_access = 'all' OR EXISTS (SELECT 1 FROM api_key_stores s WHERE s.key_id = k.id AND s.store_id = ?))`)
		args = append(args, f.StoreID)
	}
	b.WriteString(` ORDER BY k.id LIMIT ?`)
	args = append(args, f.Limit)
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	var out []*keyward.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, normalise(err)
	}
	return out, q.fillKeys(ctx, out)
}

// fillKeys loads the store ids and secrets of keys, two queries in all.
func (q *Q) fillKeys(ctx context.Context, keys []*keyward.Key) error {
	if len(keys) == 0 {
		return nil
	}
	byID := make(map[string]*keyward.Key, len(keys))
	ph := make([]string, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		byID[k.ID] = k
		k.Secrets = []keyward.KeySecret{}
		ph[i], args[i] = "?", k.ID
	}
	in := "(" + strings.Join(ph, ",") + ")"
	rows, err := q.query(ctx, `SELECT key_id, store_id FROM api_key_stores WHERE key_id IN `+in+` ORDER BY store_id`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kid, sid string
		if err := rows.Scan(&kid, &sid); err != nil {
			rows.Close()
			return err
		}
		byID[kid].Stores.IDs = append(byID[kid].Stores.IDs, sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return normalise(err)
	}
	rows, err = q.query(ctx, `SELECT id, key_id, slot, hint, digest, created_at, expires_at, last_used_at FROM api_key_secrets
		WHERE key_id IN `+in+` ORDER BY slot, created_at DESC`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s keyward.KeySecret
		var exp, used sql.NullTime
		if err := rows.Scan(&s.ID, &s.KeyID, &s.Slot, &s.Hint, &s.Digest, &s.CreatedAt, &exp, &used); err != nil {
			return err
		}
		s.CreatedAt = s.CreatedAt.UTC()
		s.ExpiresAt, s.LastUsedAt = timePtr(exp), timePtr(used)
		k := byID[s.KeyID]
		k.Secrets = append(k.Secrets, s)
	}
	return normalise(rows.Err())
}

// EachKey calls fn for every API key of every tenant, in storage order,
// with its store selection but without its secrets: the data plane loads
// its replica with it and EachKeySecret, and a scan in storage order is
// many times faster than one ordered by key. k is reused between calls,
// and keys whose permissions are stored as equal text share one
// Permissions map: fn must neither keep k nor modify what it holds.
func (q *Q) EachKey(ctx context.Context, fn func(k *keyward.Key) error) error {
	stores := map[string][]string{}
	rows, err := q.query(ctx, `SELECT key_id, store_id FROM api_key_stores`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kid, sid string
		if err := rows.Scan(&kid, &sid); err != nil {
			rows.Close()
			return err
		}
		stores[kid] = append(stores[kid], sid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return normalise(err)
	}
	rows, err = q.query(ctx, `SELECT id, tenant_id, name, enabled, permissions, store_access, methods, rate_limit, expires_at FROM api_keys`)
	if err != nil {
		return err
	}
	defer rows.Close()
	perms := map[string]keyward.Permissions{} // identical permission texts decode once
	var (
		k        keyward.Key
		permText string
		methods  sql.NullString
		exp      sql.NullTime
		expiry   time.Time
	)
	for rows.Next() {
		k = keyward.Key{}
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Name, &k.Enabled, &permText, &k.Stores.Access, &methods, &k.RateLimit, &exp); err != nil {
			return err
		}
		p, ok := perms[permText]
		if !ok {
			if err := json.Unmarshal([]byte(permText), &p); err != nil {
				return err
			}
			perms[permText] = p
		}
		k.Permissions = p
		if ids := stores[k.ID]; ids != nil {
			slices.Sort(ids)
			k.Stores.IDs = ids
		}
		if exp.Valid {
			expiry = exp.Time
			k.ExpiresAt = &expiry
		}
		if methods.Valid {
			if err := json.Unmarshal([]byte(methods.String), &k.Methods); err != nil {
				return err
			}
		}
		if err := fn(&k); err != nil {
			return err
		}
	}
	return normalise(rows.Err())
}

// EachKeySecret calls fn for every API key secret, in storage order. s is
// reused between calls, its Digest included: fn must copy what it keeps.
func (q *Q) EachKeySecret(ctx context.Context, fn func(s *keyward.KeySecret) error) error {
	rows, err := q.query(ctx, `SELECT id, key_id, slot, digest, expires_at FROM api_key_secrets`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		s      keyward.KeySecret
		digest sql.RawBytes
		exp    sql.NullTime
		expiry time.Time
	)
	for rows.Next() {
		s = keyward.KeySecret{}
		if err := rows.Scan(&s.ID, &s.KeyID, &s.Slot, &digest, &exp); err != nil {
			return err
		}
		s.Digest = digest
		if exp.Valid {
			expiry = exp.Time
			s.ExpiresAt = &expiry
		}
		if err := fn(&s); err != nil {
			return err
		}
	}
	return normalise(rows.Err())
}

// KeyByID finds a key of any tenant, for the data plane; nil when gone.
func (q *Q) KeyByID(ctx context.Context, id string) (*keyward.Key, error) {
	k, err := scanKey(q.row(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, normalise(err)
	}
	return k, q.fillKeys(ctx, []*keyward.Key{k})
}

// ListAllTenants lists every tenant with its licence, for the data plane.
func (q *Q) ListAllTenants(ctx context.Context) ([]*keyward.Tenant, map[string]*keyward.Licence, error) {
	var ts []*keyward.Tenant
	after := ""
	for {
		page, err := q.ListTenants(ctx, after, 1000)
		if err != nil {
			return nil, nil, err
		}
		ts = append(ts, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Domain
	}
	ls := make(map[string]*keyward.Licence, len(ts))
	for _, t := range ts {
		l, err := q.Licence(ctx, t.ID)
		if err != nil {
			return nil, nil, err
		}
		ls[t.ID] = l
	}
	return ts, ls, nil
}
