package service

import (
	"errors"
	"sync"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/strictjson"
)

// Event types keyward itself sends, with the JSON schema of their data.
var keywardEvents = []keyward.EventType{
	keyEvent("key.created", "An API key was created."),
	keyEvent("key.updated", "An API key's settings changed."),
	keyEvent("key.disabled", "An API key was disabled; its secrets stop working."),
	keyEvent("key.enabled", "An API key was enabled again."),
	keyEvent("key.rolled", "A secret of an API key was replaced."),
	keyEvent("key.deleted", "An API key was deleted; its secrets stop working."),
	// Expiry and inactivity notices (expiry.go, inactivity.go).
	expiringEvent,
	{Type: "key.inactive_soon", Description: "An API key unused for nearly its tenant's inactive_days is disabled at disable_at unless it is used first.",
		Schema: schema(`{"type":"object","required":["key","last_activity_at","disable_at","inactive_days"],"properties":{"key":{"type":"object"},
		"last_activity_at":{"type":"string","format":"date-time"},"disable_at":{"type":"string","format":"date-time"},"inactive_days":{"type":"integer"}}}`)},
	merchantAccessEvent("merchant.api_access.enabled", "A merchant user was given API access (an API Account ID and Auth Key)."),
	merchantAccessEvent("merchant.api_access.deactivated", "A merchant user's API access was deactivated; their Auth Key stops working."),
	{Type: "licence.updated", Description: "The tenant's licence was granted or changed.", Schema: schema(`{"type":"object","required":["active","api_access","max_keys","rate_limit"],
		"properties":{"active":{"type":"boolean"},"api_access":{"type":"boolean"},"max_keys":{"type":"integer"},
		"rate_limit":{"type":"integer"},"expires_at":{"type":["string","null"],"format":"date-time"}}}`)},
	{Type: "licence.revoked", Description: "The tenant's licence was revoked; its keys are suspended.", Schema: schema(`{"type":"object","required":["active","api_access"],"properties":{"active":{"type":"boolean"},"api_access":{"type":"boolean"}}}`)},
	{Type: "connection.verified", Description: "An external system connection passed Verify Connection.", Schema: schema(`{"type":"object","required":["connection_id","outcome"],
		"properties":{"connection_id":{"type":"string"},"system":{"type":"string"},"name":{"type":"string"},"outcome":{"type":"string"}}}`)},
	{Type: "connection.failed", Description: "An external system connection failed Verify Connection.", Schema: schema(`{"type":"object","required":["connection_id","outcome"],
		"properties":{"connection_id":{"type":"string"},"system":{"type":"string"},"name":{"type":"string"},"outcome":{"type":"string"},"message":{"type":"string"}}}`)},
	{Type: "handover.opened", Description: "A one-time link handing over a secret was opened; its secret was shown once.", Schema: schema(`{"type":"object",
		"required":["handover_id","kind","subject_id","opened_at"],"properties":{"handover_id":{"type":"string"},"kind":{"type":"string"},
		"subject_id":{"type":"string"},"opened_at":{"type":"string","format":"date-time"}}}`)},
	{Type: "webhook.test", Description: "A test event, sent to one endpoint from its page or POST /api/v1/webhooks/{id}/test.", Schema: schema(`{"type":"object","required":["message"],"properties":{"message":{"type":"string"}}}`)},
}

func schema(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic("event schema: " + err.Error())
	}
	return b.Bytes()
}

func keyEvent(typ, desc string) keyward.EventType {
	return keyward.EventType{Type: typ, Description: desc, Schema: schema(`{"type":"object","required":["key"],"properties":{"key":{"type":"object",
		"required":["id","name","enabled","stores"],"properties":{"id":{"type":"string"},"name":{"type":"string"},"display_name":{"type":"string"},
		"enabled":{"type":"boolean"},"stores":{"type":"object"},"permissions":{"type":"object"},"expires_at":{"type":["string","null"]}}},
		"changes":{"type":"object"},"reason":{"type":"string"}}}`)}
}

// expiringEvent warns, 7 days and 1 day ahead, of the expiry of a key, a
// key's secret kept for a grace period, a personal access token or a
// merchant Auth Key kept for a grace period.
var expiringEvent = keyward.EventType{Type: "key.expiring", Description: "A key, secret, personal access token or merchant Auth Key expires within 7 days (threshold \"7d\") or 1 day (\"1d\").",
	Schema: schema(`{"type":"object","required":["kind","id","name","expires_at","threshold"],"properties":{
	"kind":{"type":"string","enum":["key","secret","personal_token","merchant_auth_key"]},"id":{"type":"string"},"name":{"type":"string"},
	"display_name":{"type":"string"},"expires_at":{"type":"string","format":"date-time"},"threshold":{"type":"string","enum":["7d","1d"]},
	"key_id":{"type":"string"},"slot":{"type":"integer"},"user_id":{"type":"string"},"merchant_id":{"type":"string"},"api_account_id":{"type":"string"}}}`)}

func merchantAccessEvent(typ, desc string) keyward.EventType {
	return keyward.EventType{Type: typ, Description: desc, Schema: schema(`{"type":"object","required":["merchant_id","merchant_user_id"],
		"properties":{"merchant_id":{"type":"string"},"merchant_user_id":{"type":"string"},"api_account_id":{"type":"string"}}}`)}
}

// EventTypes lists the event types endpoints may subscribe to: keyward's
// own and those the catalog declares for the platform to send.
func (s *Service) EventTypes() []keyward.EventType {
	out := slices.Clone(keywardEvents)
	for i := range out {
		out[i].Source = "keyward"
	}
	for _, e := range s.catalog.Events() {
		out = append(out, keyward.EventType{Type: e.Type, Description: e.Summary, Source: "platform", Schema: e.Schema})
	}
	return out
}

func (s *Service) eventType(typ string) (keyward.EventType, bool) {
	for _, t := range s.EventTypes() {
		if t.Type == typ {
			return t, true
		}
	}
	return keyward.EventType{}, false
}

// checkEvents validates an endpoint's event subscriptions: known types,
// "*" for every type, or "prefix.*" for a family such as "key.*".
func (s *Service) checkEvents(events []string) ([]string, error) {
	out := []string{}
	for _, e := range events {
		if e == "" {
			continue
		}
		known := e == "*"
		for _, t := range s.EventTypes() {
			if eventMatches(e, t.Type) {
				known = true
			}
		}
		if !known {
			return nil, keyward.Invalid("events", "unknown event type %q; list them at GET /api/v1/webhooks/event-types, or use \"*\" for every event", e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, keyward.Invalid("events", "name at least one event type, e.g. \"key.created\", or \"*\" for every event")
	}
	return out, nil
}

// eventMatches reports whether a subscription names an event type: "*",
// the type itself, or a family such as "key.*".
func eventMatches(pattern, typ string) bool {
	return pattern == "*" || pattern == typ || strings.HasSuffix(pattern, ".*") && strings.HasPrefix(typ, strings.TrimSuffix(pattern, "*"))
}

// subscribed reports whether an endpoint receives events of typ about
// stores (none: the event concerns the whole tenant).
func subscribed(w *keyward.WebhookEndpoint, typ string, stores []string) bool {
	if !w.Enabled {
		return false
	}
	match := false
	for _, e := range w.Events {
		if eventMatches(e, typ) {
			match = true
		}
	}
	if !match {
		return false
	}
	if w.Stores.Access != keyward.StoresSelected || len(stores) == 0 {
		return true
	}
	for _, id := range stores {
		if slices.Contains(w.Stores.IDs, id) {
			return true
		}
	}
	return false
}

// emit records, within the transaction q of the change it reports, an
// event of typ about stores (none: the whole tenant) and a delivery to
// every endpoint subscribed to it, so that an event is sent if and only if
// its change commits. An event no endpoint wants is not kept.
func (s *Service) emit(ctx context.Context, q *store.Q, tenantID string, stores []string, typ string, data any) error {
	ws, err := q.ListWebhooks(ctx, tenantID)
	if err != nil {
		return err
	}
	var to []*keyward.WebhookEndpoint
	for _, w := range ws {
		if subscribed(w, typ, stores) {
			to = append(to, w)
		}
	}
	if len(to) == 0 {
		return nil
	}
	_, err = s.writeEvent(ctx, q, tenantID, stores, typ, data, to)
	return err
}

// writeEvent writes an event and its deliveries to the endpoints to.
func (s *Service) writeEvent(ctx context.Context, q *store.Q, tenantID string, stores []string, typ string, data any, to []*keyward.WebhookEndpoint) (*keyward.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	e := &keyward.Event{ID: keyward.NewID("msg"), Type: typ, Timestamp: s.now(), Stores: stores, Data: raw}
	if e.Stores == nil {
		e.Stores = []string{}
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if err := q.InsertEvent(ctx, tenantID, e, payload); err != nil {
		return nil, err
	}
	for _, w := range to {
		if err := q.InsertDelivery(ctx, keyward.NewID("dlv"), tenantID, w.ID, e.ID, e.Timestamp); err != nil {
			return nil, err
		}
	}
	// The dispatcher is woken once the deliveries are there to be claimed.
	q.AfterCommit(s.wakeDispatch)
	return e, nil
}

// keyEventType is the event of each key change the audit log names.
var keyEventType = map[string]string{"key.update": "key.updated", "key.enable": "key.enabled", "key.disable": "key.disabled"}

// keyEventData is what key events say about a key: never its secrets.
func keyEventData(k *keyward.Key, changes map[string]any) map[string]any {
	d := map[string]any{"key": map[string]any{
		"id": k.ID, "name": k.Name, "display_name": k.DisplayName, "enabled": k.Enabled,
		"stores": k.Stores, "permissions": k.Permissions, "expires_at": k.ExpiresAt,
	}}
	if changes != nil {
		d["changes"] = changes
	}
	return d
}

// keyStores are the stores a key event concerns: the key's, or none (the
// whole tenant) for a key of all stores.
func keyStores(k *keyward.Key) []string {
	if k.Stores.Access == keyward.StoresSelected {
		return k.Stores.IDs
	}
	return nil
}

// SendEvent records an event the platform sends (POST /v1/events) for the
// tenant's endpoints subscribed to its type and store. The type must be
// one the catalog declares and data a JSON object; the caller has already
// been checked as a key allowed to send events to in.Store.
func (s *Service) SendEvent(ctx context.Context, tenantID string, in keyward.EventSend) (*keyward.Event, error) {
	t, ok := s.eventType(in.Type)
	if !ok || t.Source != "platform" {
		var known []string
		for _, e := range s.catalog.Events() {
			known = append(known, e.Type)
		}
		return nil, keyward.Invalid("type", "unknown event type %q; the platform may send %s", in.Type, strings.Join(known, ", "))
	}
	data := bytes.TrimSpace(in.Data)
	if len(data) == 0 || data[0] != '{' {
		return nil, keyward.Invalid("data", "data must be a JSON object")
	}
	if len(data) > keyward.MaxEventData {
		return nil, &keyward.Error{Code: keyward.ETooLarge, Field: "data",
			Message: fmt.Sprintf("data is %d bytes; an event's data may be at most %d bytes", len(data), keyward.MaxEventData)}
	}
	// Data read from a body was checked by the gateway; data from
	// elsewhere is held to the same rules before it is stored and sent.
	if err := strictjson.Check(data); err != nil {
		return nil, err
	}
	if err := checkSchema(t.Schema, data); err != nil {
		return nil, keyward.Invalid("data", "data does not match the schema of %s: %v", in.Type, err)
	}
	var e *keyward.Event
	err := s.db.Write(ctx, func(q *store.Q) error {
		st, err := q.Store(ctx, tenantID, in.Store)
		if err != nil {
			return invalidRef("store", err)
		}
		ws, err := q.ListWebhooks(ctx, tenantID)
		if err != nil {
			return err
		}
		var to []*keyward.WebhookEndpoint
		for _, w := range ws {
			if subscribed(w, in.Type, []string{st.ID}) {
				to = append(to, w)
			}
		}
		e, err = s.writeEvent(ctx, q, tenantID, []string{st.ID}, in.Type, json.RawMessage(data), to)
		return err
	})
	return e, err
}

// WithDispatchWake sets a function called when an event is written, so
// this node's dispatcher can look for work before its next poll.
func WithDispatchWake(fn func()) Option { return func(s *Service) { s.onEvent = fn } }

func (s *Service) wakeDispatch() {
	if s.onEvent != nil {
		s.onEvent()
	}
}

// compiledSchemas caches event schemas by their text.
var compiledSchemas sync.Map // string -> *jsonschema.Schema

// checkSchema validates data against a JSON schema.
func checkSchema(sch json.RawMessage, data []byte) error {
	v, ok := compiledSchemas.Load(string(sch))
	if !ok {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sch))
		if err != nil {
			return err
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("event.json", doc); err != nil {
			return err
		}
		compiled, err := c.Compile("event.json")
		if err != nil {
			return err
		}
		v, _ = compiledSchemas.LoadOrStore(string(sch), compiled)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := v.(*jsonschema.Schema).Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			// The first line names the schema's location, which says
			// nothing to the sender; the rest says what is wrong where.
			lines := strings.Split(strings.TrimSpace(ve.Error()), "\n")
			var why []string
			for _, l := range lines[1:] {
				why = append(why, strings.TrimPrefix(strings.TrimSpace(l), "- "))
			}
			return errors.New(strings.Join(why, "; "))
		}
		return err
	}
	return nil
}
