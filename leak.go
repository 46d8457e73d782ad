package keyward

import "time"

// Leak policies: what keyward does when a live secret of a tenant is
// reported leaked.
const (
	LeakPolicyDisable = "disable" // disable the key (or Auth Key, token) at once
	LeakPolicyNotify  = "notify"  // only record, audit and send key.leaked
)

// LeakPolicy is a tenant's leak policy.
type LeakPolicy struct {
	OnLeak string `json:"on_leak"`
}

// Validate checks the policy.
func (p *LeakPolicy) Validate() error {
	if p.OnLeak != LeakPolicyDisable && p.OnLeak != LeakPolicyNotify {
		return Invalid("on_leak", "on_leak must be \"disable\" or \"notify\", not %q", p.OnLeak)
	}
	return nil
}

// LeakReport is one token of a leak report, in the format of GitHub's
// secret scanning partner program.
type LeakReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// LeakAnswer answers one reported token: label is "true_positive" for a
// live keyward secret, else "false_positive". The token is named by the
// hex SHA-256 of its text, never the text.
type LeakAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Leak is a reported leak of one of a tenant's secrets, as recorded.
type Leak struct {
	ID         string    `json:"id"`
	ObjectType string    `json:"object_type"` // key, merchant_user, token
	ObjectID   string    `json:"object_id"`
	Kind       string    `json:"kind"` // the secret's kind, e.g. api_key
	Hint       string    `json:"hint"`
	Type       string    `json:"type"`
	URL        string    `json:"url"`
	Source     string    `json:"source"`
	Action     string    `json:"action"` // disabled, notified or none
	FoundAt    time.Time `json:"found_at"`
}
