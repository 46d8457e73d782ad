package keyward

import "time"

// Integrator is an outside party registered to ask for API keys through a
// signed link (a key request): per tenant, by an administrator, or for the
// whole platform by the operator. Its signing secret signs its links and
// the callback deliveries that bring it the keys.
type Integrator struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	// Platform is set for an integrator the operator registered for every
	// tenant.
	Platform bool   `json:"platform"`
	Name     string `json:"name"`
	// CallbackURL receives approved keys, signed as webhooks are; "" for
	// none, when keys go through a one-time pickup.
	CallbackURL string `json:"callback_url"`
	// Permissions is the most a request of this integrator may ask for.
	Permissions Permissions `json:"permissions"`
	SecretHint  string      `json:"secret_hint"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	// Secret is the signing secret, set only in the answer that creates or
	// rolls it.
	Secret string `json:"secret,omitempty"`
}

// IntegratorCreate is the input for registering an integrator.
type IntegratorCreate struct {
	Name        string      `json:"name"`
	CallbackURL string      `json:"callback_url"`
	Permissions Permissions `json:"permissions"`
}

// Key request states. A pending request whose link has expired reads as
// expired.
const (
	KeyRequestPending  = "pending"
	KeyRequestApproved = "approved"
	KeyRequestDeclined = "declined"
	KeyRequestExpired  = "expired"
)

// Key request delivery: how an approved key reaches the integrator.
const (
	DeliveryCallback = "callback"
	DeliveryPickup   = "pickup"
)

// KeyAsk is what a key request asks for, or what an administrator grants
// of it: the settings of the key to make.
type KeyAsk struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Permissions Permissions `json:"permissions"`
	Stores      StoreAccess `json:"stores"`
	// Methods nil asks for every method the permissions allow.
	Methods   []string   `json:"methods"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// KeyRequest is a request for an API key, made from an integrator's link
// and approved or declined by an administrator.
type KeyRequest struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	// IntegratorID is "" for a link from an unregistered integrator: it is
	// shown with a warning and its key goes only through a pickup.
	IntegratorID   string `json:"integrator_id"`
	IntegratorName string `json:"integrator_name"`
	Status         string `json:"status"`
	Requested      KeyAsk `json:"requested"`
	// Granted is what the administrator approved: the request or less.
	Granted *KeyAsk `json:"granted,omitempty"`
	// Delivery is "callback" or "pickup": where the key goes.
	Delivery      string     `json:"delivery"`
	LinkExpiresAt time.Time  `json:"link_expires_at"`
	KeyID         string     `json:"key_id,omitempty"`
	DecidedBy     string     `json:"decided_by,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
	// DeliveryStatus is pending, succeeded or failed for a callback, ""
	// before approval.
	DeliveryStatus string     `json:"delivery_status,omitempty"`
	Attempts       int        `json:"attempts"`
	LastAttemptAt  *time.Time `json:"last_attempt_at,omitempty"`
	LastStatus     int        `json:"last_status,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	// PickupURL is the one-time pickup link, set only in the answer that
	// approves a request delivered by pickup.
	PickupURL string `json:"pickup_url,omitempty"`
}

// KeyRequestOpen is the input for recording a request from a link: the
// link's query string (or the whole link).
type KeyRequestOpen struct {
	Link string `json:"link"`
}

// KeyRequestApprove approves a request, optionally narrowed: a member left
// out (nil) grants what was asked.
type KeyRequestApprove struct {
	Permissions *Permissions `json:"permissions"`
	Stores      *StoreAccess `json:"stores"`
	Methods     *[]string    `json:"methods"`
	ExpiresAt   *time.Time   `json:"expires_at"`
}
