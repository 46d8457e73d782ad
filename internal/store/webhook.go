package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/keyward/keyward"
)

// InsertWebhook adds a webhook endpoint with its signing secret sealed
// (see internal/seal); the plain secret is never written.
func (q *Q) InsertWebhook(ctx context.Context, w *keyward.WebhookEndpoint, sealedSecret string) error {
	ev, _ := json.Marshal(w.Events)
	_, err := q.exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, store_id, url, events, enabled, secret_hint, description, created_at, updated_at, secret_sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.TenantID, w.StoreID, w.URL, string(ev), w.Enabled, w.SecretHint, w.Description, w.CreatedAt, w.UpdatedAt, nullString(sealedSecret))
	return err
}

// WebhookSealedSecret returns the sealed signing secret of a tenant's
// webhook endpoint, or "" for an endpoint created before secrets were kept.
func (q *Q) WebhookSealedSecret(ctx context.Context, tenantID, id string) (string, error) {
	var s sql.NullString
	err := q.row(ctx, `SELECT secret_sealed FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keyward.Errorf(keyward.ENotFound, "no webhook endpoint %q in this tenant", id)
	}
	return s.String, normalise(err)
}

// UpdateWebhook writes a webhook endpoint's settings.
func (q *Q) UpdateWebhook(ctx context.Context, w *keyward.WebhookEndpoint) error {
	ev, _ := json.Marshal(w.Events)
	_, err := q.exec(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, enabled = ?, description = ?, updated_at = ? WHERE id = ?`,
		w.URL, string(ev), w.Enabled, w.Description, w.UpdatedAt, w.ID)
	return err
}

// DeleteWebhook removes a webhook endpoint.
func (q *Q) DeleteWebhook(ctx context.Context, id string) error {
	_, err := q.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	return err
}

const webhookCols = `id, tenant_id, store_id, url, events, enabled, secret_hint, description, created_at, updated_at`

func scanWebhook(s interface{ Scan(...any) error }) (*keyward.WebhookEndpoint, error) {
	var w keyward.WebhookEndpoint
	var ev string
	if err := s.Scan(&w.ID, &w.TenantID, &w.StoreID, &w.URL, &ev, &w.Enabled, &w.SecretHint, &w.Description, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return &w, json.Unmarshal([]byte(ev), &w.Events)
}

// Webhook finds a tenant's webhook endpoint by id.
func (q *Q) Webhook(ctx context.Context, tenantID, id string) (*keyward.WebhookEndpoint, error) {
	w, err := scanWebhook(q.row(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no webhook endpoint %q in this tenant", id)
	}
	return w, normalise(err)
}

// ListWebhooks lists a tenant's webhook endpoints, optionally of one store.
func (q *Q) ListWebhooks(ctx context.Context, tenantID, storeID string) ([]*keyward.WebhookEndpoint, error) {
	query, args := `SELECT `+webhookCols+` FROM webhook_endpoints WHERE tenant_id = ?`, []any{tenantID}
	if storeID != "" {
		query += ` AND store_id = ?`
		args = append(args, storeID)
	}
	rows, err := q.query(ctx, query+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.WebhookEndpoint
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, normalise(rows.Err())
}
