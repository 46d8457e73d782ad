package keyward

import (
	"net/url"
	"time"
)

// WebhookEndpoint is a URL, chosen by an administrator for a store, that
// receives signed events. Only administrators holding the Webhooks feature
// manage them; merchants never can.
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"-"`
	StoreID     string    `json:"store_id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Enabled     bool      `json:"enabled"`
	SecretHint  string    `json:"secret_hint"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Secret is the signing secret, set only in the answer that creates it.
	Secret string `json:"secret,omitempty"`
}

// WebhookCreate is the input for adding a webhook endpoint.
type WebhookCreate struct {
	Store       string   `json:"store"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled"`
}

// WebhookUpdate changes a webhook endpoint; nil fields stay as they are.
type WebhookUpdate struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// ValidWebhookURL checks that a webhook URL is an absolute HTTPS URL
// without credentials.
func ValidWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(s) > 2000 {
		return Invalid("url", "url must be an absolute https:// URL without credentials, e.g. \"https://example.com/hooks/keyward\"")
	}
	return nil
}
