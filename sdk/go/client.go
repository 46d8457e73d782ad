package keyward

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../internal/api/openapi.json

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is this SDK's version, sent in its User-Agent.
const Version = "0.1.0"

// Client is a client of one keyward node. Each resource has its service;
// every call returns a *ProblemError when the node refuses.
type Client struct {
	base        *url.URL
	http        *http.Client
	auth        func(*http.Request)
	agent       string
	Keys        *KeysService
	Stores      *StoresService
	Profiles    *ProfilesService
	Users       *UsersService
	Me          *MeService
	Tokens      *TokensService
	Audit       *AuditService
	Catalog     *CatalogService
	Merchants   *MerchantsService
	Webhooks    *WebhooksService
	Integrators *IntegratorsService
	KeyRequests *KeyRequestsService
	Handovers   *HandoversService
	Connections *ConnectionsService
	Tenants     *TenantsService
	Licence     *LicenceService
	Verify      *VerifyService
	Events      *EventsService
	Health      *HealthService
}

type service struct{ c *Client }

// Option configures NewClient.
type Option func(*settings)

type settings struct {
	http    *http.Client
	auth    func(*http.Request)
	agent   string
	retries int
	backoff time.Duration
}

// WithToken authenticates with a bearer token: a personal access token
// (kwp_…) for /api/v1/, the operator token (kwo_…) for /operator/v1/, or
// an API key (kwk_…) for sending events.
func WithToken(token string) Option {
	return func(s *settings) {
		s.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
}

// WithMerchantCredentials authenticates as a merchant with HTTP Basic: the
// API Account ID and the API Auth Key (kwm_…).
func WithMerchantCredentials(accountID, authKey string) Option {
	return func(s *settings) {
		s.auth = func(r *http.Request) { r.SetBasicAuth(accountID, authKey) }
	}
}

// WithHTTPClient sends requests through c (its Transport is wrapped by
// the retrying one).
func WithHTTPClient(c *http.Client) Option { return func(s *settings) { s.http = c } }

// WithUserAgent puts product (such as "billing/1.2") before the SDK's own
// User-Agent.
func WithUserAgent(product string) Option {
	return func(s *settings) { s.agent = product + " " + s.agent }
}

// WithRetries sets how many times a request that is safe to repeat is
// retried after a network error, a 429 or a 502, 503 or 504 (default 3;
// 0 turns retries off), and the first wait, which doubles each time unless
// Retry-After says more (default 200ms). A request is safe to repeat when
// its method is, or when it carries an Idempotency-Key; a 429 is retried
// always, as the node did nothing.
func WithRetries(n int, backoff time.Duration) Option {
	return func(s *settings) { s.retries, s.backoff = n, backoff }
}

// NewClient returns a client of the node at baseURL, such as
// "http://127.0.0.1:8080".
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("keyward: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("keyward: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	s := settings{http: &http.Client{Timeout: 30 * time.Second}, agent: "keyward-go/" + Version, retries: 3, backoff: 200 * time.Millisecond}
	for _, opt := range opts {
		opt(&s)
	}
	hc := *s.http
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &retrying{next: next, retries: s.retries, backoff: s.backoff}
	c := &Client{base: u, http: &hc, auth: s.auth, agent: s.agent}
	c.Keys = &KeysService{c}
	c.Stores = &StoresService{c}
	c.Profiles = &ProfilesService{c}
	c.Users = &UsersService{c}
	c.Me = &MeService{c}
	c.Tokens = &TokensService{c}
	c.Audit = &AuditService{c}
	c.Catalog = &CatalogService{c}
	c.Merchants = &MerchantsService{c, &MerchantUsersService{c}}
	c.Webhooks = &WebhooksService{c, &DeliveriesService{c}, &AttemptsService{c}}
	c.Integrators = &IntegratorsService{c}
	c.KeyRequests = &KeyRequestsService{c}
	c.Handovers = &HandoversService{c}
	c.Connections = &ConnectionsService{c}
	c.Tenants = &TenantsService{c}
	c.Licence = &LicenceService{c}
	c.Verify = &VerifyService{c}
	c.Events = &EventsService{c}
	c.Health = &HealthService{c}
	return c, nil
}

// CallOption sets a header of one call. A call refuses an option its
// operation does not declare, rather than send a header the node ignores.
type CallOption func(*call)

// WithIfMatch makes a change or delete conditional: the node answers 412
// precondition_failed (ErrPreconditionFailed) unless the record's ETag is
// still etag.
func WithIfMatch(etag string) CallOption {
	return func(c *call) { c.ifMatch = etag }
}

// WithIdempotencyKey sends key as the Idempotency-Key of a create or
// another POST that declares it: a retry with the same key and body is
// answered with the first answer. Without it such calls get a random one,
// so the SDK's own retries are safe.
func WithIdempotencyKey(key string) CallOption {
	return func(c *call) { c.idemKey = key }
}

// ETagInto stores the answer's ETag header in *dst, for a later
// WithIfMatch.
func ETagInto(dst *string) CallOption {
	return func(c *call) { c.etag = dst }
}

// call is one request: what the operation declares, and what the caller
// asked for.
type call struct {
	method, path string
	query        url.Values
	body         any
	contentType  string
	// declared headers
	idem, cond bool

	ifMatch, idemKey string
	etag             *string
	noAuth           bool
}

// op declares an operation: idem when it takes an Idempotency-Key, cond
// when it takes If-Match.
func op(method, path string, idem, cond bool) *call {
	return &call{method: method, path: path, idem: idem, cond: cond}
}

func (c *call) with(body any) *call { c.body, c.contentType = body, "application/json"; return c }

// patch sends body as a JSON Merge Patch (RFC 7396).
func (c *call) patch(body any) *call {
	c.body, c.contentType = body, "application/merge-patch+json"
	return c
}

func (c *call) q(v url.Values) *call { c.query = v; return c }

// do sends the call and decodes a 2xx answer into out (nil: no body
// wanted); any other answer is a *ProblemError.
func (cl *Client) do(ctx context.Context, c *call, out any, opts ...CallOption) (*http.Response, error) {
	for _, o := range opts {
		o(c)
	}
	if c.idemKey != "" && !c.idem {
		return nil, fmt.Errorf("keyward: %s %s takes no Idempotency-Key", c.method, c.path)
	}
	if c.ifMatch != "" && !c.cond {
		return nil, fmt.Errorf("keyward: %s %s takes no If-Match", c.method, c.path)
	}
	u := *cl.base
	u.Path += c.path
	u.RawQuery = c.query.Encode()
	var body io.Reader
	var raw []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, fmt.Errorf("keyward: %s %s: %w", c.method, c.path, err)
		}
		raw = b
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		r.Header.Set("Content-Type", c.contentType)
	}
	r.Header.Set("Accept", "application/json, application/problem+json")
	r.Header.Set("User-Agent", cl.agent)
	if c.idem {
		k := c.idemKey
		if k == "" {
			k = rand.Text()
		}
		r.Header.Set("Idempotency-Key", k)
	}
	if c.ifMatch != "" {
		r.Header.Set("If-Match", c.ifMatch)
	}
	if cl.auth != nil && !c.noAuth {
		cl.auth(r)
	}
	res, err := cl.http.Do(r)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return res, fmt.Errorf("keyward: %s %s: reading the answer: %w", c.method, c.path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res, problemFrom(res, b)
	}
	if c.etag != nil {
		*c.etag = res.Header.Get("ETag")
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res, fmt.Errorf("keyward: %s %s: decoding the answer: %w", c.method, c.path, err)
		}
	}
	return res, nil
}

// retrying retries requests that are safe to send again.
type retrying struct {
	next    http.RoundTripper
	retries int
	backoff time.Duration
}

func (t *retrying) RoundTrip(r *http.Request) (*http.Response, error) {
	repeatable := r.Header.Get("Idempotency-Key") != ""
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		repeatable = true
	}
	wait := t.backoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 && r.Body != nil && r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			r = r.Clone(r.Context())
			r.Body = body
		}
		res, err := t.next.RoundTrip(r)
		if attempt >= t.retries || !retryable(res, err, repeatable) || (r.Body != nil && r.GetBody == nil) {
			return res, err
		}
		d := wait
		if res != nil {
			if s, perr := strconv.Atoi(res.Header.Get("Retry-After")); perr == nil && time.Duration(s)*time.Second > d {
				d = time.Duration(s) * time.Second
			}
			io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
			res.Body.Close()
		}
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(d):
		}
		wait *= 2
	}
}

// retryable reports whether an answer (or its absence) is worth another
// try: the node asked to wait, or the request may not have arrived and
// repeating it does no harm.
func retryable(res *http.Response, err error, repeatable bool) bool {
	if err != nil {
		return repeatable && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch res.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return repeatable
	}
	return false
}

// pathf builds a path with each argument escaped as one segment.
func pathf(format string, args ...string) string {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, a...)
}
