// Package keyward is the Go client of keyward's admin REST API.
//
// keyward.gen.go is generated from the OpenAPI document
// (internal/api/openapi.json) by oapi-codegen, a tool dependency of this
// module: run "go generate" here after the document changes. This file is
// the thin hand-written layer over it: a client that authenticates, retries
// safely with idempotency keys, walks paged lists and verifies keys.
//
//	api, err := keyward.NewAPI("http://127.0.0.1:8080", os.Getenv("KEYWARD_TOKEN"))
//	created, err := api.CreateKeyWithResponse(ctx, nil, keyward.KeyCreate{Name: "THQ"})
//	for k, err := range api.Keys(ctx, nil) { … }
//	v, err := api.Verify(ctx, secret, "orders.list", "main")
package keyward

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../internal/api/openapi.json

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"time"
)

// API is a client of one keyward node: the generated operations, each as
// XxxWithResponse, plus the helpers below.
type API struct {
	*ClientWithResponses
}

// Option configures NewAPI.
type Option func(*options)

type options struct {
	http    *http.Client
	retries int
	backoff time.Duration
}

// UsingHTTPClient sends requests through c (its Transport is wrapped by
// the retrying one).
func UsingHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

// WithRetries sets how many times a request is retried after a network
// error, a 429 or a 502, 503 or 504 (default 3; 0 turns retries off), and
// the first wait, which doubles each time unless Retry-After says more
// (default 200ms).
func WithRetries(n int, backoff time.Duration) Option {
	return func(o *options) { o.retries, o.backoff = n, backoff }
}

// NewAPI returns a client of the node at baseURL (such as
// "http://127.0.0.1:8080") that sends token as its bearer credential: a
// personal access token, or the operator token for /operator/v1/.
func NewAPI(baseURL, token string, opts ...Option) (*API, error) {
	o := options{http: &http.Client{Timeout: 30 * time.Second}, retries: 3, backoff: 200 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	hc := *o.http
	hc.Transport = &retrying{next: cmpTransport(hc.Transport), retries: o.retries, backoff: o.backoff}
	c, err := NewClientWithResponses(baseURL, WithHTTPClient(&hc), WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	return &API{c}, nil
}

func cmpTransport(t http.RoundTripper) http.RoundTripper {
	if t == nil {
		return http.DefaultTransport
	}
	return t
}

// retrying retries requests that are safe to send again. A POST is made
// safe by an Idempotency-Key, which it gets when it has none, so a create
// retried after a timeout is answered with the first answer, never done
// twice.
type retrying struct {
	next    http.RoundTripper
	retries int
	backoff time.Duration
}

func (t *retrying) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Idempotency-Key", rand.Text())
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
		if attempt >= t.retries || !retryable(res, err) || (r.Body != nil && r.GetBody == nil) {
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
// try: the request may not have arrived, or the node asked to wait.
func retryable(res *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch res.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ProblemError is a refusal as problem details: Code is keyward's stable code.
type ProblemError struct {
	Status int
	Problem
}

func (e *ProblemError) Error() string {
	return fmt.Sprintf("keyward: %d %s: %s", e.Status, e.Code, e.Detail)
}

// problemOf returns the error of an answer that is not the one expected.
func problemOf(status int, p *Problem, body []byte) error {
	if p != nil {
		return &ProblemError{Status: status, Problem: *p}
	}
	return fmt.Errorf("keyward: unexpected answer %d: %.200s", status, body)
}

// Keys walks the tenant's keys a page at a time, following next_cursor;
// params filter them as ListKeys does (its Cursor is where to start).
func (a *API) Keys(ctx context.Context, params *ListKeysParams) iter.Seq2[Key, error] {
	return func(yield func(Key, error) bool) {
		p := ListKeysParams{}
		if params != nil {
			p = *params
		}
		for {
			res, err := a.ListKeysWithResponse(ctx, &p)
			if err == nil && res.JSON200 == nil {
				err = problemOf(res.StatusCode(), firstProblem(res.ApplicationproblemJSON400, res.ApplicationproblemJSON401, res.ApplicationproblemJSON403), res.Body)
			}
			if err != nil {
				yield(Key{}, err)
				return
			}
			for _, k := range res.JSON200.Data {
				if !yield(k, nil) {
					return
				}
			}
			if res.JSON200.NextCursor == nil || *res.JSON200.NextCursor == "" {
				return
			}
			p.Cursor = res.JSON200.NextCursor
		}
	}
}

// Audit walks the tenant's audit log newest first, a page of limit
// entries at a time (0: the server's default).
func (a *API) Audit(ctx context.Context, limit int) iter.Seq2[AuditEntry, error] {
	return func(yield func(AuditEntry, error) bool) {
		p := ListAuditParams{}
		if limit > 0 {
			l := Limit(limit)
			p.Limit = &l
		}
		for {
			res, err := a.ListAuditWithResponse(ctx, &p)
			if err == nil && res.JSON200 == nil {
				err = problemOf(res.StatusCode(), firstProblem(res.ApplicationproblemJSON400, res.ApplicationproblemJSON401, res.ApplicationproblemJSON403), res.Body)
			}
			if err != nil {
				yield(AuditEntry{}, err)
				return
			}
			for _, e := range res.JSON200.Data {
				if !yield(e, nil) {
					return
				}
			}
			if res.JSON200.NextCursor == nil || *res.JSON200.NextCursor == "" {
				return
			}
			p.Cursor = res.JSON200.NextCursor
		}
	}
}

func firstProblem(ps ...*Problem) *Problem {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// Verify asks whether the key secret may call the catalog method on the
// store (store may be ""). A refusal is a decision, not an error: read
// Code, and Missing for INSUFFICIENT_PERMISSION.
func (a *API) Verify(ctx context.Context, secret, method, store string) (*VerifyResponse, error) {
	in := VerifyRequest{Key: secret, Method: &method}
	if store != "" {
		in.Store = &store
	}
	return a.verify(ctx, in)
}

// VerifyRequest asks whether the key secret may make the HTTP request
// (method and path with its query, as the client would send it).
func (a *API) VerifyHTTP(ctx context.Context, secret, httpMethod, path, store string) (*VerifyResponse, error) {
	in := VerifyRequest{Key: secret}
	in.Request = &VerifyHTTPRequest{Method: httpMethod, Path: path}
	if store != "" {
		in.Store = &store
	}
	return a.verify(ctx, in)
}

func (a *API) verify(ctx context.Context, in VerifyRequest) (*VerifyResponse, error) {
	res, err := a.VerifyKeyWithResponse(ctx, in)
	if err != nil {
		return nil, err
	}
	if res.JSON200 != nil {
		return res.JSON200, nil
	}
	return nil, problemOf(res.StatusCode(), res.ApplicationproblemJSON400, res.Body)
}
