package keyward

import (
	"encoding/json"
	"time"
)

// WebhookEndpoint is a URL, chosen by an administrator, that receives
// signed events of the stores it names (or of all the tenant's stores).
// Only administrators holding the Webhooks feature manage them; merchants
// never can.
type WebhookEndpoint struct {
	Versioned
	ID          string      `json:"id"`
	TenantID    string      `json:"-"`
	Stores      StoreAccess `json:"stores"`
	URL         string      `json:"url"`
	Events      []string    `json:"events"`
	Enabled     bool        `json:"enabled"`
	SecretHint  string      `json:"secret_hint"`
	Description string      `json:"description"`
	// PreviousSecretUntil is when the secret replaced by the last roll stops
	// signing; until then deliveries carry a signature by each secret.
	PreviousSecretUntil *time.Time `json:"previous_secret_until"`
	// FailingSince is when deliveries to the endpoint started failing, or
	// nil while they succeed.
	FailingSince *time.Time `json:"failing_since"`
	// DisabledReason says why keyward disabled the endpoint; empty when it
	// is enabled or an administrator disabled it.
	DisabledReason string    `json:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Secret is the signing secret, set only in the answer that creates or
	// rolls it.
	Secret string `json:"secret,omitempty"`
}

// WebhookCreate is the input for adding a webhook endpoint. Stores names
// the stores whose events it receives; Store is a shorthand for one.
type WebhookCreate struct {
	Store       string       `json:"store"`
	Stores      *StoreAccess `json:"stores"`
	URL         string       `json:"url"`
	Events      []string     `json:"events"`
	Description string       `json:"description"`
	Enabled     *bool        `json:"enabled"`
}

// WebhookUpdate changes a webhook endpoint, read as a JSON Merge Patch:
// a member left out (nil) stays as it is, and null removes what can be
// removed (see Null).
type WebhookUpdate struct {
	URL         *string      `json:"url"`
	Stores      *StoreAccess `json:"stores"`
	Events      *[]string    `json:"events"`
	Description *string      `json:"description"`
	Enabled     *bool        `json:"enabled"`
}

// Null sets what a member given as null means: no description, or all
// stores; the URL, events and enabled cannot be removed.
func (in *WebhookUpdate) Null(member string) error {
	switch member {
	case "description":
		in.Description = new(string)
	case "stores":
		in.Stores = &StoreAccess{Access: StoresAll}
	default:
		return cannotRemove(member)
	}
	return nil
}

// WebhookRoll replaces an endpoint's signing secret. The old secret keeps
// signing beside the new one for Overlap (a Go duration such as "24h";
// default 24h, at most 7 days, "0s" to stop it at once).
type WebhookRoll struct {
	Overlap string `json:"overlap"`
}

// Event is something that happened in a tenant, sent to the webhook
// endpoints subscribed to its type and store.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Stores    []string        `json:"stores"`
	Data      json.RawMessage `json:"data"`
}

// MaxEventData is the largest data an event sent to POST /v1/events may
// carry, in bytes as sent: 64 KiB. Every delivery carries it again.
const MaxEventData = 64 << 10

// EventSend is the body of POST /v1/events: an event the platform sends to
// the tenant's endpoints through keyward.
type EventSend struct {
	Type  string          `json:"type"`
	Store string          `json:"store"`
	Data  json.RawMessage `json:"data"`
}

// EventType is one kind of event an endpoint may subscribe to, with the
// JSON schema of its data.
type EventType struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Source      string          `json:"source"` // keyward or platform
	Schema      json.RawMessage `json:"schema"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	ID            string     `json:"id"`
	EndpointID    string     `json:"endpoint_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastStatus    int        `json:"last_status"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
}

// WebhookAttempt is one try at sending a delivery, for the delivery log.
type WebhookAttempt struct {
	ID          string     `json:"id"`
	DeliveryID  string     `json:"delivery_id"`
	EventID     string     `json:"event_id"`
	EventType   string     `json:"event_type"`
	Attempt     int        `json:"attempt"`
	At          time.Time  `json:"at"`
	StatusCode  int        `json:"status_code"`
	LatencyMS   int        `json:"latency_ms"`
	Error       string     `json:"error"`
	Response    string     `json:"response"`
	NextRetryAt *time.Time `json:"next_retry_at"`
}
