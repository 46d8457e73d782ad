package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/tracing"
)

// Credential sources: where the proxy looks for the API key.
const (
	SourceHeader = "header" // the X-API-Key header
	SourceBearer = "bearer" // Authorization: Bearer <key>
	SourceQuery  = "query"  // the apiKey query parameter
)

// Where each source carries the key.
const (
	HeaderAPIKey = "X-Api-Key" // X-API-Key in canonical form
	QueryAPIKey  = "apiKey"
)

// DefaultSources are the sources used when ProxyConfig.Sources is empty,
// in the order they are tried.
var DefaultSources = []string{SourceHeader, SourceBearer, SourceQuery}

const (
	problemType    = "https://keyward.dev/problems/"
	codeBadGateway = "bad_gateway"
	identityPrefix = "x-keyward-"
)

// ProxyConfig configures a Proxy.
type ProxyConfig struct {
	// Upstream is the platform API the proxy forwards to, such as
	// http://10.0.0.5:8080; its path, if any, is prefixed to every request.
	Upstream *url.URL
	// Replica answers every decision.
	Replica *replica.Replica
	// Sources lists the credential sources to read, tried in order: any of
	// SourceHeader, SourceBearer and SourceQuery. Empty means DefaultSources.
	Sources []string
	// PassUnknown forwards requests that match no catalog method, without
	// identity headers, instead of refusing them. Turn it on only when the
	// upstream routes paths and methods exactly as the catalog does: a
	// request it reads differently reaches it unchecked.
	PassUnknown bool
	// IdentitySigner signs the identity headers; a node replaces its key
	// when the identity key is rotated. When nil, IdentityKey signs.
	IdentitySigner *identity.Signer
	// IdentityKey signs the identity headers when IdentitySigner is nil; at
	// least identity.MinKey bytes.
	IdentityKey []byte
	// Limiter enforces the keys' and licences' rate limits; nil enforces none.
	Limiter *ratelimit.Limiter
	// Transport carries requests upstream; nil means a clone of
	// http.DefaultTransport keeping up to 1024 idle connections.
	Transport http.RoundTripper
	// Logger receives upstream failures; nil means slog.Default().
	Logger *slog.Logger
	// MaxBody is the largest request body the proxy forwards, in bytes;
	// larger ones are answered 413. Zero means DefaultMaxBody.
	MaxBody int64
	// Events answers the catalog's events.send method (POST /v1/events),
	// which is keyward's own and never forwarded; nil answers 404.
	Events http.Handler
	// Observer, when set, counts, logs and traces each request.
	Observer *Observer
	// TrustedProxies are the networks of proxies (--trusted-proxies)
	// whose X-Forwarded-For or Forwarded entries name the client, for
	// address allowlists and the X-Forwarded-For sent upstream; empty:
	// the client is the peer.
	TrustedProxies []netip.Prefix
	// Quota counts requests under the keys' quotas; nil enforces none.
	Quota *quota.Counter
}

// DefaultMaxBody is the largest request body forwarded when
// ProxyConfig.MaxBody is zero: what an identity.Verifier reads by default.
const DefaultMaxBody = identity.DefaultMaxBody

type source uint8

const (
	srcHeader source = iota
	srcBearer
	srcQuery
)

// Proxy is the authenticating reverse proxy: it reads the API key of each
// request, decides from the replica whether the key may call the catalog
// method the request matches, and forwards allowed requests upstream with
// signed identity headers in place of the key. It is safe for concurrent
// use.
//
// The key never reaches the upstream: X-API-Key, the apiKey query parameter
// and any Authorization: Bearer holding a keyward API key are removed from
// every forwarded request, whichever sources are enabled.
type Proxy struct {
	events      http.Handler
	upstream    *url.URL
	rep         *replica.Replica
	cat         *catalog.Catalog
	sources     []source
	passUnknown bool
	signer      *identity.Signer
	limiter     *ratelimit.Limiter
	maxBody     int64
	transport   http.RoundTripper
	log         *slog.Logger
	obs         *Observer
	quota       *quota.Counter

	// readers maps each owner-scoped write method to the method reading
	// the same record, which confirms a record's owner before a write.
	readers map[*catalog.Method]*catalog.Method

	noKeyDetail string
	wwwAuth     string
	// wwwAuthValue is wwwAuth as a header value, shared by every 401.
	wwwAuthValue []string
	forwards     sync.Pool // *forward
	bufs         bufferPool
	stamp        atomic.Pointer[stamp]
	// refusals counts the problems answered, logged as a summary.
	refusals *refusals
	// canned are the encoded bodies of the 401s that never vary, by code.
	canned map[string]cannedProblem
	// front finds the client address behind trusted proxies.
	front httpx.Front
}

// cannedProblem is a problem encoded in advance: what a flood of unknown
// keys is answered with, without running the JSON encoder each time.
type cannedProblem struct {
	detail      string
	withDetails bool
	body        []byte
}

// NewProxy checks cfg and returns a proxy.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	u := cfg.Upstream
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("gateway: the upstream must be an absolute http or https URL such as http://10.0.0.5:8080")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("gateway: the upstream URL must have no query or fragment")
	}
	if cfg.Replica == nil {
		return nil, errors.New("gateway: a replica is required")
	}
	signer := cfg.IdentitySigner
	if signer == nil {
		var err error
		if signer, err = identity.NewSigner(cfg.IdentityKey); err != nil {
			return nil, fmt.Errorf("gateway: the identity key must be at least %d bytes; generate one with `openssl rand -hex 32`", identity.MinKey)
		}
	}
	names := cfg.Sources
	if len(names) == 0 {
		names = DefaultSources
	}
	p := &Proxy{
		upstream: u, rep: cfg.Replica, cat: cfg.Replica.Catalog(), passUnknown: cfg.PassUnknown,
		signer: signer, limiter: cfg.Limiter, quota: cfg.Quota, transport: cfg.Transport, log: cfg.Logger,
		maxBody: cfg.MaxBody, obs: cfg.Observer, events: cfg.Events,
		front: httpx.Front{TrustedProxies: cfg.TrustedProxies},
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBody
	}
	p.readers = map[*catalog.Method]*catalog.Method{}
	for _, w := range p.cat.Methods() {
		if w.Owner.Kind != catalog.OwnerRecord || w.HTTPMethod == http.MethodGet {
			continue
		}
		for _, g := range p.cat.Methods() {
			if g.HTTPMethod == http.MethodGet && g.Path == w.Path && g.Owner.Kind == catalog.OwnerRecord && g.Resource == w.Resource {
				p.readers[w] = g
			}
		}
	}
	var ways []string
	for _, n := range names {
		var s source
		var way string
		switch n {
		case SourceHeader:
			s, way = srcHeader, "X-API-Key: <key>"
		case SourceBearer:
			s, way = srcBearer, "Authorization: Bearer <key>"
		case SourceQuery:
			s, way = srcQuery, "the query parameter apiKey=<key>"
		default:
			return nil, fmt.Errorf("gateway: unknown credential source %q; use %s, %s or %s", n, SourceHeader, SourceBearer, SourceQuery)
		}
		for _, have := range p.sources {
			if have == s {
				return nil, fmt.Errorf("gateway: credential source %q given twice", n)
			}
		}
		p.sources = append(p.sources, s)
		ways = append(ways, way)
	}
	p.noKeyDetail = "No API key: send " + joinOr(ways) + "."
	p.canned = map[string]cannedProblem{}
	for _, code := range []string{keyward.CodeNotFound, keyward.CodeDisabled, keyward.CodeExpired} {
		detail := Message(&replica.Result{Code: code}, nil)
		p.canned[code] = cannedProblem{detail: detail, body: encodeProblem(problemFor(http.StatusUnauthorized, code, detail, nil))}
	}
	noKey := string(keyward.EUnauthenticated)
	p.canned[noKey] = cannedProblem{detail: p.noKeyDetail, withDetails: true, body: encodeProblem(
		problemFor(http.StatusUnauthorized, noKey, p.noKeyDetail, map[string]any{"verify_code": keyward.CodeNotFound}))}
	p.wwwAuth = `APIKey realm="keyward"`
	for _, s := range p.sources {
		if s == srcBearer {
			p.wwwAuth = `Bearer realm="keyward"`
		}
	}
	p.wwwAuthValue = []string{p.wwwAuth}
	if p.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 1024
		p.transport = t
	}
	if p.obs != nil && p.obs.Metrics != nil {
		p.transport = timedTransport{next: p.transport, seconds: p.obs.Metrics.Upstream}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.refusals = newRefusals(p.log, RefusalSummaryEvery, time.Now)
	errLog := slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)
	p.forwards.New = func() any {
		f := &forward{p: p}
		f.rp = httputil.ReverseProxy{
			Rewrite: f.rewrite, ModifyResponse: f.modifyResponse, Transport: p.transport, BufferPool: &p.bufs,
			ErrorHandler: p.badGateway, ErrorLog: errLog,
		}
		return f
	}
	return p, nil
}

func joinOr(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// ServeHTTP authenticates and forwards one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.obs == nil {
		p.serve(w, r)
		return
	}
	x := p.obs.begin(r.Context(), r.Header, "gateway")
	x.ResponseWriter = w
	if x.span != nil {
		r = r.WithContext(x.ctx)
	}
	p.serve(x, r)
	p.obs.finish(x, r.Method, p.obs.gatewayMetrics())
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	rt, ok, ref := readRoute(p.cat, r.Method, r.URL, r.Header)
	if ref != nil {
		p.answer(w, ref)
		return
	}
	if !ok {
		if p.passUnknown {
			if r.Header["Upgrade"] != nil || headerHasToken(r.Header["Connection"], "upgrade") {
				p.problem(w, http.StatusBadRequest, keyward.CodeInvalidRequest,
					"Connection upgrades are accepted only for catalog methods that allow them.", nil)
				return
			}
			p.forward(w, r, nil, nil, nil, "")
			return
		}
		res := replica.Result{Code: keyward.CodeUnknownMethod}
		p.problem(w, http.StatusNotFound, keyward.CodeUnknownMethod, Message(&res, nil), nil)
		return
	}
	m := rt.m
	if m.Keyward {
		// keyward answers this method itself; it is never forwarded.
		if p.events == nil {
			p.problem(w, http.StatusNotFound, keyward.CodeUnknownMethod, "Events are sent to keyward's API listener: POST /v1/events.", nil)
			return
		}
		p.events.ServeHTTP(w, r)
		return
	}
	var res replica.Result
	if account, mkey, ok := merchantCredential(r); ok {
		res = p.rep.VerifyMerchantFrom(account, mkey, m, rt.store, p.front.Client(r))
	} else {
		key := p.credential(r)
		if key == "" {
			w.Header()["Www-Authenticate"] = p.wwwAuthValue
			p.problem(w, http.StatusUnauthorized, string(keyward.EUnauthenticated), p.noKeyDetail,
				map[string]any{"verify_code": keyward.CodeNotFound})
			return
		}
		res = p.rep.VerifyFrom(key, m, rt.store, p.front.Client(r))
	}
	if x, ok := w.(*exchange); ok {
		x.learn(&res, &rt)
	}
	if res.Code != keyward.CodeValid {
		p.refuse(w, &res, m)
		return
	}
	var own *ownership
	if res.Cred.Merchant != nil {
		var ok bool
		if own, ok = p.owned(w, &res, m, rt.params); !ok {
			return
		}
	} else if m.Owner.Kind == catalog.OwnerCreate || m.Owner.Kind == catalog.OwnerRecord {
		// Answers to API keys teach the gateway who owns a record too.
		own = &ownership{kind: m.Owner.Kind, recordID: rt.params.Get(m.Owner.Param)}
	}
	if p.limiter != nil && !p.limit(w, r, &res) {
		return
	}
	if res.Cred.Quota != nil && !p.applyQuota(w, r, &res) {
		return
	}
	digest, ok := p.body(w, r, &rt, &res, own)
	if !ok {
		return
	}
	if own != nil && own.merchantID != "" && own.kind == catalog.OwnerRecord && r.Method != http.MethodGet && r.Method != http.MethodHead &&
		!p.confirmOwner(w, r, &res, &rt, own) {
		return
	}
	if rt.upgrade != "" {
		p.log.Info("gateway: connection upgrade allowed", "method", m.ID, "key_id", res.Cred.KeyID, "protocol", rt.upgrade)
	}
	p.forward(w, r, &res, m, own, digest)
}

// body reads the request body, at most the proxy's bound, applies a
// merchant's ownership to it and returns its Content-Digest ("" when the
// body is empty). It answers and returns false when the request must not
// go upstream.
func (p *Proxy) body(w http.ResponseWriter, r *http.Request, rt *route, res *replica.Result, own *ownership) (string, bool) {
	var b []byte
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > p.maxBody {
			p.tooLarge(w)
			return "", false
		}
		var err error
		b, err = io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
		r.Body.Close()
		if err != nil {
			detail := "The request body could not be read."
			if errors.Is(err, os.ErrDeadlineExceeded) {
				detail = "The request body could not be read in time; send the whole request within the read timeout."
			}
			p.problem(w, http.StatusBadRequest, string(keyward.EInvalid), detail, nil)
			return "", false
		}
		if int64(len(b)) > p.maxBody {
			p.tooLarge(w)
			return "", false
		}
	}
	if ref := checkBodyOverride(rt, r.Header.Get("Content-Type"), b, p.cat.Options().MethodOverride); ref != nil {
		p.answer(w, ref)
		return "", false
	}
	if own != nil && own.merchantID != "" {
		scoped, ref := p.scopeBody(b, res.Tenant, rt.m, own)
		if ref != nil {
			p.answer(w, ref)
			return "", false
		}
		if !bytes.Equal(scoped, b) {
			b = scoped
			r.Header.Set("Content-Type", "application/json")
			r.Header.Del("Content-Encoding")
		}
	}
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	if len(b) == 0 {
		r.Body = http.NoBody
		return "", true
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return identity.BodyDigest(b), true
}

func (p *Proxy) tooLarge(w http.ResponseWriter) {
	p.problem(w, http.StatusRequestEntityTooLarge, string(keyward.ETooLarge),
		"The request body is larger than "+strconv.FormatInt(p.maxBody, 10)+" bytes.", nil)
}

// credential returns the key from the first enabled source that has one.
func (p *Proxy) credential(r *http.Request) string {
	for _, s := range p.sources {
		var k string
		switch s {
		case srcHeader:
			if v := r.Header[HeaderAPIKey]; len(v) > 0 {
				k = strings.TrimSpace(v[0])
			}
		case srcBearer:
			k = httpx.BearerToken(r)
		case srcQuery:
			k = queryValue(r.URL.RawQuery, QueryAPIKey)
		}
		if k != "" {
			return k
		}
	}
	return ""
}

// refuse answers a decision other than VALID.
func (p *Proxy) refuse(w http.ResponseWriter, res *replica.Result, m *catalog.Method) {
	status, details := refusalStatus(res)
	switch status {
	case http.StatusUnauthorized:
		w.Header()["Www-Authenticate"] = p.wwwAuthValue
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	p.problem(w, status, res.Code, Message(res, m), details)
}

// refusalStatus is the HTTP status, and the problem's extra members, of a
// decision other than VALID: the gateway's and forward-auth's alike.
func refusalStatus(res *replica.Result) (int, map[string]any) {
	switch res.Code {
	case keyward.CodeNotFound, keyward.CodeDisabled, keyward.CodeExpired:
		return http.StatusUnauthorized, nil
	case keyward.CodeUnknownMethod:
		return http.StatusNotFound, nil
	case keyward.CodeUnavailable:
		return http.StatusServiceUnavailable, nil
	case keyward.CodeRateLimited, keyward.CodeQuotaExceeded:
		return http.StatusTooManyRequests, nil
	case keyward.CodeInsufficientPermission:
		return http.StatusForbidden, map[string]any{"missing": Missing{Resource: res.Decision.Resource, Level: res.Decision.Level}}
	case keyward.CodeIPNotAllowed:
		return http.StatusForbidden, addressDetails(res)
	}
	return http.StatusForbidden, nil
}

func (p *Proxy) problem(w http.ResponseWriter, status int, code, detail string, details map[string]any) {
	p.refusals.note(code)
	id := identity.NewRequestID()
	w.Header()[HeaderRequestID] = []string{id}
	if x, ok := w.(*exchange); ok {
		x.code, x.requestID = code, id
	}
	if c, ok := p.canned[code]; ok && status == http.StatusUnauthorized && c.detail == detail && c.withDetails == (details != nil) {
		h := w.Header()
		h["Content-Type"], h["Cache-Control"] = problemContentType, noStore
		w.WriteHeader(status)
		w.Write(c.body)
		return
	}
	httpx.WriteProblem(w, problemFor(status, code, detail, details))
}

// The header values of a problem, shared by every canned one.
var (
	problemContentType = []string{"application/problem+json"}
	noStore            = []string{"no-store"}
)

// encodeProblem encodes a problem as httpx.WriteProblem writes it.
func encodeProblem(pr httpx.Problem) []byte {
	w := httptest.NewRecorder()
	httpx.WriteProblem(w, pr)
	return w.Body.Bytes()
}

// problemFor is the problem details of a refusal by the gateway or
// forward-auth.
func problemFor(status int, code, detail string, details map[string]any) httpx.Problem {
	typ, title := problemType+strings.ToLower(code), http.StatusText(status)
	if status == http.StatusUnauthorized {
		// A credential missing, unknown, deactivated or expired is one
		// problem, as on the admin API; the code says which.
		typ, title = httpx.ProblemType(keyward.EUnauthenticated), httpx.Title(keyward.EUnauthenticated)
	}
	return httpx.Problem{Type: typ, Title: title, Status: status, Detail: detail, Code: code, Details: details}
}

// limit applies the key's and the tenant's rate limits and writes the
// RateLimit headers of the tighter one; it answers 429 and returns false
// when either is exhausted.
func (p *Proxy) limit(w http.ResponseWriter, r *http.Request, res *replica.Result) bool {
	shown := takeLimit(r.Context(), p.limiter, res, true)
	if shown.Limit == 0 {
		return true
	}
	retry := 0
	if !shown.Allowed {
		retry = ceilSeconds(shown.RetryAfter, 1)
	}
	v := formatInts([4]int{shown.Limit, shown.Remaining, ceilSeconds(shown.ResetAfter, 0), retry})
	h := w.Header()
	h["Ratelimit-Limit"], h["Ratelimit-Remaining"], h["Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if shown.Allowed {
		return true
	}
	h["Retry-After"] = v[3:4:4]
	p.refuse(w, &replica.Result{Code: keyward.CodeRateLimited}, nil)
	return false
}

// takeLimit takes one request from the key's and the tenant's rate limits,
// or with consume false only looks, and returns the tighter; Limit is 0
// when neither has one.
func takeLimit(ctx context.Context, l *ratelimit.Limiter, res *replica.Result, consume bool) ratelimit.Result {
	var shown ratelimit.Result
	if n := res.Cred.RateLimit; n > 0 {
		shown = l.Take(ctx, "k:"+res.Cred.KeyID, n, consume)
	}
	if n := res.Tenant.Licence.RateLimit; n > 0 && (shown.Limit == 0 || shown.Allowed) {
		t := l.Take(ctx, "t:"+res.Tenant.ID, n, consume)
		if shown.Limit == 0 || !t.Allowed || t.Remaining < shown.Remaining {
			shown = t
		}
	}
	if shown.Limit == 0 {
		shown.Allowed = true
	}
	return shown
}

// formatInts writes the numbers in decimal as substrings of one string,
// which saves an allocation per number.
func formatInts(n [4]int) []string {
	var buf [80]byte
	var ends [len(n)]int
	b := buf[:0]
	for i, x := range n {
		b = strconv.AppendInt(b, int64(x), 10)
		ends[i] = len(b)
	}
	all := string(b)
	out := make([]string, len(n))
	start := 0
	for i := range n {
		out[i], start = all[start:ends[i]], ends[i]
	}
	return out
}

func ceilSeconds(d time.Duration, least int) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, least)
}

// forward is the per-request state of one forwarded request; pooled, with
// its ReverseProxy, so forwarding allocates little of its own.
type forward struct {
	rp httputil.ReverseProxy
	p  *Proxy
	// The allowed credential's key id, stores and merchant ("" for an API
	// key), and its tenant; ten is nil for a request passed unchecked.
	keyID, stores, merchantID string
	ten                       *replica.Tenant
	// contentDigest is the Content-Digest of the request body, "" when the
	// request has none.
	contentDigest string
	m             *catalog.Method
	own           *ownership
	// w is the client's response writer, given the request id.
	w http.ResponseWriter
}

// forward proxies r, whose body has the Content-Digest digest; res is nil
// for a request passed unchecked.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, res *replica.Result, m *catalog.Method, own *ownership, digest string) {
	f := p.forwards.Get().(*forward)
	if res != nil {
		f.keyID, f.stores, f.merchantID, f.ten = res.Cred.KeyID, storesValue(&res.Cred), res.Cred.MerchantID(), res.Tenant
	}
	f.m, f.own, f.contentDigest, f.w = m, own, digest, w
	if r.Header["Upgrade"] != nil && headerHasToken(r.Header["Connection"], "upgrade") {
		f.rp.ServeHTTP(w, r)
	} else {
		f.relay(w, r)
	}
	f.keyID, f.stores, f.merchantID, f.contentDigest, f.ten, f.m, f.own, f.w = "", "", "", "", nil, nil, nil, nil
	p.forwards.Put(f)
}

// modifyResponse keeps record ownership in step with the upstream's
// answers about owner-scoped records.
func (f *forward) modifyResponse(res *http.Response) error {
	if f.own == nil || f.own.kind == "" {
		return nil
	}
	return f.checkOwner(res)
}

// headerValues backs every header value the gateway sets on a forwarded
// request, so that they cost one allocation; the v* constants name its
// slots.
type headerValues [15]string

const (
	vForwardedFor = iota
	vForwardedHost
	vForwardedProto
	vKeyID
	vTenant
	vStores
	vMethod
	vTimestamp
	vSignature
	vRequestID
	vMerchant
	vContentDigest
	vKid
	vUserAgent
	vTE
)

// one returns slot i of v as a header value.
func (v *headerValues) one(i int) []string { return v[i : i+1 : i+1] }

// rewrite builds the outbound request of a connection upgrade, which
// ReverseProxy carries; every other request goes through relay. ReverseProxy
// has already removed the hop-by-hop headers, including any the client
// named in Connection, so the identity headers set here reach the upstream.
func (f *forward) rewrite(pr *httputil.ProxyRequest) {
	// The copy ReverseProxy made of the client's headers has room for
	// those alone; a map sized for the gateway's too costs less than
	// growing it.
	h := make(http.Header, f.outboundSize(pr.Out.Header))
	maps.Copy(h, pr.Out.Header)
	f.build(pr, h, new(headerValues))
}

// outboundSize is how many headers an outbound request with the client's
// headers h can hold: those and the ones build sets. A map sized by it
// does not grow and is no larger than needed: for up to three headers of
// the client's, one table of 16 slots rather than 32.
func (f *forward) outboundSize(h http.Header) int {
	n := len(h) + 4 // X-Forwarded-For, -Host and -Proto, User-Agent
	if f.ten != nil {
		n += 7 // the identity headers always set
		if f.merchantID != "" {
			n++
		}
		if f.contentDigest != "" {
			n++
		}
	}
	if f.p.obs != nil && f.p.obs.Tracer != nil {
		n += 2 // traceparent, tracestate
	}
	return n
}

// build completes the outbound request pr.Out, whose header map is h, with
// the values set here stored in v: the upstream's URL, the client's
// credentials removed, the forwarding headers, the trace context and, for
// a checked request, the signed identity.
//
// An allowed request's forward allocates 9 times (BenchmarkProxyDecision
// counts 11: its canned transport adds two); the route, the decision and
// the usage count allocate nothing. In relay: the outbound request with its
// URL, header values and 1xx hook (one), the 1xx hook's closure and the
// context carrying it, the outbound header map (four: a map of more than
// eight entries is a map, a directory, a table and its slots), the
// signature and the request id. The header map cannot be pooled: the
// Transport may still be writing the request when the answer has come.
func (f *forward) build(pr *httputil.ProxyRequest, h http.Header, v *headerValues) {
	out := pr.Out
	if q, ok := stripQuery(out.URL.RawQuery); ok {
		out.URL.RawQuery = q
	}
	pr.SetURL(f.p.upstream)
	out.Header = h
	stripCredentials(h)
	if f.own != nil && f.own.filter != "" {
		out.URL.RawQuery = forceQuery(out.URL.RawQuery, f.own.filter, f.own.merchantID)
	}
	if f.own != nil && f.own.kind != "" {
		// The gateway reads this answer (checkOwner): the Transport asks
		// for a content coding it decodes, whatever the client accepts.
		delete(h, "Accept-Encoding")
	}
	if _, ok := h["User-Agent"]; !ok {
		// ReverseProxy would set the same empty value, allocating it;
		// empty, the Transport sends no User-Agent.
		h["User-Agent"] = v.one(vUserAgent)
	}
	setForwarded(pr.In, h, v, f.p.front)
	if f.p.obs != nil && f.p.obs.Tracer != nil {
		tracing.Propagator.Inject(pr.In.Context(), propagation.HeaderCarrier(h))
	}
	if f.ten == nil {
		return
	}
	f.identify(h, out, v)
	if f.w != nil {
		// The client learns the request id the upstream was sent.
		f.w.Header()[HeaderRequestID] = v.one(vRequestID)
		if x, ok := f.w.(*exchange); ok {
			x.requestID = v[vRequestID]
		}
	}
}

// identify signs the outbound request out for the forward's credential and
// method and sets the identity headers in h, storing the values in v.
func (f *forward) identify(h http.Header, out *http.Request, v *headerValues) {
	ts := f.p.timestamp()
	// The path and query as the request line will carry them.
	path := out.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	id := identity.Fields{
		Timestamp: ts, RequestID: identity.NewRequestID(), KeyID: f.keyID, Tenant: f.ten.Domain, Stores: f.stores,
		Merchant: f.merchantID, Method: f.m.ID, HTTPMethod: out.Method, Path: path, RawQuery: out.URL.RawQuery,
		ContentDigest: f.contentDigest,
	}
	sig, kid := f.p.signer.Sign(&id)
	v[vKid] = kid
	v[vKeyID], v[vTenant], v[vStores], v[vMethod], v[vTimestamp], v[vSignature] = f.keyID, f.ten.Domain, f.stores, f.m.ID, ts, sig
	v[vRequestID], v[vMerchant], v[vContentDigest] = id.RequestID, f.merchantID, f.contentDigest
	h[identity.HeaderKeyID], h[identity.HeaderTenant], h[identity.HeaderStores] = v.one(vKeyID), v.one(vTenant), v.one(vStores)
	h[identity.HeaderMethod], h[identity.HeaderTimestamp], h[identity.HeaderSignature] = v.one(vMethod), v.one(vTimestamp), v.one(vSignature)
	h[identity.HeaderRequestID], h[identity.HeaderSignatureKid] = v.one(vRequestID), v.one(vKid)
	if f.merchantID != "" {
		h[identity.HeaderMerchant] = v.one(vMerchant)
	}
	// Signed as absent, a Content-Digest the client sent must not reach
	// the upstream.
	delete(h, identity.HeaderContentDigest)
	if f.contentDigest != "" {
		h[identity.HeaderContentDigest] = v.one(vContentDigest)
	}
}

// setForwarded sets X-Forwarded-For, -Host and -Proto in h for the client's
// request in, as ProxyRequest.SetXForwarded does, storing the values in v.
// The peer is appended to the X-Forwarded-For the client sent only when it
// is a trusted proxy: anyone else's would reach the upstream as written.
func setForwarded(in *http.Request, h http.Header, v *headerValues, front httpx.Front) {
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 && front.Trusted(httpx.PeerIP(ip)) {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		v[vForwardedFor] = ip
		h["X-Forwarded-For"] = v.one(vForwardedFor)
	} else {
		delete(h, "X-Forwarded-For")
	}
	v[vForwardedHost] = in.Host
	h["X-Forwarded-Host"] = v.one(vForwardedHost)
	v[vForwardedProto] = "http"
	if in.TLS != nil {
		v[vForwardedProto] = "https"
	}
	h["X-Forwarded-Proto"] = v.one(vForwardedProto)
}

func hasPrefixHeader(name, lowerPrefix string) bool {
	return len(name) >= len(lowerPrefix) && equalHeader(name[:len(lowerPrefix)], lowerPrefix)
}

// equalHeader compares two header names, ignoring case and treating "_"
// and "." as "-": CGI-style servers read "-" as "_", and PHP reads "." as
// "_" too.
func equalHeader(name, other string) bool {
	if len(name) != len(other) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if foldHeaderByte(name[i]) != foldHeaderByte(other[i]) {
			return false
		}
	}
	return true
}

// foldHeaderByte is a byte of a header name as equalHeader reads it.
func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

func storesValue(c *replica.Credential) string {
	if c.Stores.Access != keyward.StoresSelected {
		return "*"
	}
	if len(c.Stores.IDs) == 1 {
		return c.Stores.IDs[0]
	}
	return strings.Join(c.Stores.IDs, ",")
}

type stamp struct {
	unix int64
	text string
}

// timestamp returns the current unix time in decimal, formatted once per
// second.
func (p *Proxy) timestamp() string {
	now := time.Now().Unix()
	if s := p.stamp.Load(); s != nil && s.unix == now {
		return s.text
	}
	s := &stamp{unix: now, text: strconv.FormatInt(now, 10)}
	p.stamp.Store(s)
	return s.text
}

// badGateway answers when the upstream cannot be reached or fails; the
// client learns nothing about the upstream.
func (p *Proxy) badGateway(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold query parameters; never log them
		}
		p.log.Warn("upstream request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.problem(w, http.StatusBadGateway, codeBadGateway,
		"The upstream service did not answer; try again shortly.", nil)
}

// cleanPath reports whether the path has no empty, "." or ".." segments
// (a trailing slash aside), no backslash, no encoded slash or percent sign
// and no control character, so that the upstream cannot resolve it to a
// route other than the one matched.
func cleanPath(u *url.URL) bool {
	path := u.Path
	if strings.IndexByte(path, '\\') >= 0 || !cleanSegments(path) {
		return false
	}
	// An encoded "%" decodes to another escape, which a server decoding
	// twice reads as "." or "/"; control characters end paths early in
	// some servers.
	for i := 0; i < len(path); i++ {
		if c := path[i]; c == '%' || c < ' ' || c == 0x7f {
			return false
		}
	}
	if u.RawPath != "" {
		raw := u.RawPath
		for i := 0; i+2 < len(raw); i++ {
			if raw[i] == '%' && (raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F') ||
				raw[i+1] == '5' && (raw[i+2] == 'c' || raw[i+2] == 'C')) {
				return false
			}
		}
	}
	return true
}

// queryValue returns the first value of key in a raw query, as
// url.Values.Get would, without building the map.
func queryValue(raw, key string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k, ok := unescape(k); !ok || k != key {
			continue
		}
		if v, ok := unescape(v); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// stripQuery removes every apiKey parameter, and every parameter holding a
// keyward secret, from a raw query, splitting on
// ";" as well as "&" since some servers do, and keeps everything else as
// sent. It reports whether it removed any.
func stripQuery(raw string) (string, bool) {
	if !hasQueryKey(raw) {
		return raw, false
	}
	var b strings.Builder
	b.Grow(len(raw))
	sep := byte(0)
	for rest := raw; ; {
		i := strings.IndexAny(rest, "&;")
		pair := rest
		if i >= 0 {
			pair = rest[:i]
		}
		if !isQueryKey(pair) {
			if b.Len() > 0 && sep != 0 {
				b.WriteByte(sep)
			}
			b.WriteString(pair)
		}
		if i < 0 {
			break
		}
		sep, rest = rest[i], rest[i+1:]
	}
	return b.String(), true
}

func hasQueryKey(raw string) bool {
	for rest := raw; ; {
		i := strings.IndexAny(rest, "&;")
		pair := rest
		if i >= 0 {
			pair = rest[:i]
		}
		if isQueryKey(pair) {
			return true
		}
		if i < 0 {
			return false
		}
		rest = rest[i+1:]
	}
}

// isQueryKey reports whether a query pair is an apiKey parameter or holds
// a keyward secret in any parameter.
func isQueryKey(pair string) bool {
	k, _, _ := strings.Cut(pair, "=")
	if k, ok := unescape(k); ok && k == QueryAPIKey {
		return true
	}
	if strings.Contains(pair, "kw") {
		p, ok := unescape(pair)
		return holdsSecret(pair) || ok && holdsSecret(p)
	}
	return false
}

func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

const copyBufSize = 32 << 10

// bufferPool lends ReverseProxy its 32 KiB copy buffers. It pools array
// pointers so that Put does not allocate.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if a, ok := b.pool.Get().(*[copyBufSize]byte); ok {
		return a[:]
	}
	return new([copyBufSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == copyBufSize {
		b.pool.Put((*[copyBufSize]byte)(buf))
	}
}
