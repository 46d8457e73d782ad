// Package gateway is keyward's data plane over HTTP: POST /v1/verify and
// the authenticating reverse proxy. Both answer from the replica alone.
package gateway

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
)

// VerifyRequest is the body of POST /v1/verify: a key and either a catalog
// method id or an HTTP request to match against the catalog.
type VerifyRequest struct {
	Key     string       `json:"key"`
	Method  string       `json:"method,omitempty"`
	Request *HTTPRequest `json:"request,omitempty"`
	Store   string       `json:"store,omitempty"`
}

// HTTPRequest names a request of the platform's API.
type HTTPRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
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
}

// Missing names the permission a key lacks, so an integrator knows what to
// ask for.
type Missing struct {
	Resource string        `json:"resource"`
	Level    keyward.Level `json:"level"`
}

// Verifier serves POST /v1/verify.
type Verifier struct {
	Replica *replica.Replica
}

// ServeHTTP answers one verify request.
func (v *Verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in VerifyRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if in.Key == "" {
		httpx.Error(w, r, keyward.Invalid("key", "key is required"))
		return
	}
	cat := v.Replica.Catalog()
	var m *catalog.Method
	switch {
	case in.Method != "" && in.Request != nil:
		httpx.Error(w, r, keyward.Invalid("method", "give either method or request, not both"))
		return
	case in.Method != "":
		m, _ = cat.Method(in.Method)
	case in.Request != nil:
		var p catalog.Params
		m, p, _ = cat.Match(in.Request.Method, in.Request.Path)
		if m != nil && in.Store == "" && m.Store.In == catalog.StorePath {
			in.Store = p.Get(m.Store.Name)
		}
	default:
		httpx.Error(w, r, keyward.Invalid("method", "give a catalog method id in method, or {\"method\",\"path\"} in request"))
		return
	}
	res := v.Replica.Verify(in.Key, m, in.Store)
	status := http.StatusOK
	if res.Code == keyward.CodeUnavailable {
		// A stale replica must not be trusted: refuse, and tell the caller to retry.
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	httpx.JSON(w, status, Response(&res, m))
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
	}
	return res.Decision.Message()
}
