package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// SealedField is a column holding sealed values (see internal/seal).
type SealedField struct {
	Table, Column string
	// TenantColumn names the tenant of each row; "" when rows have none.
	TenantColumn string
}

// SealedFields lists every column that holds sealed values, so that
// rotating the master key reaches all of them.
var SealedFields = []SealedField{
	{Table: "seal_canary", Column: "sealed"},
	{Table: "webhook_endpoints", Column: "secret_sealed", TenantColumn: "tenant_id"},
	{Table: "connections", Column: "secrets_sealed", TenantColumn: "tenant_id"},
	{Table: "webhook_endpoints", Column: "previous_secret_sealed", TenantColumn: "tenant_id"},
	{Table: "users", Column: "totp_sealed", TenantColumn: "tenant_id"},
	{Table: "merchant_users", Column: "totp_sealed", TenantColumn: "tenant_id"},
	{Table: "audit_checkpoints", Column: "signature", TenantColumn: "chain"},
	{Table: "idempotency_keys", Column: "response"},
	{Table: "identity_keys", Column: "secret_sealed"},
	{Table: "integrators", Column: "secret_sealed", TenantColumn: "tenant_id"},
	{Table: "key_requests", Column: "payload_sealed", TenantColumn: "tenant_id"},
	{Table: "handovers", Column: "secret_sealed", TenantColumn: "tenant_id"},
}

// SealedValue is one stored sealed value and the row holding it.
type SealedValue struct {
	ID, TenantID, Value string
}

// SealedBatch returns up to limit sealed values of f from rows whose id
// sorts after after, in id order.
func (q *Q) SealedBatch(ctx context.Context, f SealedField, after string, limit int) ([]SealedValue, error) {
	tenant := "''"
	if f.TenantColumn != "" {
		tenant = f.TenantColumn
	}
	// Table and column names come from SealedFields, never from input.
	rows, err := q.query(ctx, `SELECT id, `+tenant+`, `+f.Column+` FROM `+f.Table+`
		WHERE id > ? AND `+f.Column+` IS NOT NULL ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SealedValue
	for rows.Next() {
		var v SealedValue
		if err := rows.Scan(&v.ID, &v.TenantID, &v.Value); err != nil {
			return nil, normalise(err)
		}
		out = append(out, v)
	}
	return out, normalise(rows.Err())
}

// CountSealed counts the sealed values of f.
func (q *Q) CountSealed(ctx context.Context, f SealedField) (int, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM `+f.Table+` WHERE `+f.Column+` IS NOT NULL`).Scan(&n)
	return n, normalise(err)
}

// ReplaceSealed writes value into row id of f if the row still holds old,
// and reports whether it did.
func (q *Q) ReplaceSealed(ctx context.Context, f SealedField, id, old, value string) (bool, error) {
	res, err := q.exec(ctx, `UPDATE `+f.Table+` SET `+f.Column+` = ? WHERE id = ? AND `+f.Column+` = ?`, value, id, old)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// SealCanary returns the sealed canary value, or "" when there is none yet.
func (q *Q) SealCanary(ctx context.Context) (string, error) {
	var s string
	err := q.row(ctx, `SELECT sealed FROM seal_canary WHERE id = 'canary'`).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return s, normalise(err)
}

// InsertSealCanary stores the sealed canary unless one is already stored
// (by another node starting at the same time).
func (q *Q) InsertSealCanary(ctx context.Context, sealed string, at time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO seal_canary (id, sealed, created_at) VALUES ('canary', ?, ?) ON CONFLICT (id) DO NOTHING`, sealed, at)
	return err
}

// HasSealedData reports whether any sealed value is stored, the canary
// included.
func (q *Q) HasSealedData(ctx context.Context) (bool, error) {
	for _, f := range SealedFields {
		n, err := q.CountSealed(ctx, f)
		if err != nil || n > 0 {
			return n > 0, err
		}
	}
	return false, nil
}
