package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/replica"
)

// HeaderQuotaReset carries, on a QUOTA_EXCEEDED refusal of the gateway and
// of forward-auth, when the key's quota refills (RFC 3339, UTC); absent
// for a credit, which never refills.
const HeaderQuotaReset = "X-Keyward-Quota-Reset"

// QuotaState describes a key's quota after the decision, in the answer of
// POST /v1/verify.
type QuotaState struct {
	Limit     int64  `json:"limit"`
	Period    string `json:"period"`
	Remaining int64  `json:"remaining"`
	// ResetAt is when the budget refills; absent for a credit.
	ResetAt *time.Time `json:"reset_at,omitempty"`
}

// takeQuota counts the request under the key's quota, or with consume
// false only looks. Call it only for a credential with a quota.
func takeQuota(ctx context.Context, c *quota.Counter, res *replica.Result, consume bool) quota.Result {
	return c.Take(ctx, res.Cred.KeyID, res.Cred.Quota, consume)
}

// quotaRefusal is the refusal of a request whose key's quota is spent:
// its headers (Retry-After and HeaderQuotaReset when the quota refills)
// and the problem's details.
func quotaRefusal(q *keyward.Quota, r quota.Result) (http.Header, map[string]any) {
	h := http.Header{}
	details := map[string]any{"quota": q.String(), "limit": r.Limit, "period": q.Period}
	if !r.Reset.IsZero() {
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(r.ResetAfter, 1)))
		h.Set(HeaderQuotaReset, r.Reset.UTC().Format(time.RFC3339))
		details["reset_at"] = r.Reset.UTC().Format(time.RFC3339)
	}
	return h, details
}

// quotaMessage is the sentence a person reads for QUOTA_EXCEEDED.
func quotaMessage(q *keyward.Quota) string {
	if q == nil {
		return "This key's quota is spent."
	}
	n := keyward.GroupDigits(q.Limit)
	switch q.Period {
	case keyward.QuotaDay:
		return "This key has used its " + n + " requests for today (UTC); its quota refills at midnight UTC, given in reset_at."
	case keyward.QuotaMonth:
		return "This key has used its " + n + " requests for this month (UTC); its quota refills on the first of next month, given in reset_at."
	}
	return "This key has used its credit of " + n + " requests; it does not refill, and a tenant administrator can raise it under Settings > Integrations > API Management."
}

// applyQuota applies the key's quota, for a credential that has one; it
// answers 429 and returns false when the quota is spent.
func (p *Proxy) applyQuota(w http.ResponseWriter, r *http.Request, res *replica.Result) bool {
	if p.quota == nil {
		return true
	}
	qr := takeQuota(r.Context(), p.quota, res, true)
	if qr.Allowed {
		return true
	}
	h, details := quotaRefusal(res.Cred.Quota, qr)
	for name, v := range h {
		w.Header()[name] = v
	}
	p.problem(w, http.StatusTooManyRequests, keyward.CodeQuotaExceeded, quotaMessage(res.Cred.Quota), details)
	return false
}
