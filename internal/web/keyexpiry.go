package web

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// dateLayout is how the key form's expiry date is typed.
const dateLayout = "2006-01-02"

// expiryDate is a key's expiry as the form shows it: its date in UTC, or
// "" for none.
func expiryDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(dateLayout)
}

// expiry reads the form's expiry date: the key is refused from 00:00 UTC
// on it; nil for none.
func (f keyForm) expiry() (*time.Time, error) {
	if f.Expires == "" {
		return nil, nil
	}
	t, err := time.Parse(dateLayout, f.Expires)
	if err != nil {
		return nil, keyward.Invalid("expires_at", "Give the expiry as a date such as 2027-12-31, or leave it empty for none.")
	}
	return &t, nil
}

// maxLifetime is the tenant's maximum key lifetime in days, for the key
// form's hint; 0 when there is none.
func (w *Web) maxLifetime(r *http.Request) (int, error) {
	p, err := w.svc.KeyPolicy(r.Context())
	if err != nil {
		return 0, err
	}
	return p.MaxLifetimeDays, nil
}
