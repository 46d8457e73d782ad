package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// webhookActor returns the caller, who must be a tenant administrator
// holding the Webhooks feature; merchants are refused by tenantActor.
func webhookActor(ctx context.Context) (*keyward.Actor, error) {
	return tenantActor(ctx, keyward.FeatureWebhooks)
}

func checkEvents(events []string) ([]string, error) {
	out := []string{}
	for _, e := range events {
		if err := keyward.ValidName("events", e, 100); err != nil {
			return nil, err
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, keyward.Invalid("events", "name at least one event, e.g. \"order.created\", or \"*\" for every event")
	}
	return out, nil
}

// CreateWebhook adds a webhook endpoint for a store. The signing secret
// (whsec_…) is returned once and kept only sealed by the master keyring;
// without a keyring the endpoint is refused as unavailable.
func (s *Service) CreateWebhook(ctx context.Context, in keyward.WebhookCreate) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidWebhookURL(in.URL); err != nil {
		return nil, err
	}
	events, err := checkEvents(in.Events)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidText("description", in.Description, 500); err != nil {
		return nil, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "webhook endpoints need a master key to keep their signing secrets; the operator sets KEYWARD_MASTER_KEY")
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	plain := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	w := &keyward.WebhookEndpoint{
		ID: keyward.NewID("whk"), TenantID: a.TenantID, URL: in.URL, Events: events, Enabled: in.Enabled == nil || *in.Enabled,
		SecretHint: "whsec_…" + plain[len(plain)-4:], Description: in.Description, CreatedAt: s.now(), UpdatedAt: s.now(), Secret: plain,
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		st, err := q.Store(ctx, a.TenantID, in.Store)
		if err != nil {
			return invalidRef("store", err)
		}
		w.StoreID = st.ID
		sealed := s.keyring.Seal([]byte(plain), webhookSecretPlace(w.TenantID, w.ID))
		if err := q.InsertWebhook(ctx, w, string(sealed)); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.create", "webhook", w.ID, map[string]any{"store_id": w.StoreID, "url": w.URL, "events": w.Events})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks lists the tenant's webhook endpoints, optionally of a store.
func (s *Service) ListWebhooks(ctx context.Context, storeRef string) ([]*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	storeID := ""
	if storeRef != "" {
		st, err := q.Store(ctx, a.TenantID, storeRef)
		if err != nil {
			return nil, invalidRef("store", err)
		}
		storeID = st.ID
	}
	out, err := q.ListWebhooks(ctx, a.TenantID, storeID)
	if out == nil && err == nil {
		out = []*keyward.WebhookEndpoint{}
	}
	return out, err
}

// Webhook returns one webhook endpoint.
func (s *Service) Webhook(ctx context.Context, id string) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Read().Webhook(ctx, a.TenantID, id)
}

// UpdateWebhook changes a webhook endpoint.
func (s *Service) UpdateWebhook(ctx context.Context, id string, in keyward.WebhookUpdate) (*keyward.WebhookEndpoint, error) {
	a, err := webhookActor(ctx)
	if err != nil {
		return nil, err
	}
	var w *keyward.WebhookEndpoint
	err = s.db.Write(ctx, func(q *store.Q) error {
		if w, err = q.Webhook(ctx, a.TenantID, id); err != nil {
			return err
		}
		before := map[string]any{"url": w.URL, "events": w.Events, "description": w.Description, "enabled": w.Enabled}
		if in.URL != nil {
			if err := keyward.ValidWebhookURL(*in.URL); err != nil {
				return err
			}
			w.URL = *in.URL
		}
		if in.Events != nil {
			if w.Events, err = checkEvents(*in.Events); err != nil {
				return err
			}
		}
		if in.Description != nil {
			if err := keyward.ValidText("description", *in.Description, 500); err != nil {
				return err
			}
			w.Description = *in.Description
		}
		if in.Enabled != nil {
			w.Enabled = *in.Enabled
		}
		changes := diff(before, map[string]any{"url": w.URL, "events": w.Events, "description": w.Description, "enabled": w.Enabled})
		if len(changes) == 0 {
			return nil
		}
		w.UpdatedAt = s.now()
		if err := q.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.update", "webhook", w.ID, changes)
	})
	return w, err
}

// DeleteWebhook removes a webhook endpoint.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	a, err := webhookActor(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		w, err := q.Webhook(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := q.DeleteWebhook(ctx, w.ID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "webhook.delete", "webhook", w.ID, map[string]any{"url": w.URL})
	})
}
