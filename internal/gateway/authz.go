package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/replica"
)

// Forward-auth paths, one per protocol a reverse proxy speaks.
const (
	// AuthzNginx answers nginx's auth_request, reading the original request
	// from X-Original-Method and X-Original-URI. nginx passes only 401 and
	// 403 on to its client, so every other refusal is answered 403 with
	// the real status in X-Keyward-Status and the problem in
	// X-Keyward-Problem for the configuration's error page to send.
	AuthzNginx = "/v1/authz/nginx"
	// AuthzHAProxy reads the original request as AuthzNginx does and
	// answers with the real status and problem, for the Lua action of the
	// documented HAProxy configuration to send on.
	AuthzHAProxy = "/v1/authz/haproxy"
	// AuthzForward answers Caddy's forward_auth and Traefik's forwardAuth,
	// reading X-Forwarded-Method, X-Forwarded-Uri and X-Forwarded-Host.
	AuthzForward = "/v1/authz/forward"
	// AuthzEnvoy is the path_prefix of Envoy's HTTP ext_authz service:
	// the original method and path follow it.
	AuthzEnvoy = "/v1/authz/envoy"
)

// Headers of a forward-auth answer, besides the identity headers.
const (
	// HeaderAuthzStatus carries, to nginx, the status a refusal stands for.
	HeaderAuthzStatus = "X-Keyward-Status"
	// HeaderAuthzProblem carries, to nginx, a refusal's problem+json on
	// one line.
	HeaderAuthzProblem = "X-Keyward-Problem"
	// HeaderRequestID is the request id the gateway and forward-auth send
	// upstream (as identity.HeaderRequestID) and return to the client.
	HeaderRequestID = "X-Request-Id"
	// envoyHeadersToRemove names, to Envoy's HTTP ext_authz filter, the
	// request headers to remove before forwarding.
	envoyHeadersToRemove = "X-Envoy-Auth-Headers-To-Remove"
)

// AuthzConfig configures an Authz.
type AuthzConfig struct {
	// Replica answers every decision.
	Replica *replica.Replica
	// Sources lists the credential headers to read, as for the gateway:
	// SourceHeader and SourceBearer. SourceQuery is not accepted: the
	// proxy would forward a key in the query to the upstream.
	Sources []string
	// IdentitySigner signs the identity headers; a node replaces its key
	// when the identity key is rotated. When nil, IdentityKey signs.
	IdentitySigner *identity.Signer
	// IdentityKey signs the identity headers when IdentitySigner is nil; at
	// least identity.MinKey bytes.
	IdentityKey []byte
	// Limiter enforces the keys' and licences' rate limits; nil enforces none.
	Limiter *ratelimit.Limiter
	// Logger receives the access log, as the gateway's; nil means slog.Default().
	Logger *slog.Logger
	// Observer, when set, counts decisions and requests and logs each.
	Observer *Observer
	// TrustedProxies are the networks of proxies (--trusted-proxies)
	// believed when they name the client: the reverse proxy asking, in
	// X-Forwarded-For or Forwarded, for address allowlists. A client
	// address from any other peer is ignored.
	TrustedProxies []netip.Prefix
	// Quota counts requests under the keys' quotas; nil enforces none.
	Quota *quota.Counter
}

// Authz answers forward-auth subrequests of reverse proxies (nginx, Caddy,
// Traefik, HAProxy, Envoy) with the gateway's decision: the same reading
// of the request, catalog match, store, rate limits and, where the request
// alone decides it, merchant ownership. An allowed request is answered 200
// with the signed identity headers for the proxy to pass upstream; a
// refused one with the gateway's status and problem+json.
//
// The proxy never sends keyward the body, so the identity signature of a
// forward-auth answer covers no body (Envoy's ext_authz may send it; then
// it does), and merchant rules that need the body or the upstream's answer
// (creating records, updating them) stay the gateway's.
type Authz struct {
	p   *Proxy
	obs *Observer
}

// authzPlaceholder stands for the upstream of the Proxy an Authz decides
// with; it never forwards.
var authzPlaceholder = &url.URL{Scheme: "http", Host: "forward-auth.invalid"}

// NewAuthz checks cfg and returns a forward-auth handler.
func NewAuthz(cfg AuthzConfig) (*Authz, error) {
	for _, s := range cfg.Sources {
		if s == SourceQuery {
			return nil, errors.New("gateway: forward-auth cannot read keys from the query: the proxy would pass them upstream; use header or bearer")
		}
	}
	sources := cfg.Sources
	if len(sources) == 0 {
		sources = []string{SourceHeader, SourceBearer}
	}
	p, err := NewProxy(ProxyConfig{Upstream: authzPlaceholder, Replica: cfg.Replica, Sources: sources,
		IdentitySigner: cfg.IdentitySigner, IdentityKey: cfg.IdentityKey, Limiter: cfg.Limiter, Logger: cfg.Logger, Quota: cfg.Quota,
		TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return nil, err
	}
	return &Authz{p: p, obs: cfg.Observer}, nil
}

// ServeHTTP answers one forward-auth subrequest.
func (a *Authz) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var method, target string
	flavor := r.URL.Path
	switch {
	case flavor == AuthzNginx || flavor == AuthzHAProxy:
		method, target = r.Header.Get("X-Original-Method"), r.Header.Get("X-Original-Uri")
	case flavor == AuthzForward:
		method, target = r.Header.Get("X-Forwarded-Method"), r.Header.Get("X-Forwarded-Uri")
	case strings.HasPrefix(flavor, AuthzEnvoy+"/"):
		flavor = AuthzEnvoy
		method = r.Method
		target = strings.TrimPrefix(r.RequestURI, AuthzEnvoy)
	default:
		httpx.WriteProblem(w, problemFor(http.StatusNotFound, string(keyward.ENotFound),
			"No such forward-auth endpoint: use "+AuthzNginx+", "+AuthzHAProxy+", "+AuthzForward+" or "+AuthzEnvoy+"/….", nil))
		return
	}
	x := a.obs.begin(r.Context(), r.Header, "authz")
	ans := a.DecideFrom(x.ctx, method, target, r.Header, nil, a.p.front.Client(r))
	if flavor == AuthzEnvoy && ans.Allowed {
		if names := credentialHeaders(r.Header); len(names) > 0 {
			w.Header().Set(envoyHeadersToRemove, strings.Join(names, ","))
		}
	}
	a.obs.end(x, method, &ans)
	ans.write(w, flavor == AuthzNginx)
}

// AuthzAnswer is a forward-auth decision: an allowed request's identity
// headers, or a refusal's status and problem.
type AuthzAnswer struct {
	Allowed bool
	// Status is 200 for an allowed request, else the gateway's status.
	Status int
	// Header holds the identity headers of an allowed request, and the
	// RateLimit, Retry-After and WWW-Authenticate headers of either.
	Header  http.Header
	Problem *httpx.Problem
	// What the decision learned, for the access log and metrics.
	Code, Tenant, KeyID, Merchant, Route, Store, RequestID string
}

func (ans *AuthzAnswer) write(w http.ResponseWriter, nginx bool) {
	h := w.Header()
	for name, vals := range ans.Header {
		h[name] = vals
	}
	if ans.RequestID != "" {
		h.Set(HeaderRequestID, ans.RequestID)
	}
	if ans.Allowed {
		w.WriteHeader(http.StatusOK)
		return
	}
	if nginx {
		// auth_request turns any status but 401 and 403 into a 500: send
		// the real one, and the problem, in headers for the error page.
		b, _ := json.Marshal(ans.Problem)
		h.Set(HeaderAuthzStatus, strconv.Itoa(ans.Status))
		h.Set(HeaderAuthzProblem, string(b))
		if ans.Status != http.StatusUnauthorized {
			p := *ans.Problem
			p.Status = http.StatusForbidden
			httpx.WriteProblem(w, p)
			return
		}
	}
	httpx.WriteProblem(w, *ans.Problem)
}

// Decide decides a request given by its method, request target (path and
// query, as the client sent them), headers and, when the proxy sends it,
// body (nil when not sent). It reads the request as the gateway does. The
// client address is not known: a credential with an address allowlist is
// refused; DecideFrom knows it.
func (a *Authz) Decide(ctx context.Context, method, target string, h http.Header, body []byte) AuthzAnswer {
	return a.DecideFrom(ctx, method, target, h, body, netip.Addr{})
}

// DecideFrom is Decide for a request from the client address client (the
// zero Addr when unknown).
func (a *Authz) DecideFrom(ctx context.Context, method, target string, h http.Header, body []byte, client netip.Addr) AuthzAnswer {
	p := a.p
	refuse := func(status int, code, detail string, details map[string]any) AuthzAnswer {
		pr := problemFor(status, code, detail, details)
		return AuthzAnswer{Status: status, Problem: &pr, Code: code}
	}
	if method == "" || target == "" || target[0] != '/' {
		return refuse(http.StatusBadRequest, keyward.CodeInvalidRequest,
			"The forward-auth request does not name the original request: configure the proxy to send its method and URI.", nil)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return refuse(http.StatusBadRequest, keyward.CodeInvalidRequest, "The request target is not a valid URI.", nil)
	}
	if name := clientIdentityHeader(h); name != "" {
		return refuse(http.StatusBadRequest, keyward.CodeInvalidRequest,
			"The request carries "+name+": X-Keyward-* headers are keyward's own, and a proxy may pass a client's on to the upstream; send none.", nil)
	}
	if hasQueryKey(u.RawQuery) {
		return refuse(http.StatusBadRequest, keyward.CodeInvalidRequest,
			"Send the key in a header (X-API-Key or Authorization: Bearer), not in the query: through this proxy the query reaches the upstream unchanged.", nil)
	}
	rt, ok, ref := readRoute(p.cat, method, u, h)
	if ref != nil {
		return refuse(ref.status, ref.code, ref.detail, nil)
	}
	if !ok {
		res := replica.Result{Code: keyward.CodeUnknownMethod}
		return refuse(http.StatusNotFound, keyward.CodeUnknownMethod, Message(&res, nil), nil)
	}
	if body != nil {
		if ref := checkBodyOverride(&rt, h.Get("Content-Type"), body, p.cat.Options().MethodOverride); ref != nil {
			return refuse(ref.status, ref.code, ref.detail, nil)
		}
	}
	m := rt.m
	if m.Keyward {
		return refuse(http.StatusNotFound, keyward.CodeUnknownMethod, "POST "+m.Path+" is answered by keyward itself, not by the upstream: send it to keyward.", nil)
	}
	var res replica.Result
	creds := &http.Request{Header: h}
	if account, mkey, ok := merchantCredential(creds); ok {
		res = p.rep.VerifyMerchantFrom(account, mkey, m, rt.store, client)
	} else {
		key := p.credential(creds)
		if key == "" {
			ans := refuse(http.StatusUnauthorized, string(keyward.EUnauthenticated), p.noKeyDetail,
				map[string]any{"verify_code": keyward.CodeNotFound})
			ans.Header = http.Header{"Www-Authenticate": {p.wwwAuth}}
			ans.Route = m.ID
			return ans
		}
		res = p.rep.VerifyFrom(key, m, rt.store, client)
	}
	learned := func(ans AuthzAnswer) AuthzAnswer {
		ans.Route, ans.Store = m.ID, rt.store
		if res.Found() && res.Code != keyward.CodeNotFound {
			ans.Tenant, ans.KeyID, ans.Merchant = res.Tenant.Domain, res.Cred.KeyID, res.Cred.MerchantID()
		}
		return ans
	}
	if res.Code != keyward.CodeValid {
		status, details := refusalStatus(&res)
		ans := refuse(status, res.Code, Message(&res, m), details)
		switch status {
		case http.StatusUnauthorized:
			ans.Header = http.Header{"Www-Authenticate": {p.wwwAuth}}
		case http.StatusServiceUnavailable:
			ans.Header = http.Header{"Retry-After": {"5"}}
		}
		return learned(ans)
	}
	if mid := res.Cred.MerchantID(); mid != "" {
		if ans, refused := a.merchantRule(&res, &rt, u.RawQuery, method); refused {
			return learned(ans)
		}
	}
	header := make(http.Header, 12)
	if p.limiter != nil {
		shown := takeLimit(ctx, p.limiter, &res, true)
		if shown.Limit > 0 {
			header.Set("Ratelimit-Limit", strconv.Itoa(shown.Limit))
			header.Set("Ratelimit-Remaining", strconv.Itoa(shown.Remaining))
			header.Set("Ratelimit-Reset", strconv.Itoa(ceilSeconds(shown.ResetAfter, 0)))
			if !shown.Allowed {
				header.Set("Retry-After", strconv.Itoa(ceilSeconds(shown.RetryAfter, 1)))
				rl := replica.Result{Code: keyward.CodeRateLimited}
				ans := refuse(http.StatusTooManyRequests, keyward.CodeRateLimited, Message(&rl, m), nil)
				ans.Header = header
				return learned(ans)
			}
		}
	}
	if res.Cred.Quota != nil && p.quota != nil {
		if qr := takeQuota(ctx, p.quota, &res, true); !qr.Allowed {
			h, details := quotaRefusal(res.Cred.Quota, qr)
			for name, v := range h {
				header[name] = v
			}
			ans := refuse(http.StatusTooManyRequests, keyward.CodeQuotaExceeded, quotaMessage(res.Cred.Quota), details)
			ans.Header = header
			return learned(ans)
		}
	}
	digest := ""
	if len(body) > 0 {
		digest = identity.BodyDigest(body)
	}
	path, query, _ := strings.Cut(target, "?")
	ts := p.timestamp()
	id := identity.Fields{
		Timestamp: ts, RequestID: identity.NewRequestID(), KeyID: res.Cred.KeyID, Tenant: res.Tenant.Domain,
		Stores: storesValue(&res.Cred), Merchant: res.Cred.MerchantID(), Method: m.ID, HTTPMethod: method,
		Path: path, RawQuery: query, ContentDigest: digest,
	}
	sig, kid := p.signer.Sign(&id)
	header[identity.HeaderKeyID] = []string{id.KeyID}
	header[identity.HeaderTenant] = []string{id.Tenant}
	header[identity.HeaderStores] = []string{id.Stores}
	header[identity.HeaderMethod] = []string{id.Method}
	header[identity.HeaderTimestamp] = []string{ts}
	header[identity.HeaderSignature] = []string{sig}
	header[identity.HeaderSignatureKid] = []string{kid}
	header[identity.HeaderRequestID] = []string{id.RequestID}
	if id.Merchant != "" {
		header[identity.HeaderMerchant] = []string{id.Merchant}
	}
	if digest != "" {
		header[identity.HeaderContentDigest] = []string{digest}
	}
	ans := AuthzAnswer{Allowed: true, Status: http.StatusOK, Header: header, Code: keyward.CodeValid, RequestID: id.RequestID}
	return learned(ans)
}

// merchantRule applies the merchant ownership rules that the request alone
// decides: a record must be the merchant's by the replica's owner table,
// and a list must already be filtered to the merchant. Creating and
// changing records need the body and the upstream's answer, so they are
// the gateway's alone.
func (a *Authz) merchantRule(res *replica.Result, rt *route, rawQuery, method string) (AuthzAnswer, bool) {
	m, mid := rt.m, res.Cred.MerchantID()
	refuse := func(status int, code, detail string) (AuthzAnswer, bool) {
		pr := problemFor(status, code, detail, nil)
		return AuthzAnswer{Status: status, Problem: &pr, Code: code}, true
	}
	gatewayOnly := "Merchant credentials may " + m.ID + " only through keyward's gateway, which sets and checks the record's owner; forward-auth cannot."
	switch m.Owner.Kind {
	case catalog.OwnerRecord:
		id := rt.params.Get(m.Owner.Param)
		if owner, ok := a.p.rep.OwnerOf(res.Tenant.ID, m.Resource, id); !ok || owner != mid {
			return refuse(http.StatusNotFound, string(keyward.ENotFound), "No such record.")
		}
		if method != http.MethodGet && method != http.MethodHead {
			return refuse(http.StatusForbidden, keyward.CodeMerchantMethodNotAllowed, gatewayOnly)
		}
		return AuthzAnswer{}, false
	case catalog.OwnerList:
		got, ref := queryStore(rawQuery, m.Owner.Filter)
		if ref != nil || got != mid {
			return refuse(http.StatusForbidden, keyward.CodeMerchantMethodNotAllowed,
				"Through forward-auth a merchant's list must name its own merchant: add "+m.Owner.Filter+"="+url.QueryEscape(mid)+" to the query, once.")
		}
		return AuthzAnswer{}, false
	case catalog.OwnerCreate:
		return refuse(http.StatusForbidden, keyward.CodeMerchantMethodNotAllowed, gatewayOnly)
	}
	return refuse(http.StatusForbidden, keyward.CodeMethodNotAllowed, "This method is not available to merchant credentials.")
}

// clientIdentityHeader returns the name of an X-Keyward-* header (in any
// case, "_" or "." for "-") of the client's request, or "". Forward-auth refuses
// such requests rather than relying on each proxy's configuration to
// remove every name with the prefix, which nginx, for one, cannot.
func clientIdentityHeader(h http.Header) string {
	for name := range h {
		if hasPrefixHeader(name, identityPrefix) {
			return name
		}
	}
	return ""
}

// credentialHeaders names the headers of h that the gateway would strip
// before forwarding: those carrying a keyward credential, identity headers
// the client sent and a client's Content-Digest.
func credentialHeaders(h http.Header) []string {
	c := h.Clone()
	stripCredentials(c)
	var out []string
	for name := range h {
		if _, kept := c[name]; !kept {
			out = append(out, strings.ToLower(name))
		}
	}
	return out
}
