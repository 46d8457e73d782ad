package keyward

import "time"

// KeyPolicy is a tenant's rules for its API keys: the longest lifetime a
// new key may have and how long a key may go unused before it is
// disabled. Zero means no rule.
type KeyPolicy struct {
	Versioned
	TenantID string `json:"-"`
	// MaxLifetimeDays caps the expiry of keys created (or given a new
	// expiry) from now on: a key asked for without an expiry gets one
	// this many days away, and a later expiry is refused.
	MaxLifetimeDays int `json:"max_lifetime_days"`
	// InactiveDays disables an enabled key that has not been used for
	// this many days, counted from its last use, or from its creation,
	// last change or newest secret when later; the key is reported a day
	// before (key.inactive_soon).
	InactiveDays int        `json:"inactive_days"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

// MaxKeyPolicyDays bounds both rules of a key policy (ten years).
const MaxKeyPolicyDays = 3650

// KeyPolicyUpdate changes a key policy, read as a JSON Merge Patch (RFC
// 7396): a member left out keeps its value, and null removes the rule (0).
type KeyPolicyUpdate struct {
	MaxLifetimeDays *int `json:"max_lifetime_days"`
	InactiveDays    *int `json:"inactive_days"`
}

// Null applies a null member of the merge patch: the rule is removed.
func (in *KeyPolicyUpdate) Null(member string) error {
	switch member {
	case "max_lifetime_days":
		in.MaxLifetimeDays = new(int)
	case "inactive_days":
		in.InactiveDays = new(int)
	default:
		return cannotRemove(member)
	}
	return nil
}

// Validate checks the input.
func (in *KeyPolicyUpdate) Validate() error {
	if v := in.MaxLifetimeDays; v != nil && (*v < 0 || *v > MaxKeyPolicyDays) {
		return Invalid("max_lifetime_days", "max_lifetime_days must be 0 (no maximum) or 1 to %d days", MaxKeyPolicyDays)
	}
	if v := in.InactiveDays; v != nil && (*v < 0 || *v == 1 || *v > MaxKeyPolicyDays) {
		return Invalid("inactive_days", "inactive_days must be 0 (never disable unused keys) or 2 to %d days: a key is reported a day before it is disabled", MaxKeyPolicyDays)
	}
	return nil
}

// Expiry warnings: key.expiring is sent once at each threshold before a
// credential's expiry.
const (
	ExpiryWarnEarly = 7 * 24 * time.Hour
	ExpiryWarnLate  = 24 * time.Hour
)

// Kinds of credential an expiry warning names.
const (
	CredentialKey         = "key"
	CredentialSecret      = "secret"
	CredentialToken       = "personal_token"
	CredentialMerchantKey = "merchant_auth_key"
)

// ExpiringSoon reports whether an expiry falls within the early warning
// period at now, or has passed: the pages show a banner then.
func ExpiringSoon(exp *time.Time, now time.Time) bool {
	return exp != nil && exp.Sub(now) <= ExpiryWarnEarly
}
