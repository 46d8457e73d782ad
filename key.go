package keyward

import "time"

// Level is an access level on a resource. Write implies read.
type Level string

// Access levels. The zero value means no access.
const (
	LevelNone  Level = ""
	LevelRead  Level = "read"
	LevelWrite Level = "write"
)

// UnmarshalText reads a level; "none" is read as no access (LevelNone), as
// people write it.
func (l *Level) UnmarshalText(b []byte) error {
	if string(b) == "none" {
		*l = LevelNone
		return nil
	}
	*l = Level(b)
	return nil
}

// Allows reports whether holding l grants want.
func (l Level) Allows(want Level) bool {
	switch want {
	case LevelRead:
		return l == LevelRead || l == LevelWrite
	case LevelWrite:
		return l == LevelWrite
	}
	return false
}

// Permissions maps a catalog resource to the level a key holds on it. An
// absent resource means no access.
type Permissions map[string]Level

// Store access kinds.
const (
	StoresAll      = "all"
	StoresSelected = "selected"
)

// StoreAccess says which stores a key may act on: every store of the tenant
// (including stores created later) or the selected ones.
type StoreAccess struct {
	Access string   `json:"access"`
	IDs    []string `json:"ids,omitempty"`
}

// Key is an integration's API key. Its secrets are never part of it: only
// their hints (prefix and last four characters).
type Key struct {
	Versioned
	ID          string      `json:"id"`
	TenantID    string      `json:"-"`
	Name        string      `json:"name"`
	DisplayName string      `json:"display_name"`
	Description string      `json:"description"`
	Enabled     bool        `json:"enabled"`
	Permissions Permissions `json:"permissions"`
	Stores      StoreAccess `json:"stores"`
	// Methods is the allowlist of catalog method ids; nil allows every
	// method the permissions allow. Blocks given on input are expanded.
	Methods   []string    `json:"methods"`
	ExpiresAt *time.Time  `json:"expires_at,omitempty"`
	RateLimit int         `json:"rate_limit"` // requests per second, 0 = the licence's limit only
	Secrets   []KeySecret `json:"secrets"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	Usage     *KeyUsage   `json:"usage,omitempty"`
	// Warnings name what makes the key useless, such as permissions that
	// allow no method; set in the answers that create or change it.
	Warnings []string `json:"warnings,omitempty"`
	// AllowedAddresses lists the client addresses and CIDR ranges (IPv4
	// and IPv6) the key may be used from; empty allows any address.
	AllowedAddresses []string `json:"allowed_addresses,omitempty"`
	// Quota is the key's request budget per day, per month or in total;
	// nil when it has none.
	Quota *Quota `json:"quota,omitempty"`
	// QuotaUsage is what the current period of the quota has used; set
	// when the key is read alone (GET) and has a quota.
	QuotaUsage *QuotaUsage `json:"quota_usage,omitempty"`
}

// KeySecret describes one secret of a key without revealing it. A key has
// two slots; after a roll with a grace period a slot briefly holds two
// secrets, the old one with an expiry.
type KeySecret struct {
	ID         string     `json:"id"`
	KeyID      string     `json:"-"`
	Slot       int        `json:"slot"`
	Hint       string     `json:"hint"`
	Digest     []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Secret is the plain text, set only in the answer that creates it.
	Secret string `json:"secret,omitempty"`
	// LastUsedFrom is the client address of the secret's last use, beside
	// LastUsedAt; empty when it is not known.
	LastUsedFrom string `json:"last_used_from,omitempty"`
}

// KeyUsage summarises recent use of a key.
type KeyUsage struct {
	LastUsedAt *time.Time    `json:"last_used_at,omitempty"`
	Requests   int64         `json:"requests_24h"`
	Hourly     []UsageBucket `json:"hourly,omitempty"`
}

// UsageBucket is a request count over one period.
type UsageBucket struct {
	Start    time.Time `json:"start"`
	Requests int64     `json:"requests"`
}

// KeyCreate is the input for creating a key.
type KeyCreate struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Enabled     *bool       `json:"enabled"`
	Permissions Permissions `json:"permissions"`
	Stores      StoreAccess `json:"stores"`
	Methods     []string    `json:"methods"`
	ExpiresAt   *time.Time  `json:"expires_at"`
	RateLimit   int         `json:"rate_limit"`
	// AllowedAddresses lists the addresses and CIDR ranges the key may be
	// used from; empty allows any address.
	AllowedAddresses []string `json:"allowed_addresses"`
	// Quota is the key's request budget; nil for none.
	Quota *Quota `json:"quota"`
}

// KeyUpdate changes a key, read as a JSON Merge Patch (RFC 7396): a member
// left out (a nil field) keeps its value, and null removes it:
// description becomes empty, permissions none, stores all, methods every
// method the permissions allow, expires_at none and rate_limit the
// licence's limit only, allowed_addresses any address; name and enabled
// cannot be removed. permissions
// merges per resource: a resource given as null or "none" loses its
// access and resources left out keep theirs. stores merges too: access
// left out keeps the key's, ids left out keep its selection unless access
// becomes "all".
type KeyUpdate struct {
	Name        *string      `json:"name"`
	Description *string      `json:"description"`
	Enabled     *bool        `json:"enabled"`
	Permissions *Permissions `json:"permissions"`
	Stores      *StoreAccess `json:"stores"`
	Methods     *[]string    `json:"methods"`
	ExpiresAt   NullableTime `json:"expires_at"`
	RateLimit   *int         `json:"rate_limit"`
	// ClearPermissions replaces the permissions with Permissions instead
	// of merging them in: set by "permissions": null and by forms that
	// show every resource.
	ClearPermissions bool `json:"-"`
	// AllowedAddresses replaces the key's address allowlist; empty allows
	// any address.
	AllowedAddresses *[]string `json:"allowed_addresses"`
	// Quota changes the key's request budget: limit and period left out
	// keep theirs. RemoveQuota, set by "quota": null, removes it.
	Quota       *Quota `json:"quota"`
	RemoveQuota bool   `json:"-"`
}

// Null applies a null member of the merge patch: it sets the member's
// default, or refuses a member that cannot be removed.
func (in *KeyUpdate) Null(member string) error {
	switch member {
	case "description":
		in.Description = new(string)
	case "permissions":
		in.Permissions = &Permissions{}
		in.ClearPermissions = true
	case "stores":
		in.Stores = &StoreAccess{Access: StoresAll}
	case "methods":
		in.Methods = new([]string)
	case "rate_limit":
		in.RateLimit = new(int)
	case "allowed_addresses":
		in.AllowedAddresses = new([]string)
	case "quota":
		in.Quota, in.RemoveQuota = nil, true
	default:
		return cannotRemove(member)
	}
	return nil
}

// KeyFilter selects keys in a list.
type KeyFilter struct {
	Enabled *bool
	Access  string // "all" or "selected"
	StoreID string // keys that may act on this store
	After   string // cursor: a previous page's NextCursor (ListKeys); the store reads it as the id to list after
	Limit   int
}

// KeyRoll asks for a new secret in a slot. The old secret of the slot keeps
// working for Grace (0 = stops at once).
type KeyRoll struct {
	Slot  int      `json:"slot"`
	Grace Duration `json:"grace"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string such as "24h" or "30m".
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return Invalid("grace", "grace %q is not a duration such as \"30m\" or \"24h\"", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Verify decision codes, answered by POST /v1/verify and the gateway.
const (
	CodeValid                  = "VALID"
	CodeNotFound               = "NOT_FOUND"
	CodeDisabled               = "DISABLED"
	CodeExpired                = "EXPIRED"
	CodeLicenceInactive        = "LICENCE_INACTIVE"
	CodeUnknownMethod          = "UNKNOWN_METHOD"
	CodeMethodNotAllowed       = "METHOD_NOT_ALLOWED"
	CodeInsufficientPermission = "INSUFFICIENT_PERMISSION"
	CodeStoreNotAllowed        = "STORE_NOT_ALLOWED"
	CodeStoreRequired          = "STORE_REQUIRED"
	CodeRateLimited            = "RATE_LIMITED"
	CodeUnavailable            = "UNAVAILABLE"
	// CodeInvalidRequest refuses a request that could be read two ways: a
	// path not in canonical form, a path parameter, a method override or a
	// connection upgrade the catalog does not allow.
	CodeInvalidRequest = "INVALID_REQUEST"
	// CodeStoreAmbiguous refuses a request naming its store more than once
	// or in a form servers read differently.
	CodeStoreAmbiguous = "STORE_AMBIGUOUS"
	// CodeIPNotAllowed refuses a request from a client address outside
	// the credential's allowlist.
	CodeIPNotAllowed = "IP_NOT_ALLOWED"
	// CodeQuotaExceeded refuses a request of a key whose quota for the
	// current period is spent; the answer says when it refills.
	CodeQuotaExceeded = "QUOTA_EXCEEDED"
)
