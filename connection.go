package keyward

import "time"

// Outcome classifies the answer of an external system to a connection
// check. The set is closed: clients may switch on it.
type Outcome string

// The outcomes of verifying a connection.
const (
	OutcomeOK                  Outcome = "ok"
	OutcomeInvalidCredentials  Outcome = "invalid_credentials"
	OutcomeInsufficientScope   Outcome = "insufficient_scope"
	OutcomeRateLimited         Outcome = "rate_limited"
	OutcomeAccountLocked       Outcome = "account_locked_or_unpaid"
	OutcomeNotFoundOrWrongHost Outcome = "not_found_or_wrong_host"
	OutcomeUpstreamError       Outcome = "upstream_error"
	OutcomeNetworkError        Outcome = "network_error"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{OutcomeOK, OutcomeInvalidCredentials, OutcomeInsufficientScope, OutcomeRateLimited,
	OutcomeAccountLocked, OutcomeNotFoundOrWrongHost, OutcomeUpstreamError, OutcomeNetworkError}

// Verification is the result of checking a connection's credentials
// against the external system's read-only probe.
type Verification struct {
	Outcome Outcome `json:"outcome"`
	// Message is a sentence a shop owner understands.
	Message string `json:"message"`
	// Account names the account or shop the credentials belong to, when
	// the system says.
	Account string `json:"account,omitempty"`
	// Scopes are the scopes the credentials hold, when the system lists
	// them.
	Scopes []string `json:"scopes,omitempty"`
	// MissingScopes are the scopes the connection needs and the
	// credentials lack, for insufficient_scope.
	MissingScopes []string `json:"missing_scopes,omitempty"`
	// RetryAfter is the number of seconds to wait, for rate_limited.
	RetryAfter int `json:"retry_after,omitempty"`
	// HTTPStatus is the status of the system's answer that decided the
	// outcome; 0 when none came.
	HTTPStatus int       `json:"http_status,omitempty"`
	CheckedAt  time.Time `json:"checked_at"`
	// Cached is true when this result was kept from an earlier check
	// rather than asked of the system again.
	Cached bool `json:"cached"`
}

// OK reports whether the credentials passed.
func (v *Verification) OK() bool { return v != nil && v.Outcome == OutcomeOK }

// Connection states, as the list shows them.
const (
	// ConnectionVerified: the last check of the current credentials passed.
	ConnectionVerified = "verified"
	// ConnectionUnverified: saved without a passing check, on purpose.
	ConnectionUnverified = "unverified"
	// ConnectionFailed: the last check of the current credentials failed.
	ConnectionFailed = "failed"
)

// Connection holds the credentials of an external system (Shopify, Magento,
// Fortnox, another keyward …) for the stores it serves. Its secrets are
// kept sealed and never part of it: SecretsSet only names which are stored.
type Connection struct {
	ID       string      `json:"id"`
	TenantID string      `json:"-"`
	Type     string      `json:"type"`
	Name     string      `json:"name"`
	Stores   StoreAccess `json:"stores"`
	APIURL   string      `json:"api_url"`
	// Settings are the type's fields that are not secret, such as a
	// Shopify shop domain or a Magento store code.
	Settings map[string]string `json:"settings"`
	// SecretsSet names the secret fields that hold a value.
	SecretsSet []string `json:"secrets_set"`
	// RequiredScopes are the scopes the connection needs; a check that
	// finds one missing fails with insufficient_scope.
	RequiredScopes []string      `json:"required_scopes"`
	Enabled        bool          `json:"enabled"`
	State          string        `json:"state"`
	Verification   *Verification `json:"verification,omitempty"`
	// CredentialsChangedAt is when the API URL, a field or a secret last
	// changed; a check older than that says nothing of the current ones.
	CredentialsChangedAt time.Time `json:"credentials_changed_at"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
	Versioned
}

// ConnectionInput is the input for creating a connection, or for checking
// one before it is saved.
type ConnectionInput struct {
	Type        string       `json:"type"`
	Name        string       `json:"name"`
	Stores      *StoreAccess `json:"stores"`
	APIURL      string       `json:"api_url"`
	AccessToken string       `json:"access_token"`
	Secret      string       `json:"secret"`
	// Fields are the type's own fields, secret or not, by name.
	Fields         map[string]string `json:"fields"`
	RequiredScopes []string          `json:"required_scopes"`
	Enabled        *bool             `json:"enabled"`
	// SaveUnverified saves the connection although its check does not
	// pass (or without checking); the list shows it as unverified.
	SaveUnverified bool `json:"save_unverified"`
}

// ConnectionUpdate changes a connection; nil fields stay as they are, and
// so does a secret given blank.
type ConnectionUpdate struct {
	Name           *string           `json:"name"`
	Stores         *StoreAccess      `json:"stores"`
	APIURL         *string           `json:"api_url"`
	AccessToken    *string           `json:"access_token"`
	Secret         *string           `json:"secret"`
	Fields         map[string]string `json:"fields"`
	RequiredScopes *[]string         `json:"required_scopes"`
	Enabled        *bool             `json:"enabled"`
	SaveUnverified bool              `json:"save_unverified"`
	// ResendStoredSecrets confirms that stored secrets not given again go
	// to the connection's new destination (API URL, shop domain, token
	// endpoint …). Without it such a change is refused as
	// EDestinationChanged; a back-office session must also have confirmed
	// its password recently. The sending is written to the audit log.
	ResendStoredSecrets bool `json:"resend_stored_secrets"`
}

// Null applies a member a merge patch sets to null: no required scopes,
// or every store; the other members cannot be removed.
func (u *ConnectionUpdate) Null(member string) error {
	switch member {
	case "required_scopes":
		none := []string{}
		u.RequiredScopes = &none
	case "stores":
		u.Stores = &StoreAccess{Access: StoresAll}
	case "access_token", "secret":
		return Invalid(member, "a secret cannot be removed; leave %s out (or blank) to keep the stored one, or give a new one", member)
	default:
		return Invalid(member, "%s cannot be removed (null); leave it out to keep its value", member)
	}
	return nil
}
