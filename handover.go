package keyward

import "time"

// Kinds of secret a one-time link hands over.
const (
	HandoverKeySecret       = "key_secret"
	HandoverMerchantAuthKey = "merchant_auth_key"
	HandoverWebhookSecret   = "webhook_secret"
	HandoverKeyRequest      = "key_request"
)

// HandoverKinds lists every kind of one-time link, in the order forms show them.
var HandoverKinds = []string{HandoverKeySecret, HandoverMerchantAuthKey, HandoverWebhookSecret, HandoverKeyRequest}

// States of a one-time link.
const (
	// HandoverWaiting: not opened yet and not expired; the secret is kept sealed.
	HandoverWaiting = "waiting"
	// HandoverOpened: opened once; the sealed copy is gone.
	HandoverOpened = "opened"
	// HandoverExpired: not opened before it expired; the sealed copy is gone.
	HandoverExpired = "expired"
	// HandoverBurned: too many wrong codes were tried; the sealed copy is gone.
	HandoverBurned = "burned"
)

// Limits of a one-time link.
const (
	// DefaultHandoverTTL is how long a link stays open when no TTL is given.
	DefaultHandoverTTL = 24 * time.Hour
	// MaxHandoverTTL is the longest a link may stay open.
	MaxHandoverTTL = 7 * 24 * time.Hour
	// MaxHandoverCodeAttempts is how many wrong codes burn a link.
	MaxHandoverCodeAttempts = 5
)

// HandoverCreate asks for a one-time link handing over a secret: the
// secret is kept sealed until the link is opened once, then destroyed.
type HandoverCreate struct {
	// Kind is what the secret is: key_secret, merchant_auth_key,
	// webhook_secret or key_request.
	Kind string
	// SubjectID names what the secret belongs to: the key, the merchant
	// user, the webhook endpoint or the key request.
	SubjectID string
	// TTL is how long the link stays open: 0 is DefaultHandoverTTL, at
	// most MaxHandoverTTL.
	TTL time.Duration
	// RequireCode asks for a short code, answered once to be sent
	// separately, without which the link does not open.
	RequireCode bool
	// Note is a short text for the administrator, such as who the link is for.
	Note string
}

// Validate checks the kind, the subject, the TTL and the note.
func (in HandoverCreate) Validate() error {
	switch in.Kind {
	case HandoverKeySecret, HandoverMerchantAuthKey, HandoverWebhookSecret, HandoverKeyRequest:
	default:
		return Invalid("kind", "kind must be one of key_secret, merchant_auth_key, webhook_secret, key_request")
	}
	if in.SubjectID == "" {
		return Invalid("subject_id", "subject_id must name the key, merchant user, webhook endpoint or key request the secret belongs to")
	}
	if in.TTL < 0 || in.TTL > MaxHandoverTTL {
		return Invalid("ttl", "ttl must be between 1m and 168h (7 days); leave it out for 24h")
	}
	if in.TTL > 0 && in.TTL < time.Minute {
		return Invalid("ttl", "ttl must be at least 1m")
	}
	if len(in.Note) > 200 {
		return Invalid("note", "note must be at most 200 characters")
	}
	return nil
}

// Handover is a one-time link handing over a secret, as its administrator
// sees it. The link itself is answered only when it is created: keyward
// keeps only a hash of its token.
type Handover struct {
	ID        string `json:"id"`
	TenantID  string `json:"-"`
	Kind      string `json:"kind"`
	SubjectID string `json:"subject_id"`
	// URL is the link, set only in the answer that creates it: absolute
	// when keyward knows its public URL, else a path.
	URL string `json:"url,omitempty"`
	// Code is the code the link asks for, set only in the answer that
	// creates it, when one is required. Send it separately from the link.
	Code         string `json:"code,omitempty"`
	CodeRequired bool   `json:"code_required"`
	// FailedCodes counts the wrong codes tried; MaxHandoverCodeAttempts of
	// them burn the link.
	FailedCodes int        `json:"failed_codes"`
	Note        string     `json:"note,omitempty"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	OpenedAt    *time.Time `json:"opened_at,omitempty"`
	// OpenedFrom is the client address the link was opened from.
	OpenedFrom string     `json:"opened_from,omitempty"`
	BurnedAt   *time.Time `json:"burned_at,omitempty"`
	// State is waiting, opened, expired or burned.
	State string `json:"state"`
}

// HandoverState returns the state of h at now.
func HandoverState(h *Handover, now time.Time) string {
	switch {
	case h.OpenedAt != nil:
		return HandoverOpened
	case h.BurnedAt != nil:
		return HandoverBurned
	case !now.Before(h.ExpiresAt):
		return HandoverExpired
	}
	return HandoverWaiting
}

// HandoverFilter narrows a list of one-time links.
type HandoverFilter struct {
	Kind      string
	SubjectID string
	// State is waiting, opened, expired or burned; "" for all.
	State string
	Limit int
	// After is the id the page starts after.
	After string
}
