package keyward

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidSlug reports whether s is a lower-case slug: letters, digits and
// inner hyphens, 1 to 63 characters.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// Tenant is one customer account of the platform.
type Tenant struct {
	ID        string    `json:"id"`
	Domain    string    `json:"domain"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// TenantCreate is the input for creating a tenant.
type TenantCreate struct {
	Domain string `json:"domain"`
	Name   string `json:"name"`
}

// Validate checks the input.
func (in *TenantCreate) Validate() error {
	if !ValidSlug(in.Domain) {
		return Invalid("domain", "domain %q must be 1-63 lower-case letters, digits or inner hyphens, e.g. \"mybusiness\"", in.Domain)
	}
	if in.Name == "" {
		in.Name = in.Domain
	}
	return ValidText("name", in.Name, 200)
}

// Licence is what the operator grants a tenant.
type Licence struct {
	Versioned
	TenantID  string     `json:"-"`
	APIAccess bool       `json:"api_access"`
	MaxKeys   int        `json:"max_keys"`   // 0 = no limit
	RateLimit int        `json:"rate_limit"` // requests per second across the tenant, 0 = none
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Active reports whether the licence grants API access at now.
func (l *Licence) Active(now time.Time) bool {
	if l == nil || !l.APIAccess {
		return false
	}
	return l.ExpiresAt == nil || now.Before(*l.ExpiresAt)
}

// LicenceGrant is the input for granting or changing a licence, read as a
// JSON Merge Patch (RFC 7396): fields left out keep their value, and null
// removes one: api_access becomes false, max_keys and rate_limit 0 (no
// limit) and expires_at none.
type LicenceGrant struct {
	APIAccess *bool        `json:"api_access"`
	MaxKeys   *int         `json:"max_keys"`
	RateLimit *int         `json:"rate_limit"`
	ExpiresAt NullableTime `json:"expires_at"`
}

// Null applies a null member of the merge patch.
func (in *LicenceGrant) Null(member string) error {
	switch member {
	case "api_access":
		in.APIAccess = new(bool)
	case "max_keys":
		in.MaxKeys = new(int)
	case "rate_limit":
		in.RateLimit = new(int)
	default:
		return cannotRemove(member)
	}
	return nil
}

// cannotRemove refuses null for a member that a resource always has.
func cannotRemove(member string) error {
	return Invalid(member, "%s cannot be removed (null): it is required; leave it out to keep its value", member)
}

// NullableTime is an input time that tells a field left out (Set false:
// keep the stored value) from null (Set true, Time nil: clear it) and a
// time (Set true, Time set).
type NullableTime struct {
	Set  bool
	Time *time.Time
}

// SetTime returns a NullableTime holding t.
func SetTime(t time.Time) NullableTime { return NullableTime{Set: true, Time: &t} }

// UnmarshalJSON reads null or an RFC 3339 time.
func (n *NullableTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = NullableTime{Set: true}
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	*n = SetTime(t)
	return nil
}

// MarshalJSON writes null or the time.
func (n NullableTime) MarshalJSON() ([]byte, error) { return json.Marshal(n.Time) }

// Validate checks the input.
func (in *LicenceGrant) Validate() error {
	if in.MaxKeys != nil && *in.MaxKeys < 0 {
		return Invalid("max_keys", "max_keys must be 0 (no limit) or more")
	}
	if in.RateLimit != nil && *in.RateLimit < 0 {
		return Invalid("rate_limit", "rate_limit must be 0 (no limit) or more requests per second")
	}
	return nil
}

// Store is a site, shop or location of a tenant.
type Store struct {
	Versioned
	ID       string `json:"id"`
	TenantID string `json:"-"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	// Active is false for a deactivated store: requests naming it are
	// refused and it is offered in no picker until it is reactivated.
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// StoreCreate is the input for creating a store.
type StoreCreate struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Validate checks the input.
func (in *StoreCreate) Validate() error {
	if !ValidSlug(in.Code) {
		return Invalid("code", "code %q must be 1-63 lower-case letters, digits or inner hyphens, e.g. \"main-shop\"", in.Code)
	}
	if in.Name == "" {
		in.Name = in.Code
	}
	return ValidText("name", in.Name, 200)
}

// StoreUpdate changes a store's name or whether it is active, read as a
// JSON Merge Patch: a member left out keeps its value.
type StoreUpdate struct {
	Name *string `json:"name"`
	// Active false deactivates the store, true reactivates it.
	Active *bool `json:"active"`
}

// FoldName is the form in which names are compared for uniqueness: two
// names with the same fold, such as "THQ" and "thq", cannot both exist.
func FoldName(s string) string { return strings.ToLower(strings.ToUpper(s)) }

// ValidText checks free text: valid UTF-8, at most max bytes, and no
// control, invisible or bidirectional formatting characters, which would
// let one name pass for another ("THQ" and "TH\u200bQ") or show its text
// reordered (U+202E).
func ValidText(field, s string, max int) error {
	if len(s) > max {
		return Invalid(field, "%s must be at most %d characters", field, max)
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "%s must be UTF-8 text", field)
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return Invalid(field, "%s must not contain control characters such as line breaks or tabs", field)
		}
		if invisible(r) {
			return Invalid(field, "%s must not contain invisible or text-direction characters (found U+%04X); type the name as it should be shown", field, r)
		}
	}
	return nil
}

// invisible reports whether r shows nothing or changes how the text
// around it is shown: format characters (zero-width spaces and joiners,
// bidirectional embeddings, overrides and isolates, the byte order mark,
// soft hyphens), line and paragraph separators, and the blank letters
// that render as nothing.
func invisible(r rune) bool {
	switch r {
	case 0x115f, 0x1160, 0x3164, 0xffa0, 0x2800:
		return true
	}
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Variation_Selector, r)
}
