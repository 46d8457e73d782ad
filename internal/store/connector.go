package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// ConnectionFilter narrows a list of connections; zero fields match all.
type ConnectionFilter struct {
	Type    string
	StoreID string
	State   string
	Enabled *bool
}

func encodeConnection(c *keyward.Connection) (settings, names, scopes, verification string) {
	s, _ := json.Marshal(connMap(c.Settings))
	n, _ := json.Marshal(connStrings(c.SecretsSet))
	sc, _ := json.Marshal(connStrings(c.RequiredScopes))
	if c.Verification != nil {
		v, _ := json.Marshal(c.Verification)
		verification = string(v)
	}
	return string(s), string(n), string(sc), verification
}

func connStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func connMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// InsertConnection adds a connection with its secrets sealed (see
// internal/seal); the plain secrets are never written.
func (q *Q) InsertConnection(ctx context.Context, c *keyward.Connection, sealedSecrets string) error {
	settings, names, scopes, ver := encodeConnection(c)
	_, err := q.exec(ctx, `INSERT INTO connections (id, tenant_id, type, name, name_fold, store_access, api_url, settings, secret_names, secrets_sealed,
		required_scopes, enabled, state, verification, verified_at, creds_changed_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TenantID, c.Type, c.Name, keyward.FoldName(c.Name), c.Stores.Access, c.APIURL, settings, names, nullString(sealedSecrets),
		scopes, c.Enabled, c.State, nullString(ver), verifiedAt(c), c.CredentialsChangedAt, c.CreatedAt, c.UpdatedAt)
	if IsUnique(err) {
		return nameTaken("connection", c.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	return q.setConnectionStores(ctx, c)
}

func verifiedAt(c *keyward.Connection) any {
	if c.Verification == nil {
		return nil
	}
	return c.Verification.CheckedAt.UTC()
}

func (q *Q) setConnectionStores(ctx context.Context, c *keyward.Connection) error {
	if _, err := q.exec(ctx, `DELETE FROM connection_stores WHERE connection_id = ?`, c.ID); err != nil {
		return err
	}
	for _, id := range c.Stores.IDs {
		if _, err := q.exec(ctx, `INSERT INTO connection_stores (connection_id, store_id) VALUES (?, ?)`, c.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// UpdateConnection writes a connection's settings, state and last check;
// sealedSecrets replaces the stored secrets unless it is "".
func (q *Q) UpdateConnection(ctx context.Context, c *keyward.Connection, sealedSecrets string) error {
	settings, names, scopes, ver := encodeConnection(c)
	query := `UPDATE connections SET name = ?, name_fold = ?, store_access = ?, api_url = ?, settings = ?, secret_names = ?,
		required_scopes = ?, enabled = ?, state = ?, verification = ?, verified_at = ?, creds_changed_at = ?, updated_at = ?`
	args := []any{c.Name, keyward.FoldName(c.Name), c.Stores.Access, c.APIURL, settings, names,
		scopes, c.Enabled, c.State, nullString(ver), verifiedAt(c), c.CredentialsChangedAt, c.UpdatedAt}
	if sealedSecrets != "" {
		query += `, secrets_sealed = ?`
		args = append(args, sealedSecrets)
	}
	_, err := q.exec(ctx, query+` WHERE id = ?`, append(args, c.ID)...)
	if IsUnique(err) {
		return nameTaken("connection", c.Name, " in this tenant")
	}
	if err != nil {
		return err
	}
	return q.setConnectionStores(ctx, c)
}

// DeleteConnection removes a connection and its sealed secrets.
func (q *Q) DeleteConnection(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM connections WHERE id = ?`, id)
	return err
}

// ConnectionSealedSecrets returns the sealed secrets of a tenant's
// connection, "" when none are stored.
func (q *Q) ConnectionSealedSecrets(ctx context.Context, tenantID, id string) (string, error) {
	var s sql.NullString
	err := q.row(ctx, `SELECT secrets_sealed FROM connections WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", connectionNotFound(id)
	}
	return s.String, normalise(err)
}

func connectionNotFound(id string) error {
	return keyward.Errorf(keyward.ENotFound, "no connection %q in this tenant", id)
}

const connectionCols = `id, tenant_id, type, name, store_access, api_url, settings, secret_names, required_scopes, enabled, state,
	verification, creds_changed_at, created_at, updated_at, version`

func scanConnection(s interface{ Scan(...any) error }) (*keyward.Connection, error) {
	var c keyward.Connection
	var settings, names, scopes string
	var ver sql.NullString
	if err := s.Scan(&c.ID, &c.TenantID, &c.Type, &c.Name, &c.Stores.Access, &c.APIURL, &settings, &names, &scopes, &c.Enabled, &c.State,
		&ver, &c.CredentialsChangedAt, &c.CreatedAt, &c.UpdatedAt, &c.Version); err != nil {
		return nil, err
	}
	c.CredentialsChangedAt, c.CreatedAt, c.UpdatedAt = c.CredentialsChangedAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if err := errors.Join(json.Unmarshal([]byte(settings), &c.Settings), json.Unmarshal([]byte(names), &c.SecretsSet),
		json.Unmarshal([]byte(scopes), &c.RequiredScopes)); err != nil {
		return nil, err
	}
	if ver.Valid {
		c.Verification = &keyward.Verification{}
		if err := json.Unmarshal([]byte(ver.String), c.Verification); err != nil {
			return nil, err
		}
		c.Verification.CheckedAt = c.Verification.CheckedAt.UTC()
	}
	return &c, nil
}

// Connection finds a tenant's connection by id, with its stores.
func (q *Q) Connection(ctx context.Context, tenantID, id string) (*keyward.Connection, error) {
	c, err := scanConnection(q.row(ctx, `SELECT `+connectionCols+` FROM connections WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, connectionNotFound(id)
	}
	if err != nil {
		return nil, normalise(err)
	}
	return c, q.loadConnectionStores(ctx, []*keyward.Connection{c})
}

// ListConnections lists a tenant's connections matching f, by name.
func (q *Q) ListConnections(ctx context.Context, tenantID string, f ConnectionFilter) ([]*keyward.Connection, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + connectionCols + ` FROM connections c WHERE tenant_id = ?`)
	args := []any{tenantID}
	if f.Type != "" {
		b.WriteString(` AND type = ?`)
		args = append(args, f.Type)
	}
	if f.State != "" {
		b.WriteString(` AND state = ?`)
		args = append(args, f.State)
	}
	if f.Enabled != nil {
		b.WriteString(` AND enabled = ?`)
		args = append(args, *f.Enabled)
	}
	if f.StoreID != "" {
		b.WriteString(` AND (store_access = 'all' OR EXISTS (SELECT 1 FROM connection_stores s WHERE s.connection_id = c.id AND s.store_id = ?))`)
		args = append(args, f.StoreID)
	}
	b.WriteString(` ORDER BY name_fold, id`)
	rows, err := q.query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*keyward.Connection{}
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, normalise(err)
	}
	return out, q.loadConnectionStores(ctx, out)
}

func (q *Q) loadConnectionStores(ctx context.Context, cs []*keyward.Connection) error {
	byID := map[string]*keyward.Connection{}
	var ids []any
	for _, c := range cs {
		if c.Stores.Access == keyward.StoresSelected {
			c.Stores.IDs = []string{}
			byID[c.ID] = c
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	in := "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
	rows, err := q.query(ctx, `SELECT connection_id, store_id FROM connection_stores WHERE connection_id IN `+in+` ORDER BY store_id`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid, sid string
		if err := rows.Scan(&cid, &sid); err != nil {
			return normalise(err)
		}
		byID[cid].Stores.IDs = append(byID[cid].Stores.IDs, sid)
	}
	return normalise(rows.Err())
}

// RecordVerification writes a check's result and the state it gives, and,
// when rotated is not "", the secrets the check rotated.
func (q *Q) RecordVerification(ctx context.Context, id, state string, v *keyward.Verification, rotated string, at time.Time) error {
	b, _ := json.Marshal(v)
	query, args := `UPDATE connections SET state = ?, verification = ?, verified_at = ?`, []any{state, string(b), v.CheckedAt.UTC()}
	if rotated != "" {
		query += `, secrets_sealed = ?`
		args = append(args, rotated)
	}
	_, err := q.exec(ctx, query+` WHERE id = ?`, append(args, id)...)
	return err
}
