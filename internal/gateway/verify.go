// Package gateway is keyward's data plane over HTTP: POST /v1/verify and
// the authenticating reverse proxy. Both answer from the replica alone.
package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/replica"
)

// VerifyRequest is the body of POST /v1/verify: a key and either a catalog
// method id or an HTTP request to match against the catalog.
type VerifyRequest struct {
	Key     string       `json:"key"`
	Method  string       `json:"method,omitempty"`
	Request *HTTPRequest `json:"request,omitempty"`
	// Store is the store the request acts on, when Request does not name
	// it where the catalog says.
	Store string `json:"store,omitempty"`
	// DryRun decides without taking a request from the key's and the
	// tenant's rate limits.
	DryRun bool `json:"dry_run,omitempty"`
	// ClientAddress is the IP address the request comes from, checked
	// against the key's address allowlist; a key with one is refused
	// (IP_NOT_ALLOWED) when it is left out.
	ClientAddress string `json:"client_address,omitempty"`
}

// HTTPRequest names a request of the platform's API, read exactly as the
// gateway reads it.
type HTTPRequest struct {
	Method string `json:"method"`
	// Path is the request target: the path and, optionally, "?" and the
	// query, percent-encoded as the client sends them.
	Path string `json:"path"`
	// Headers are the request's headers that matter to the decision, such
	// as the one naming the store.
	Headers map[string]string `json:"headers,omitempty"`
}

// VerifyResponse is the answer of POST /v1/verify.
type VerifyResponse struct {
	Valid       bool                 `json:"valid"`
	Code        string               `json:"code"`
	Message     string               `json:"message"`
	Method      string               `json:"method,omitempty"`
	KeyID       string               `json:"key_id,omitempty"`
	Tenant      string               `json:"tenant,omitempty"`
	DisplayName string               `json:"display_name,omitempty"`
	Permissions keyward.Permissions  `json:"permissions,omitempty"`
	Stores      *keyward.StoreAccess `json:"stores,omitempty"`
	Missing     *Missing             `json:"missing,omitempty"`
	// RetryAfter is the number of seconds after which a request would be
	// allowed again, for RATE_LIMITED.
	RetryAfter int `json:"retry_after,omitempty"`
	// RateLimit is the tighter of the key's and the tenant's limits, when
	// either has one.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Quota is the key's quota after the decision, when it has one and
	// the request got that far.
	Quota *QuotaState `json:"quota,omitempty"`
}

// RateLimit describes a rate limit's state after the decision.
type RateLimit struct {
	Limit     int `json:"limit"`     // requests per second
	Remaining int `json:"remaining"` // requests allowed right now
	Reset     int `json:"reset"`     // seconds until the bucket is full
}

// Missing names the permission a key lacks, so an integrator knows what to
// ask for.
type Missing struct {
	Resource string        `json:"resource"`
	Level    keyward.Level `json:"level"`
}

// maxVerifyBody bounds the body of POST /v1/verify: a key and one
// request's method, target and headers.
const maxVerifyBody = 64 << 10

// Verifier serves POST /v1/verify. It reads a request exactly as the
// gateway does and applies the same rate limits.
type Verifier struct {
	Replica *replica.Replica
	// Limiter is the gateway's rate limiter; nil enforces no limits.
	Limiter *ratelimit.Limiter
	// Quota is the gateway's quota counter; nil enforces no quotas.
	Quota *quota.Counter
	// Observer, when it has metrics, counts each decision by code and
	// tenant, as the gateway's are.
	Observer *Observer
}

// ServeHTTP answers one verify request.
func (v *Verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in VerifyRequest
	if err := httpx.DecodeMax(w, r, &in, maxVerifyBody); err != nil {
		httpx.Error(w, r, err)
		return
	}
	out, err := v.Decide(r.Context(), in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if v.Observer != nil && v.Observer.Metrics != nil {
		v.Observer.Metrics.Decisions.Inc(out.Tenant, out.Code)
	}
	status := http.StatusOK
	if out.Code == keyward.CodeUnavailable {
		// A stale replica must not be trusted: refuse, and tell the caller to retry.
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	httpx.JSON(w, status, out)
}

// Decide answers a verify request, reading the request exactly as the
// gateway does; the error is for a malformed verify request.
func (v *Verifier) Decide(ctx context.Context, in VerifyRequest) (VerifyResponse, error) {
	if in.Key == "" {
		return VerifyResponse{}, keyward.Invalid("key", "key is required")
	}
	cat := v.Replica.Catalog()
	var m *catalog.Method
	store := in.Store
	switch {
	case in.Method != "" && in.Request != nil:
		return VerifyResponse{}, keyward.Invalid("method", "give either method or request, not both")
	case in.Method != "":
		m, _ = cat.Method(in.Method)
	case in.Request != nil:
		u, err := url.ParseRequestURI(in.Request.Path)
		if err != nil || !strings.HasPrefix(in.Request.Path, "/") {
			return VerifyResponse{}, keyward.Invalid("request.path", "request.path must be a request target such as /api/v5/orders?store=main")
		}
		h := make(http.Header, len(in.Request.Headers))
		for name, val := range in.Request.Headers {
			h.Add(name, val)
		}
		rt, ok, ref := readRoute(cat, in.Request.Method, u, h)
		if ref == nil && ok && rt.store != "" && in.Store != "" && rt.store != in.Store {
			ref = ambiguousStore("The request names store " + strconv.Quote(rt.store) + " but store says " + strconv.Quote(in.Store) + ".")
		}
		if ref != nil {
			return VerifyResponse{Code: ref.code, Message: ref.detail}, nil
		}
		m = rt.m
		if rt.store != "" {
			store = rt.store
		}
	default:
		return VerifyResponse{}, keyward.Invalid("method", "give a catalog method id in method, or {\"method\",\"path\"} in request")
	}
	client, err := clientAddress(in.ClientAddress)
	if err != nil {
		return VerifyResponse{}, err
	}
	res := v.Replica.VerifyFrom(in.Key, m, store, client)
	var limit ratelimit.Result
	if res.Allowed() && v.Limiter != nil {
		limit = takeLimit(ctx, v.Limiter, &res, !in.DryRun)
		if !limit.Allowed {
			res = replica.Result{Code: keyward.CodeRateLimited, Cred: res.Cred, Tenant: res.Tenant}
		}
	}
	var qr quota.Result
	if res.Allowed() && res.Cred.Quota != nil && v.Quota != nil {
		qr = takeQuota(ctx, v.Quota, &res, !in.DryRun)
		if !qr.Allowed {
			res = replica.Result{Code: keyward.CodeQuotaExceeded, Cred: res.Cred, Tenant: res.Tenant}
		}
	}
	out := Response(&res, m)
	if limit.Limit > 0 {
		out.RateLimit = &RateLimit{Limit: limit.Limit, Remaining: limit.Remaining, Reset: ceilSeconds(limit.ResetAfter, 0)}
		if !limit.Allowed {
			out.RetryAfter = ceilSeconds(limit.RetryAfter, 1)
		}
	}
	if qr.Limit > 0 {
		q := res.Cred.Quota
		out.Quota = &QuotaState{Limit: qr.Limit, Period: q.Period, Remaining: qr.Remaining}
		if !qr.Reset.IsZero() {
			reset := qr.Reset.UTC()
			out.Quota.ResetAt = &reset
			if !qr.Allowed {
				out.RetryAfter = ceilSeconds(qr.ResetAfter, 1)
			}
		}
	}
	return out, nil
}

// Response builds the verify answer for a result.
func Response(res *replica.Result, m *catalog.Method) VerifyResponse {
	out := VerifyResponse{Valid: res.Allowed(), Code: res.Code, Message: Message(res, m)}
	if m != nil {
		out.Method = m.ID
	}
	if res.Found() && res.Code != keyward.CodeNotFound {
		out.KeyID = res.Cred.KeyID
		out.Tenant = res.Tenant.Domain
		out.DisplayName = res.DisplayName()
		if res.Allowed() {
			out.Permissions = res.Cred.Permissions
			out.Stores = res.Cred.Stores
		}
	}
	if res.Code == keyward.CodeInsufficientPermission {
		out.Missing = &Missing{Resource: res.Decision.Resource, Level: res.Decision.Level}
	}
	return out
}

// Message is the sentence a person reads for a result.
func Message(res *replica.Result, m *catalog.Method) string {
	switch res.Code {
	case keyward.CodeValid:
		return "The key may make this request."
	case keyward.CodeNotFound:
		return "The key is not valid: it is unknown or has been deleted."
	case keyward.CodeDisabled:
		return "The key is disabled. A tenant administrator can enable it under Settings > Integrations > API Management."
	case keyward.CodeExpired:
		return "The key or this secret has expired. Ask the tenant's administrator for a new one."
	case keyward.CodeLicenceInactive:
		return "The tenant's API licence is not active, so its keys are suspended until the licence is renewed."
	case keyward.CodeUnknownMethod:
		return "The request matches no method of the API catalog; see GET /api/v1/catalog."
	case keyward.CodeUnavailable:
		return "keyward cannot confirm keys right now because its database has been unreachable for too long; try again shortly."
	case keyward.CodeRateLimited:
		return "Too many requests for this key or tenant; slow down and retry after the time given."
	case keyward.CodeQuotaExceeded:
		return quotaMessage(res.Cred.Quota)
	}
	return res.Decision.Message()
}
