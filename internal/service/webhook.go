package service

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// WithOutbound sets the rules webhook URLs must meet (HTTPS, addresses the
// dispatcher may dial); the zero Config is the strictest.
func WithOutbound(cfg outbound.Config) Option { return func(s *Service) { s.outbound = cfg } }

// webhookActor returns the caller, who must be a tenant administrator
// holding the Webhooks feature; merchants are refused by tenantActor.
func webhookActor(ctx context.Context) (*keyward.Actor, error) {
	return tenantActor(ctx, keyward.FeatureWebhooks)
}

// checkWebhookURL judges a URL as the dispatcher will, when it is saved.
func (s *Service) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 2000 || u.Host == "" {
		return keyward.Invalid("url", "url must be an absolute https:// URL, e.g. \"https://example.com/hooks/keyward\"")
	}
	if err := s.outbound.CheckURL(u); err != nil {
		return keyward.Invalid("url", "url is refused: %s", outboundReason(err))
	}
	return nil
}

func outboundReason(err error) string {
	if ue, ok := err.(*outbound.URLError); ok {
		return ue.Reason
	}
	return err.Error()
}

// checkStores validates an endpoint's stores like a key's: "all", or
// selected stores named by id or code, kept as ids.
func checkStores(ctx context.Context, q *store.Q, tenantID string, in keyward.StoreAccess) (keyward.StoreAccess, error) {
	switch in.Access {
	case "", keyward.StoresAll:
		if len(in.IDs) > 0 {
			return in, keyward.Invalid("stores", "stores.ids must be empty when access is \"all\"; use access \"selected\" to choose stores")
		}
		return keyward.StoreAccess{Access: keyward.StoresAll}, nil
	case keyward.StoresSelected:
		if len(in.IDs) == 0 {
			return in, keyward.Invalid("stores", "select at least one store, or use access \"all\"")
		}
		ids := []string{}
		for _, ref := range in.IDs {
			st, err := q.Store(ctx, tenantID, ref)
			if keyward.ErrorCode(err) == keyward.ENotFound {
				return in, keyward.Invalid("stores", "unknown store %q; list stores at GET /api/v1/stores", ref)
			} else if err != nil {
				return in, err
			}
			if !slices.Contains(ids, st.ID) {
				ids = append(ids, st.ID)
			}
		}
		slices.Sort(ids)
		return keyward.StoreAccess{Access: keyward.StoresSelected, IDs: ids}, nil
	}
	return in, keyward.Invalid("stores", "stores.access must be \"all\" or \"selected\", not %q", in.Access)
}

// newWebhookSecret makes a signing secret: whsec_ and 32 bytes in base64,
// as Standard Webhooks has it, the last four a checksum scanners check.
func newWebhookSecret() (plain, hint string) {
	plain = secret.GenerateWebhookSecret()
	return plain, secret.Hint(plain)
}

func (s *Service) needKeyring() error {
	if s.keyring == nil {
		return keyward.Errorf(keyward.EUnavailable, "webhook endpoints need a master key to keep their signing secrets; the operator sets KEYWARD_MASTER_KEY")
	}
	return nil
}

// CreateWebhook adds a webhook endpoint for the stores it names (or all).
// The signing secret (whsec_…) is returned once and kept only sealed by
// the master keyring; without a keyring the endpoint is refused as
// unavailable.
func (s *Service) CreateWebhook(ctx context.Context, in keyward.WebhookCreate) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkWebhookURL(in.URL); err != nil {
		return nil, err
	}
	events, err := s.checkEvents(in.Events)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidText("description", in.Description, 500); err != nil {
		return nil, err
	}
	stores := keyward.StoreAccess{Access: keyward.StoresAll}
	switch {
	case in.Stores != nil && in.Store != "":
		return nil, keyward.Invalid("stores", "give stores or store, not both")
	case in.Stores != nil:
		stores = *in.Stores
	case in.Store != "":
		stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{in.Store}}
	}
	if err := s.needKeyring(); err != nil {
		return nil, err
	}
	plain, hint := newWebhookSecret()
	now := s.now()
	w := &keyward.WebhookEndpoint{
		ID: keyward.NewID("whk"), TenantID: a.TenantID, URL: in.URL, Events: events, Enabled: in.Enabled == nil || *in.Enabled,
		SecretHint: hint, Description: in.Description, CreatedAt: now, UpdatedAt: now, Secret: plain,
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if w.Stores, err = checkStores(ctx, q, a.TenantID, stores); err != nil {
			return err
		}
		sealed := s.keyring.Seal([]byte(plain), webhookSecretPlace(w.TenantID, w.ID))
		if err := q.InsertWebhook(ctx, w, string(sealed)); err != nil {
			return err
		}
		w.Version = 1
		return s.audit(ctx, q, a, a.TenantID, "webhook.create", "webhook", w.ID, map[string]any{"stores": w.Stores, "url": w.URL, "events": w.Events, "enabled": w.Enabled})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks lists the tenant's webhook endpoints, optionally those
// receiving the events of one store.
func (s *Service) ListWebhooks(ctx context.Context, storeRef string) ([]*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	all, err := q.ListWebhooks(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	out := []*keyward.WebhookEndpoint{}
	storeID := ""
	if storeRef != "" {
		st, err := q.Store(ctx, a.TenantID, storeRef)
		if err != nil {
			return nil, invalidRef("store", err)
		}
		storeID = st.ID
	}
	for _, w := range all {
		if storeID == "" || w.Stores.Access != keyward.StoresSelected || slices.Contains(w.Stores.IDs, storeID) {
			out = append(out, w)
		}
	}
	return out, nil
}

// Webhook returns one webhook endpoint.
func (s *Service) Webhook(ctx context.Context, id string) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	w, err := q.Webhook(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	return w, version(ctx, q, "webhook_endpoints", w.ID, &w.Versioned)
}

func webhookSettings(w *keyward.WebhookEndpoint) map[string]any {
	return map[string]any{"url": w.URL, "stores": w.Stores, "events": w.Events, "description": w.Description, "enabled": w.Enabled}
}

// UpdateWebhook changes a webhook endpoint. Enabling an endpoint keyward
// disabled clears the reason and its failure record. Disabling one cancels
// its pending deliveries (they end failed, to be replayed once it is
// enabled again). Disabling it or changing its URL returns only once this
// node has stopped sending to it what it claimed before: no request to the
// old URL starts afterwards, and those under way have ended.
func (s *Service) UpdateWebhook(ctx context.Context, id string, in keyward.WebhookUpdate) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	if in.URL != nil {
		if err := s.checkWebhookURL(*in.URL); err != nil {
			return nil, err
		}
	}
	var events []string
	if in.Events != nil {
		if events, err = s.checkEvents(*in.Events); err != nil {
			return nil, err
		}
	}
	if in.Description != nil {
		if err := keyward.ValidText("description", *in.Description, 500); err != nil {
			return nil, err
		}
	}
	var w *keyward.WebhookEndpoint
	stop := false
	err = s.db.Write(ctx, func(q *store.Q) error {
		if w, err = q.Webhook(ctx, a.TenantID, id); err != nil {
			return err
		}
		if err := precondition(ctx, q, "webhook_endpoints", w.ID); err != nil {
			return err
		}
		before := webhookSettings(w)
		wasEnabled, oldURL := w.Enabled, w.URL
		if in.URL != nil {
			w.URL = *in.URL
		}
		if in.Stores != nil {
			if w.Stores, err = checkStores(ctx, q, a.TenantID, *in.Stores); err != nil {
				return err
			}
		}
		if in.Events != nil {
			w.Events = events
		}
		if in.Description != nil {
			w.Description = *in.Description
		}
		if in.Enabled != nil {
			w.Enabled = *in.Enabled
			if w.Enabled {
				w.DisabledReason, w.FailingSince = "", nil
			}
		}
		changes := diff(before, webhookSettings(w))
		if len(changes) == 0 {
			return version(ctx, q, "webhook_endpoints", w.ID, &w.Versioned)
		}
		w.UpdatedAt = s.now()
		if err := q.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		if wasEnabled && !w.Enabled {
			n, err := q.CancelDeliveries(ctx, w.ID, cancelledDisabled)
			if err != nil {
				return err
			}
			changes["cancelled_deliveries"] = n
		}
		stop = (wasEnabled && !w.Enabled) || w.URL != oldURL
		if err := version(ctx, q, "webhook_endpoints", w.ID, &w.Versioned); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.update", "webhook", w.ID, changes)
	})
	if err != nil {
		return nil, err
	}
	if stop {
		s.stopDispatch(ctx, w.ID)
	}
	return w, nil
}

// DeleteWebhook removes a webhook endpoint with its deliveries and their
// log; the audit entry counts the pending deliveries cancelled with it. It
// returns once this node has stopped sending to the endpoint: no request
// to it starts afterwards, and those under way have ended (their outcomes
// are not recorded).
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	a, err := webhookActor(ctx)
	if err != nil {
		return err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		w, err := q.Webhook(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "webhook_endpoints", w.ID); err != nil {
			return err
		}
		n, err := q.DeleteWebhook(ctx, w.ID)
		if err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.delete", "webhook", w.ID, map[string]any{"url": w.URL, "cancelled_deliveries": n})
	})
	if err != nil {
		return err
	}
	s.stopDispatch(ctx, id)
	return nil
}

// MaxWebhookOverlap is the longest a rolled secret keeps signing.
const MaxWebhookOverlap = 7 * 24 * time.Hour

// RollWebhookSecret gives an endpoint a new signing secret, returned once.
// The old one keeps signing beside it for the overlap (default 24 hours),
// so a receiver can move to the new secret without dropping an event.
func (s *Service) RollWebhookSecret(ctx context.Context, id string, in keyward.WebhookRoll) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	overlap := 24 * time.Hour
	if in.Overlap != "" {
		if overlap, err = time.ParseDuration(in.Overlap); err != nil || overlap < 0 || overlap > MaxWebhookOverlap {
			return nil, keyward.Invalid("overlap", "overlap must be a duration between 0s and 168h (7 days), e.g. \"24h\"")
		}
	}
	if err := s.needKeyring(); err != nil {
		return nil, err
	}
	plain, hint := newWebhookSecret()
	var w *keyward.WebhookEndpoint
	err = s.db.Write(ctx, func(q *store.Q) error {
		if w, err = q.Webhook(ctx, a.TenantID, id); err != nil {
			return err
		}
		old, err := q.WebhookSealedSecrets(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		now := s.now()
		prev, until := "", (*time.Time)(nil)
		if overlap > 0 && old.Current != "" {
			// The old secret is resealed in its own place, so that a
			// value moved between columns cannot be opened.
			plainOld, err := s.keyring.Open(sealedOf(old.Current), webhookSecretPlace(w.TenantID, w.ID))
			if err != nil {
				return &keyward.Error{Code: keyward.EInternal, Message: "the current signing secret does not open", Err: err}
			}
			prev = string(s.keyring.Seal(plainOld, webhookPreviousSecretPlace(w.TenantID, w.ID)))
			t := now.Add(overlap)
			until = &t
		}
		sealed := s.keyring.Seal([]byte(plain), webhookSecretPlace(w.TenantID, w.ID))
		if err := q.RollWebhookSecret(ctx, w.ID, string(sealed), prev, hint, until, now); err != nil {
			return err
		}
		w.SecretHint, w.PreviousSecretUntil, w.UpdatedAt, w.Secret = hint, until, now, plain
		if err := version(ctx, q, "webhook_endpoints", w.ID, &w.Versioned); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.roll_secret", "webhook", w.ID, map[string]any{"overlap": overlap.String()})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// SendTestEvent sends a webhook.test event to one endpoint, whatever it
// subscribes to, and returns the delivery.
func (s *Service) SendTestEvent(ctx context.Context, id string) (*keyward.WebhookDelivery, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	var d *keyward.WebhookDelivery
	err = s.db.Write(ctx, func(q *store.Q) error {
		w, err := q.Webhook(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if !w.Enabled {
			return keyward.Errorf(keyward.EConflict, "this endpoint is disabled; enable it to send a test event")
		}
		e, err := s.writeEvent(ctx, q, a.TenantID, w.Stores.IDs, "webhook.test",
			map[string]any{"message": "A test event from keyward, sent by " + a.Name() + "."}, []*keyward.WebhookEndpoint{w})
		if err != nil {
			return err
		}
		ds, err := q.ListDeliveries(ctx, w.ID, "", time.Time{}, "", 5)
		if err != nil {
			return err
		}
		for _, x := range ds {
			if x.EventID == e.ID {
				d = x
			}
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.test", "webhook", w.ID, map[string]any{"event_id": e.ID})
	})
	return d, err
}

// DeliveryFilter narrows an endpoint's delivery list.
type DeliveryFilter struct {
	Status string // pending, succeeded or failed; "" for all
	Before time.Time
	Cursor string // a previous page's NextCursor
	Limit  int
}

// ListDeliveries lists an endpoint's deliveries, newest first, a page at a
// time.
func (s *Service) ListDeliveries(ctx context.Context, endpointID string, f DeliveryFilter) (*Page[*keyward.WebhookDelivery], error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	switch f.Status {
	case "", keyward.DeliveryPending, keyward.DeliverySucceeded, keyward.DeliveryFailed:
	default:
		return nil, keyward.Invalid("status", "status must be pending, succeeded or failed")
	}
	after, err := decodeCursor("deliveries", f.Cursor)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	if _, err := q.Webhook(ctx, a.TenantID, endpointID); err != nil {
		return nil, err
	}
	limit := clampLimit(f.Limit)
	ds, err := q.ListDeliveries(ctx, endpointID, f.Status, f.Before, after, limit+1)
	if err != nil {
		return nil, err
	}
	return pageOf("deliveries", ds, limit, func(d *keyward.WebhookDelivery) string { return d.ID }), nil
}

// AttemptFilter chooses the attempts ListAttempts lists.
type AttemptFilter struct {
	Delivery string // only this delivery's; "" for all
	Cursor   string // a previous page's NextCursor
	Limit    int
}

// ListAttempts lists an endpoint's delivery attempts, newest first,
// optionally of one delivery: the delivery log, a page at a time.
func (s *Service) ListAttempts(ctx context.Context, endpointID string, f AttemptFilter) (*Page[*keyward.WebhookAttempt], error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor("attempts", f.Cursor)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	if _, err := q.Webhook(ctx, a.TenantID, endpointID); err != nil {
		return nil, err
	}
	limit := clampLimit(f.Limit)
	as, err := q.ListAttempts(ctx, endpointID, f.Delivery, after, limit+1)
	if err != nil {
		return nil, err
	}
	return pageOf("attempts", as, limit, func(a *keyward.WebhookAttempt) string { return a.ID }), nil
}

// Replay sends deliveries of an endpoint again, now: the one named by
// deliveryID, or with deliveryID "" every failed one created since since.
// A replayed delivery keeps its event's webhook-id.
func (s *Service) Replay(ctx context.Context, endpointID, deliveryID string, since time.Time) (int, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return 0, err
	}
	if deliveryID == "" && since.IsZero() {
		return 0, keyward.Invalid("since", "name a delivery, or replay the failed ones since a time, e.g. since=2026-12-01T00:00:00Z")
	}
	var n int
	err = s.db.Write(ctx, func(q *store.Q) error {
		w, err := q.Webhook(ctx, a.TenantID, endpointID)
		if err != nil {
			return err
		}
		if deliveryID != "" {
			if _, err := q.Delivery(ctx, w.ID, deliveryID); err != nil {
				return err
			}
		}
		if n, err = q.ScheduleDeliveries(ctx, w.ID, deliveryID, since, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.replay", "webhook", w.ID, map[string]any{"delivery_id": deliveryID, "since": since, "deliveries": n})
	})
	if err == nil && n > 0 {
		s.wakeDispatch()
	}
	return n, err
}

// WebhookStats is an endpoint's recent success rate, per bucket.
type WebhookStats struct {
	Since     time.Time `json:"since"`
	Step      string    `json:"step"`
	Attempts  []int     `json:"attempts"`
	Succeeded []int     `json:"succeeded"`
}

// WebhookStats counts an endpoint's attempts and successes over the last
// 24 hours, per hour.
func (s *Service) WebhookStats(ctx context.Context, endpointID string) (*WebhookStats, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	if _, err := q.Webhook(ctx, a.TenantID, endpointID); err != nil {
		return nil, err
	}
	since := s.now().Truncate(time.Hour).Add(-23 * time.Hour)
	total, ok, err := q.AttemptCounts(ctx, endpointID, since, time.Hour, 24)
	if err != nil {
		return nil, err
	}
	return &WebhookStats{Since: since, Step: "1h", Attempts: total, Succeeded: ok}, nil
}
