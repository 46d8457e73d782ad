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

// InsertIntegrator registers an integrator with its signing secret sealed;
// tenantID "" registers it for the whole platform.
func (q *Q) InsertIntegrator(ctx context.Context, it *keyward.Integrator, sealedSecret string) error {
	perms, _ := json.Marshal(it.Permissions)
	_, err := q.exec(ctx, `INSERT INTO integrators (id, tenant_id, name, callback_url, permissions, secret_sealed, secret_hint, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		it.ID, it.TenantID, it.Name, it.CallbackURL, string(perms), sealedSecret, it.SecretHint, it.CreatedAt, it.UpdatedAt)
	return err
}

const integratorColumns = `id, tenant_id, name, callback_url, permissions, secret_sealed, secret_hint, created_at, updated_at`

func scanIntegrator(s interface{ Scan(...any) error }) (*keyward.Integrator, string, error) {
	var it keyward.Integrator
	var perms, sealed string
	if err := s.Scan(&it.ID, &it.TenantID, &it.Name, &it.CallbackURL, &perms, &sealed, &it.SecretHint, &it.CreatedAt, &it.UpdatedAt); err != nil {
		return nil, "", err
	}
	it.Platform = it.TenantID == ""
	it.Permissions = keyward.Permissions{}
	_ = json.Unmarshal([]byte(perms), &it.Permissions)
	it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
	return &it, sealed, nil
}

// Integrator returns an integrator a tenant may use, its own or the
// platform's, with its sealed secret.
func (q *Q) Integrator(ctx context.Context, tenantID, id string) (*keyward.Integrator, string, error) {
	it, sealed, err := scanIntegrator(q.row(ctx, `SELECT `+integratorColumns+` FROM integrators WHERE id = ? AND (tenant_id = ? OR tenant_id = '')`, id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", keyward.Errorf(keyward.ENotFound, "no integrator %q", id)
	}
	return it, sealed, normalise(err)
}

// ListIntegrators lists a tenant's integrators and the platform's; with
// tenantID "" the platform's only.
func (q *Q) ListIntegrators(ctx context.Context, tenantID string) ([]*keyward.Integrator, error) {
	rows, err := q.query(ctx, `SELECT `+integratorColumns+` FROM integrators WHERE tenant_id = ? OR tenant_id = '' ORDER BY name, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*keyward.Integrator{}
	for rows.Next() {
		it, _, err := scanIntegrator(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, it)
	}
	return out, normalise(rows.Err())
}

// RollIntegratorSecret replaces an integrator's signing secret.
func (q *Q) RollIntegratorSecret(ctx context.Context, id, sealed, hint string, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE integrators SET secret_sealed = ?, secret_hint = ?, updated_at = ? WHERE id = ?`, sealed, hint, at, id)
	return err
}

// DeleteIntegrator removes an integrator; its requests stay, and pending
// callbacks to it are no longer sent.
func (q *Q) DeleteIntegrator(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM integrators WHERE id = ?`, id)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, `UPDATE key_requests SET delivery_status = 'failed', next_attempt_at = NULL, payload_sealed = NULL,
		last_error = 'the integrator was deleted before the key was delivered' WHERE integrator_id = ? AND delivery_status = 'pending'`, id)
	return err
}

// KeyRequestRow is a key request as stored, with its use-once scope.
type KeyRequestRow struct {
	*keyward.KeyRequest
	NonceScope, Nonce string
}

// InsertKeyRequest records a request from a link. A link already used
// (the same nonce in the same scope) is a conflict.
func (q *Q) InsertKeyRequest(ctx context.Context, r *KeyRequestRow) error {
	asked, _ := json.Marshal(r.Requested)
	_, err := q.exec(ctx, `INSERT INTO key_requests (id, tenant_id, integrator_id, integrator_name, nonce_scope, nonce, requested, status,
			link_expires_at, delivery_via, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.IntegratorID, r.IntegratorName, r.NonceScope, r.Nonce, string(asked), r.Status, r.LinkExpiresAt,
		r.Delivery, r.CreatedAt)
	return err
}

// KeyRequestByNonce returns the request a link made, if any.
func (q *Q) KeyRequestByNonce(ctx context.Context, scope, nonce string) (*keyward.KeyRequest, error) {
	r, err := scanKeyRequest(q.row(ctx, `SELECT `+keyRequestColumns+` FROM key_requests WHERE nonce_scope = ? AND nonce = ?`, scope, nonce))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, normalise(err)
}

const keyRequestColumns = `id, tenant_id, integrator_id, integrator_name, requested, granted, status, link_expires_at, key_id, decided_by,
	decided_at, delivery_status, delivery_via, attempts, last_attempt_at, last_status, last_error, created_at`

func scanKeyRequest(s interface{ Scan(...any) error }) (*keyward.KeyRequest, error) {
	var r keyward.KeyRequest
	var asked string
	var granted sql.NullString
	var decided, last sql.NullTime
	if err := s.Scan(&r.ID, &r.TenantID, &r.IntegratorID, &r.IntegratorName, &asked, &granted, &r.Status, &r.LinkExpiresAt, &r.KeyID, &r.DecidedBy,
		&decided, &r.DeliveryStatus, &r.Delivery, &r.Attempts, &last, &r.LastStatus, &r.LastError, &r.CreatedAt); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(asked), &r.Requested)
	if granted.Valid {
		r.Granted = &keyward.KeyAsk{}
		_ = json.Unmarshal([]byte(granted.String), r.Granted)
	}
	r.DecidedAt, r.LastAttemptAt = timePtr(decided), timePtr(last)
	r.LinkExpiresAt, r.CreatedAt = r.LinkExpiresAt.UTC(), r.CreatedAt.UTC()
	return &r, nil
}

// KeyRequest returns one of a tenant's key requests.
func (q *Q) KeyRequest(ctx context.Context, tenantID, id string) (*keyward.KeyRequest, error) {
	r, err := scanKeyRequest(q.row(ctx, `SELECT `+keyRequestColumns+` FROM key_requests WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no key request %q in this tenant", id)
	}
	return r, normalise(err)
}

// ListKeyRequests lists a tenant's key requests, newest first; status
// selects pending, approved, declined or expired ("" for all).
func (q *Q) ListKeyRequests(ctx context.Context, tenantID, status string, now time.Time, limit int) ([]*keyward.KeyRequest, error) {
	query := `SELECT ` + keyRequestColumns + ` FROM key_requests WHERE tenant_id = ?`
	args := []any{tenantID}
	switch status {
	case keyward.KeyRequestPending:
		query += ` AND status = ? AND link_expires_at > ?`
		args = append(args, status, now)
	case keyward.KeyRequestExpired:
		query += ` AND status = ? AND link_expires_at <= ?`
		args = append(args, keyward.KeyRequestPending, now)
	case keyward.KeyRequestApproved, keyward.KeyRequestDeclined:
		query += ` AND status = ?`
		args = append(args, status)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*keyward.KeyRequest{}
	for rows.Next() {
		r, err := scanKeyRequest(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, r)
	}
	return out, normalise(rows.Err())
}

// DecideKeyRequest records a pending request's approval or refusal. With
// payloadSealed set, the key waits for its callback delivery, due at
// once. It answers false when the request was no longer pending.
func (q *Q) DecideKeyRequest(ctx context.Context, r *keyward.KeyRequest, payloadSealed string) (bool, error) {
	var granted any
	if r.Granted != nil {
		b, _ := json.Marshal(r.Granted)
		granted = string(b)
	}
	var next any
	if payloadSealed != "" {
		next = *r.DecidedAt
	}
	res, err := q.exec(ctx, `UPDATE key_requests SET status = ?, granted = ?, key_id = ?, decided_by = ?, decided_at = ?, delivery_status = ?,
			next_attempt_at = ?, payload_sealed = ? WHERE id = ? AND status = 'pending'`,
		r.Status, granted, r.KeyID, r.DecidedBy, r.DecidedAt, r.DeliveryStatus, next, nullString(payloadSealed), r.ID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, normalise(err)
}

// DueCallback is a claimed callback delivery of an approved key.
type DueCallback struct {
	ID, TenantID, IntegratorID, URL, PayloadSealed, SecretSealed string
	// IntegratorTenant is the integrator's tenant, "" for the platform's.
	IntegratorTenant string
	Attempts         int
}

// ClaimCallbacks holds up to limit due callback deliveries until until.
func (q *Q) ClaimCallbacks(ctx context.Context, now, until time.Time, limit int) ([]DueCallback, error) {
	query := `SELECT r.id FROM key_requests r WHERE r.delivery_status = 'pending' AND r.next_attempt_at <= ?
		AND (r.claimed_until IS NULL OR r.claimed_until < ?) ORDER BY r.next_attempt_at LIMIT ?`
	if q.engine == Postgres {
		query += ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := q.query(ctx, query, now, now, limit)
	if err != nil {
		return nil, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, normalise(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, normalise(err)
	}
	in := `(?` + strings.Repeat(", ?", len(ids)-1) + `)`
	if _, err := q.exec(ctx, `UPDATE key_requests SET claimed_until = ? WHERE id IN `+in, append([]any{until}, ids...)...); err != nil {
		return nil, err
	}
	rows, err = q.query(ctx, `SELECT r.id, r.tenant_id, r.integrator_id, i.callback_url, r.payload_sealed, i.secret_sealed, i.tenant_id, r.attempts
		FROM key_requests r JOIN integrators i ON i.id = r.integrator_id WHERE r.id IN `+in, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueCallback
	for rows.Next() {
		var d DueCallback
		var payload sql.NullString
		if err := rows.Scan(&d.ID, &d.TenantID, &d.IntegratorID, &d.URL, &payload, &d.SecretSealed, &d.IntegratorTenant, &d.Attempts); err != nil {
			return nil, normalise(err)
		}
		d.PayloadSealed = payload.String
		out = append(out, d)
	}
	return out, normalise(rows.Err())
}

// RecordCallback writes an attempt at a callback: status is the delivery's
// state after it; the sealed key is erased once it is no longer pending.
func (q *Q) RecordCallback(ctx context.Context, id, status string, at time.Time, code int, errText string, next *time.Time) error {
	query := `UPDATE key_requests SET delivery_status = ?, attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ?,
		next_attempt_at = ?, claimed_until = NULL`
	if status != keyward.DeliveryPending {
		query += `, payload_sealed = NULL`
	}
	_, err := q.exec(ctx, query+` WHERE id = ? AND delivery_status = 'pending'`, status, at, code, errText, nullTime(next), id)
	return err
}

// ReleaseCallback gives up a claim without an attempt.
func (q *Q) ReleaseCallback(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `UPDATE key_requests SET claimed_until = NULL WHERE id = ?`, id)
	return err
}
