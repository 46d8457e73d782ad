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

// InsertWebhook adds a webhook endpoint with its signing secret sealed
// (see internal/seal); the plain secret is never written.
func (q *Q) InsertWebhook(ctx context.Context, w *keyward.WebhookEndpoint, sealedSecret string) error {
	ev, _ := json.Marshal(w.Events)
	ids, _ := json.Marshal(orEmpty(w.Stores.IDs))
	_, err := q.exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, store_access, store_ids, url, events, enabled, secret_hint, description, created_at, updated_at, secret_sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.TenantID, w.Stores.Access, string(ids), w.URL, string(ev), w.Enabled, w.SecretHint, w.Description, w.CreatedAt, w.UpdatedAt, nullString(sealedSecret))
	return err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WebhookSecrets are an endpoint's sealed signing secrets: the current one
// and, until PreviousUntil, the one a roll replaced.
type WebhookSecrets struct {
	Current, Previous string
	PreviousUntil     *time.Time
}

// WebhookSealedSecrets returns the sealed signing secrets of a tenant's
// webhook endpoint; Current is "" for an endpoint created before secrets
// were kept.
func (q *Q) WebhookSealedSecrets(ctx context.Context, tenantID, id string) (WebhookSecrets, error) {
	var cur, prev sql.NullString
	var until sql.NullTime
	err := q.row(ctx, `SELECT secret_sealed, previous_secret_sealed, previous_secret_until FROM webhook_endpoints WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&cur, &prev, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return WebhookSecrets{}, keyward.Errorf(keyward.ENotFound, "no webhook endpoint %q in this tenant", id)
	}
	return WebhookSecrets{Current: cur.String, Previous: prev.String, PreviousUntil: timePtr(until)}, normalise(err)
}

// RollWebhookSecret makes sealed the endpoint's secret and keeps the one
// it replaces, sealed as previous, signing until until.
func (q *Q) RollWebhookSecret(ctx context.Context, id, sealed, previous, hint string, until *time.Time, at time.Time) error {
	_, err := q.exec(ctx, `UPDATE webhook_endpoints SET secret_sealed = ?, previous_secret_sealed = ?, previous_secret_until = ?, secret_hint = ?, updated_at = ? WHERE id = ?`,
		sealed, nullString(previous), nullTime(until), hint, at, id)
	return err
}

// UpdateWebhook writes a webhook endpoint's settings.
func (q *Q) UpdateWebhook(ctx context.Context, w *keyward.WebhookEndpoint) error {
	ev, _ := json.Marshal(w.Events)
	ids, _ := json.Marshal(orEmpty(w.Stores.IDs))
	_, err := q.exec(ctx, `UPDATE webhook_endpoints SET url = ?, store_access = ?, store_ids = ?, events = ?, enabled = ?, description = ?, failing_since = ?, disabled_reason = ?, updated_at = ? WHERE id = ?`,
		w.URL, w.Stores.Access, string(ids), string(ev), w.Enabled, w.Description, nullTime(w.FailingSince), w.DisabledReason, w.UpdatedAt, w.ID)
	return err
}

// DeleteWebhook removes a webhook endpoint with its deliveries and their
// attempts, and returns how many of those deliveries were still pending.
func (q *Q) DeleteWebhook(ctx context.Context, id string) (pending int, err error) {
	if _, err := q.LockWebhooks(ctx, []string{id}); err != nil {
		return 0, err
	}
	err = q.row(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? AND status = ?`, id, keyward.DeliveryPending).Scan(&pending)
	if err != nil {
		return 0, normalise(err)
	}
	_, err = q.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
	return pending, err
}

// LockWebhooks returns which of the endpoints ids still exist, each with
// whether it is enabled. On PostgreSQL it holds them until the transaction
// ends, so that none is deleted or changed meanwhile; whoever writes an
// endpoint and then its deliveries locks the endpoint first, as this does,
// so that two such writers cannot wait on each other.
func (q *Q) LockWebhooks(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	query := `SELECT id, enabled FROM webhook_endpoints WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) ORDER BY id`
	if q.engine == Postgres {
		// Not FOR UPDATE: deliveries may still be added meanwhile, as
		// their foreign key takes only a key-share lock.
		query += ` FOR NO KEY UPDATE`
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var enabled bool
		if err := rows.Scan(&id, &enabled); err != nil {
			return nil, normalise(err)
		}
		out[id] = enabled
	}
	return out, normalise(rows.Err())
}

// CancelDeliveries ends the pending deliveries of an endpoint, claimed or
// not, as failed with reason as their last error, so that none is sent
// again unless replayed; it returns how many it cancelled.
func (q *Q) CancelDeliveries(ctx context.Context, endpointID, reason string) (int, error) {
	res, err := q.exec(ctx, `UPDATE webhook_deliveries SET status = ?, next_attempt_at = NULL, claimed_until = NULL, last_error = ?
		WHERE endpoint_id = ? AND status = ?`, keyward.DeliveryFailed, reason, endpointID, keyward.DeliveryPending)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), normalise(err)
}

// ReleaseDeliveries gives up this node's claim on pending deliveries it
// did not send, so that they may be claimed again at once.
func (q *Q) ReleaseDeliveries(ctx context.Context, ids []string) error {
	const chunk = 100
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := []any{keyward.DeliveryPending}
		for _, id := range part {
			args = append(args, id)
		}
		if _, err := q.exec(ctx, `UPDATE webhook_deliveries SET claimed_until = NULL WHERE status = ? AND id IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

const webhookCols = `id, tenant_id, store_access, store_ids, url, events, enabled, secret_hint, description, previous_secret_until, failing_since, disabled_reason, created_at, updated_at`

func scanWebhook(s interface{ Scan(...any) error }) (*keyward.WebhookEndpoint, error) {
	var w keyward.WebhookEndpoint
	var ev, ids string
	var until, failing sql.NullTime
	if err := s.Scan(&w.ID, &w.TenantID, &w.Stores.Access, &ids, &w.URL, &ev, &w.Enabled, &w.SecretHint, &w.Description, &until, &failing, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	w.PreviousSecretUntil, w.FailingSince = timePtr(until), timePtr(failing)
	if err := json.Unmarshal([]byte(ids), &w.Stores.IDs); err != nil {
		return nil, err
	}
	if len(w.Stores.IDs) == 0 {
		w.Stores.IDs = nil
	}
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

// ListWebhooks lists a tenant's webhook endpoints in the order they were
// added.
func (q *Q) ListWebhooks(ctx context.Context, tenantID string) ([]*keyward.WebhookEndpoint, error) {
	rows, err := q.query(ctx, `SELECT `+webhookCols+` FROM webhook_endpoints WHERE tenant_id = ? ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.WebhookEndpoint
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, w)
	}
	return out, normalise(rows.Err())
}

// InsertEvent writes an event with its payload as it will be sent.
func (q *Q) InsertEvent(ctx context.Context, tenantID string, e *keyward.Event, payload []byte) error {
	ids, _ := json.Marshal(orEmpty(e.Stores))
	_, err := q.exec(ctx, `INSERT INTO webhook_events (id, tenant_id, type, store_ids, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, tenantID, e.Type, string(ids), string(payload), e.Timestamp)
	return err
}

// InsertDelivery puts an event in the outbox for an endpoint, due at due.
func (q *Q) InsertDelivery(ctx context.Context, id, tenantID, endpointID, eventID string, due time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, id, tenantID, endpointID, eventID, keyward.DeliveryPending, due, due)
	return err
}

// DueDelivery is a claimed delivery with what sending it needs.
type DueDelivery struct {
	ID, TenantID, EndpointID, EventID, URL string
	Attempts                               int
	Payload                                []byte
	Secrets                                WebhookSecrets
}

// ClaimDeliveries holds up to limit due deliveries of enabled endpoints
// until until, skipping the endpoints in busy, and returns them. On
// PostgreSQL, rows another node is claiming are skipped (FOR UPDATE SKIP
// LOCKED), so nodes share the outbox without waiting on each other; a
// node that dies holding deliveries loses them when its claim expires.
func (q *Q) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int, busy []string) ([]DueDelivery, error) {
	query := `SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?) AND e.enabled = ?`
	args := []any{now, now, true}
	if len(busy) > 0 {
		query += ` AND d.endpoint_id NOT IN (?` + strings.Repeat(", ?", len(busy)-1) + `)`
		for _, b := range busy {
			args = append(args, b)
		}
	}
	query += ` ORDER BY d.next_attempt_at LIMIT ?`
	args = append(args, limit)
	if q.engine == Postgres {
		query += ` FOR UPDATE OF d SKIP LOCKED`
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var ids []string
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
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		idArgs[i] = id
	}
	if _, err := q.exec(ctx, `UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN `+in, append([]any{until}, idArgs...)...); err != nil {
		return nil, err
	}
	rows, err = q.query(ctx, `SELECT d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempts, e.url, ev.payload,
			e.secret_sealed, e.previous_secret_sealed, e.previous_secret_until
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.id IN `+in+` ORDER BY d.next_attempt_at`, idArgs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueDelivery
	for rows.Next() {
		var d DueDelivery
		var payload string
		var cur, prev sql.NullString
		var prevUntil sql.NullTime
		if err := rows.Scan(&d.ID, &d.TenantID, &d.EndpointID, &d.EventID, &d.Attempts, &d.URL, &payload, &cur, &prev, &prevUntil); err != nil {
			return nil, normalise(err)
		}
		d.Payload = []byte(payload)
		d.Secrets = WebhookSecrets{Current: cur.String, Previous: prev.String, PreviousUntil: timePtr(prevUntil)}
		out = append(out, d)
	}
	return out, normalise(rows.Err())
}

// Attempt is the outcome of one try at a delivery, to be recorded.
type Attempt struct {
	DeliveryID, EndpointID string
	Attempt                int
	At                     time.Time
	StatusCode             int
	Latency                time.Duration
	Error, Response        string
	// Status and Next are the delivery's state after the attempt.
	Status string
	Next   *time.Time
}

// RecordAttempt records one attempt as RecordAttempts does.
func (q *Q) RecordAttempt(ctx context.Context, a *Attempt) error {
	return q.RecordAttempts(ctx, []*Attempt{a})
}

// RecordAttempts writes attempts to the delivery log and moves their
// deliveries on, releasing their claims: in a few statements however many
// there are, as a busy dispatcher records hundreds at once.
func (q *Q) RecordAttempts(ctx context.Context, as []*Attempt) error {
	const chunk = 100
	for start := 0; start < len(as); start += chunk {
		part := as[start:min(start+chunk, len(as))]
		args := make([]any, 0, 10*len(part))
		for _, a := range part {
			args = append(args, keyward.NewID("att"), a.DeliveryID, a.EndpointID, a.Attempt, a.At, a.StatusCode,
				a.Latency.Milliseconds(), a.Error, a.Response, nullTime(a.Next))
		}
		rows := strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(part))
		if _, err := q.exec(ctx, `INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempt, at, status_code, latency_ms, error, response, next_retry_at)
			VALUES `+rows[:len(rows)-2], args...); err != nil {
			return err
		}
	}
	// Deliveries that succeeded differ only in when and with what status:
	// one statement per status answered.
	done := map[int][]*Attempt{}
	for _, a := range as {
		if a.Status != keyward.DeliverySucceeded {
			if _, err := q.exec(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, claimed_until = NULL,
				last_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?`,
				a.Status, a.Attempt, nullTime(a.Next), a.At, a.StatusCode, a.Error, a.DeliveryID); err != nil {
				return err
			}
			continue
		}
		done[a.StatusCode] = append(done[a.StatusCode], a)
	}
	for code, group := range done {
		for start := 0; start < len(group); start += chunk {
			part := group[start:min(start+chunk, len(group))]
			last := part[0].At
			args := []any{keyward.DeliverySucceeded, nil, code, ""}
			for _, a := range part {
				if a.At.After(last) {
					last = a.At
				}
				args = append(args, a.DeliveryID)
			}
			args[1] = last
			if _, err := q.exec(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = NULL, claimed_until = NULL,
				last_attempt_at = ?, last_status = ?, last_error = ? WHERE id IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// MarkEndpointFailing records when an endpoint's deliveries started
// failing (at, unless already failing) or, with at nil, that they succeed
// again; it returns when the endpoint has been failing since.
func (q *Q) MarkEndpointFailing(ctx context.Context, id string, at *time.Time) (*time.Time, error) {
	if at == nil {
		_, err := q.exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`, id)
		return nil, err
	}
	if _, err := q.exec(ctx, `UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL`, at, id); err != nil {
		return nil, err
	}
	var since sql.NullTime
	err := q.row(ctx, `SELECT failing_since FROM webhook_endpoints WHERE id = ?`, id).Scan(&since)
	return timePtr(since), normalise(err)
}

// ScheduleDeliveries makes deliveries of an endpoint due again at at: the
// one named by deliveryID, or with deliveryID "" every failed one created
// since since. It returns how many it scheduled.
func (q *Q) ScheduleDeliveries(ctx context.Context, endpointID, deliveryID string, since, at time.Time) (int, error) {
	query := `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, claimed_until = NULL WHERE endpoint_id = ?`
	args := []any{keyward.DeliveryPending, at, endpointID}
	if deliveryID != "" {
		query += ` AND id = ?`
		args = append(args, deliveryID)
	} else {
		query += ` AND status = ? AND created_at >= ?`
		args = append(args, keyward.DeliveryFailed, since)
	}
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), normalise(err)
}

const deliveryCols = `d.id, d.endpoint_id, d.event_id, ev.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.created_at`

func scanDelivery(s interface{ Scan(...any) error }) (*keyward.WebhookDelivery, error) {
	var d keyward.WebhookDelivery
	var next, last sql.NullTime
	if err := s.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &next, &last, &d.LastStatus, &d.LastError, &d.CreatedAt); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.LastAttemptAt, d.CreatedAt = timePtr(next), timePtr(last), d.CreatedAt.UTC()
	return &d, nil
}

// Delivery finds one delivery of an endpoint.
func (q *Q) Delivery(ctx context.Context, endpointID, id string) (*keyward.WebhookDelivery, error) {
	d, err := scanDelivery(q.row(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.endpoint_id = ? AND d.id = ?`, endpointID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no delivery %q of this webhook endpoint", id)
	}
	return d, normalise(err)
}

// ListDeliveries lists an endpoint's deliveries, newest first, of one
// status when status is set, created before before when it is not zero.
func (q *Q) ListDeliveries(ctx context.Context, endpointID, status string, before time.Time, afterID string, limit int) ([]*keyward.WebhookDelivery, error) {
	query := `SELECT ` + deliveryCols + ` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.endpoint_id = ?`
	args := []any{endpointID}
	if status != "" {
		query += ` AND d.status = ?`
		args = append(args, status)
	}
	if !before.IsZero() {
		query += ` AND d.created_at < ?`
		args = append(args, before)
	}
	if afterID != "" {
		// The page after the delivery afterID, in the list's order.
		query += ` AND (d.created_at, d.id) < (SELECT created_at, id FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?)`
		args = append(args, afterID, endpointID)
	}
	rows, err := q.query(ctx, query+` ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*keyward.WebhookDelivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, normalise(err)
		}
		out = append(out, d)
	}
	return out, normalise(rows.Err())
}

// ListAttempts lists an endpoint's attempts, newest first, optionally of
// one delivery, after the attempt afterID ("" for the first page).
func (q *Q) ListAttempts(ctx context.Context, endpointID, deliveryID, afterID string, limit int) ([]*keyward.WebhookAttempt, error) {
	query := `SELECT a.id, a.delivery_id, d.event_id, ev.type, a.attempt, a.at, a.status_code, a.latency_ms, a.error, a.response, a.next_retry_at
		FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_events ev ON ev.id = d.event_id
		WHERE a.endpoint_id = ?`
	args := []any{endpointID}
	if deliveryID != "" {
		query += ` AND a.delivery_id = ?`
		args = append(args, deliveryID)
	}
	if afterID != "" {
		// The page after the attempt afterID, in the list's order.
		query += ` AND (a.at, a.attempt, a.id) < (SELECT at, attempt, id FROM webhook_attempts WHERE id = ? AND endpoint_id = ?)`
		args = append(args, afterID, endpointID)
	}
	rows, err := q.query(ctx, query+` ORDER BY a.at DESC, a.attempt DESC, a.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*keyward.WebhookAttempt{}
	for rows.Next() {
		var a keyward.WebhookAttempt
		var next sql.NullTime
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.EventType, &a.Attempt, &a.At, &a.StatusCode, &a.LatencyMS, &a.Error, &a.Response, &next); err != nil {
			return nil, normalise(err)
		}
		a.At, a.NextRetryAt = a.At.UTC(), timePtr(next)
		out = append(out, &a)
	}
	return out, normalise(rows.Err())
}

// AttemptCounts counts an endpoint's attempts since since in buckets of
// width step: for each bucket, attempts and those that succeeded.
func (q *Q) AttemptCounts(ctx context.Context, endpointID string, since time.Time, step time.Duration, buckets int) (total, ok []int, err error) {
	rows, err := q.query(ctx, `SELECT at, status_code FROM webhook_attempts WHERE endpoint_id = ? AND at >= ?`, endpointID, since)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	total, ok = make([]int, buckets), make([]int, buckets)
	for rows.Next() {
		var at time.Time
		var code int
		if err := rows.Scan(&at, &code); err != nil {
			return nil, nil, normalise(err)
		}
		i := int(at.Sub(since) / step)
		if i < 0 || i >= buckets {
			continue
		}
		total[i]++
		if code >= 200 && code < 300 {
			ok[i]++
		}
	}
	return total, ok, normalise(rows.Err())
}

// Event finds a tenant's event with its payload.
func (q *Q) Event(ctx context.Context, tenantID, id string) (*keyward.Event, error) {
	var e keyward.Event
	var ids, payload string
	err := q.row(ctx, `SELECT id, type, store_ids, payload, created_at FROM webhook_events WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&e.ID, &e.Type, &ids, &payload, &e.Timestamp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "no event %q in this tenant", id)
	}
	if err != nil {
		return nil, normalise(err)
	}
	e.Timestamp = e.Timestamp.UTC()
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal([]byte(payload), &body)
	e.Data = body.Data
	return &e, json.Unmarshal([]byte(ids), &e.Stores)
}

// OldestPendingDelivery returns when the oldest delivery still waiting to
// be sent was made, or the zero time when none waits: the webhook
// backlog's age.
func (q *Q) OldestPendingDelivery(ctx context.Context) (time.Time, error) {
	var t sql.NullTime
	if err := q.row(ctx, `SELECT MIN(created_at) FROM webhook_deliveries WHERE status = ?`, keyward.DeliveryPending).Scan(&t); err != nil {
		return time.Time{}, normalise(err)
	}
	return t.Time, nil
}
