package keyward

import "time"

// Merchant is an outside business working inside a tenant, such as a
// seller on a marketplace or a contractor of a delivery platform.
type Merchant struct {
	Versioned
	ID        string    `json:"id"`
	TenantID  string    `json:"-"`
	Name      string    `json:"name"`
	StoreIDs  []string  `json:"stores"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MerchantCreate is the input for creating a merchant.
type MerchantCreate struct {
	Name   string   `json:"name"`
	Stores []string `json:"stores"`
}

// MerchantUpdate changes a merchant, read as a JSON Merge Patch (RFC
// 7396): fields left out keep their value; "stores": null removes every
// store; name cannot be removed.
type MerchantUpdate struct {
	Name   *string   `json:"name"`
	Stores *[]string `json:"stores"`
}

// Null applies a null member of the merge patch.
func (in *MerchantUpdate) Null(member string) error {
	if member == "stores" {
		in.Stores = new([]string)
		return nil
	}
	return cannotRemove(member)
}

// Null applies a null member of the merge patch.
func (in *MerchantUserUpdate) Null(member string) error {
	if member == "allowed_addresses" {
		in.AllowedAddresses = new([]string)
		return nil
	}
	return cannotRemove(member)
}

// Merchant user levels. Only Level 2 users may have API access.
const (
	MerchantLevel1 = 1
	MerchantLevel2 = 2
)

// MerchantUser is a person working for a merchant. A Level 2 user may get
// API access: a non-secret API Account ID and a secret API Auth Key.
type MerchantUser struct {
	Versioned
	ID            string     `json:"id"`
	TenantID      string     `json:"-"`
	MerchantID    string     `json:"merchant_id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	Level         int        `json:"level"`
	APIAccess     bool       `json:"api_access"`
	AccountID     string     `json:"api_account_id,omitempty"`
	AuthKeyHint   string     `json:"api_auth_key_hint,omitempty"`
	AuthKeyDigest []byte     `json:"-"`
	APIEnabledAt  *time.Time `json:"api_enabled_at,omitempty"`
	// PreviousKeyDigest is the SHA-256 of the API Auth Key replaced last,
	// which keeps working until PreviousKeyExpiresAt.
	PreviousKeyDigest []byte `json:"-"`
	// PreviousKeyExpiresAt is when the replaced API Auth Key stops; nil
	// when it stopped at once.
	PreviousKeyExpiresAt *time.Time `json:"previous_auth_key_expires_at,omitempty"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	// AuthKey is the plain API Auth Key, set only in the answer that
	// creates it.
	AuthKey string `json:"api_auth_key,omitempty"`
	// AllowedAddresses lists the client addresses and CIDR ranges the API
	// credential may be used from; empty allows any address.
	AllowedAddresses []string `json:"allowed_addresses,omitempty"`
}

// AuthKeyRegenerate asks for a new API Auth Key. The old key keeps working
// for Grace (0, the default, stops it at once; at most MaxAuthKeyGrace).
type AuthKeyRegenerate struct {
	Grace Duration `json:"grace"`
}

// MaxAuthKeyGrace is the longest an old API Auth Key may keep working
// after a new one is generated.
const MaxAuthKeyGrace = 7 * 24 * time.Hour

// Validate checks the grace.
func (in AuthKeyRegenerate) Validate() error {
	if g := time.Duration(in.Grace); g < 0 || g > MaxAuthKeyGrace {
		return Invalid("grace", "grace must be between 0s (the old key stops at once) and 168h (7 days)")
	}
	return nil
}

// MerchantUserCreate is the input for adding a merchant user.
type MerchantUserCreate struct {
	Email     string `json:"email"`
	Name      string `json:"name"`
	Level     int    `json:"level"`
	APIAccess bool   `json:"api_access"`
}

// MerchantUserUpdate changes a merchant user, read as a JSON Merge Patch
// (RFC 7396): fields left out keep their value; only allowed_addresses
// can be removed (null: any address). Moving a user to Level 1 switches
// API access off at once.
type MerchantUserUpdate struct {
	Name      *string `json:"name"`
	Level     *int    `json:"level"`
	APIAccess *bool   `json:"api_access"`
	// AllowedAddresses replaces the API credential's address allowlist;
	// empty (or null) allows any address.
	AllowedAddresses *[]string `json:"allowed_addresses"`
}

// MerchantAPIAccess is one enabled merchant credential as administrators
// list it under Integrations > API.
type MerchantAPIAccess struct {
	AccountID    string     `json:"api_account_id"`
	MerchantID   string     `json:"merchant_id"`
	MerchantName string     `json:"merchant_name"`
	UserID       string     `json:"user_id"`
	Email        string     `json:"email"`
	AuthKeyHint  string     `json:"api_auth_key_hint"`
	EnabledAt    *time.Time `json:"api_enabled_at,omitempty"`
}

// Verify codes for merchant credentials.
const (
	CodeMerchantMethodNotAllowed = "MERCHANT_METHOD_NOT_ALLOWED"
	// CodeReferenceNotFound refuses a merchant's write whose body names a
	// record (an action's job_id, say) the merchant does not own.
	CodeReferenceNotFound = "REFERENCE_NOT_FOUND"
)
