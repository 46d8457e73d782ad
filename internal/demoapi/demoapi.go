// Package demoapi is a small in-memory platform API: the retail back office
// that keyward sits in front of. It serves every method of the built-in
// commerce catalog with believable seed data for the demo tenant's stores
// "main" and "online", so keys, stores and merchants can be tried on real
// requests without a platform of one's own.
//
// Bodies are JSON objects in and out. Lists answer {"items": [...],
// "count": n}; errors answer {"error": "..."} with 400, 404 or 409. Records
// of a store are named by the "store" query parameter: lists filter by it,
// creates require it, and reading a record through another store answers
// 404. Jobs and actions belong to a merchant (merchant_id); their lists and
// searches filter by the merchant_id query parameter, which keyward's
// gateway forces for merchant credentials.
package demoapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/identity"
)

// Options configures an API.
type Options struct {
	// IdentityKey, when set, makes the API answer only requests whose
	// keyward identity headers verify with it, that is requests forwarded by
	// keyward's gateway; others are answered 401. It must be at least
	// identity.MinKey bytes.
	IdentityKey []byte
	// IdentityVerifier, when set, is used instead of IdentityKey: a verifier
	// of every published identity key, which a node keeps current as the
	// identity key is rotated.
	IdentityVerifier *identity.Verifier
}

// API is the demo platform API, an http.Handler. It is safe for concurrent
// use.
type API struct {
	handler http.Handler

	mu            sync.Mutex
	stores        []storeInfo
	orders        *collection
	history       map[string][]record // order id → changes, oldest first
	customers     *collection
	products      *collection
	inventory     map[invKey]record
	discounts     *collection
	subscriptions *collection
	payments      *collection
	jobs          *collection
	actions       *collection
	webhooks      *collection
}

// New returns an API holding fresh seed data. It panics if opts.IdentityKey
// is set but shorter than identity.MinKey.
func New(opts Options) *API {
	a := &API{
		history:       map[string][]record{},
		inventory:     map[invKey]record{},
		orders:        newCollection("ord"),
		customers:     newCollection("cus"),
		products:      newCollection("prod"),
		discounts:     newCollection("disc"),
		subscriptions: newCollection("sub"),
		payments:      newCollection("pay"),
		jobs:          newCollection("job"),
		actions:       newCollection("act"),
		webhooks:      newCollection("wh"),
	}
	a.seed(time.Now().UTC())
	var h http.Handler = a.routes()
	switch {
	case opts.IdentityVerifier != nil:
		h = opts.IdentityVerifier.Middleware(h)
	case len(opts.IdentityKey) > 0:
		h = identity.Middleware(opts.IdentityKey, h)
	}
	a.handler = h
	return a
}

// ServeHTTP serves one request of the platform API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.handler.ServeHTTP(w, r)
}

// record is one JSON object as stored and served.
type record = map[string]any

// handler computes the answer to a request while the API's lock is held.
// in is the decoded body, nil when the request has none.
type handler func(r *http.Request, in record) (any, error)

// created wraps an answer sent with 201.
type created struct{ v any }

// statusError is an error answered with its status and message.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) error {
	return errorf(http.StatusNotFound, format, args...)
}

// body says whether a route reads a JSON body.
type body int

const (
	noBody body = iota
	needBody
	optionalBody
)

const maxBody = 1 << 20

func (a *API) handle(mux *http.ServeMux, pattern string, b body, h handler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		var in record
		if b != noBody {
			var err error
			if in, err = readObject(w, r, b == optionalBody); err != nil {
				writeJSON(w, http.StatusBadRequest, record{"error": err.Error()})
				return
			}
		}
		a.mu.Lock()
		out, err := h(r, in)
		status := http.StatusOK
		if c, ok := out.(created); ok {
			status, out = http.StatusCreated, c.v
		}
		if err != nil {
			var se *statusError
			if !errors.As(err, &se) {
				se = &statusError{http.StatusInternalServerError, err.Error()}
			}
			status, out = se.status, record{"error": se.msg}
		}
		// Encoded under the lock: records are shared with later writers.
		data, merr := json.Marshal(out)
		a.mu.Unlock()
		if merr != nil {
			writeJSON(w, http.StatusInternalServerError, record{"error": merr.Error()})
			return
		}
		writeRaw(w, status, data)
	})
}

// readObject decodes the request body as one JSON object. An empty body is
// nil when optional is set and an error otherwise.
func readObject(w http.ResponseWriter, r *http.Request, optional bool) (record, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var in record
	if err := dec.Decode(&in); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil, nil
			}
			return nil, errors.New("a JSON object body is required")
		}
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, errors.New("the body is larger than 1 MiB")
		}
		if !errors.As(err, &syn) && !errors.As(err, &typ) && !errors.Is(err, io.ErrUnexpectedEOF) {
			// A failed read; its text would name the server's address.
			return nil, errors.New("the body could not be read")
		}
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	if in == nil {
		return nil, errors.New("the body must be a JSON object")
	}
	if dec.More() {
		return nil, errors.New("the body must hold one JSON object only")
	}
	return in, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	writeRaw(w, status, data)
}

func writeRaw(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// list is the answer of every list and search method.
func list(items []record) any {
	if items == nil {
		items = []record{}
	}
	return record{"items": items, "count": len(items)}
}

// timestamp formats t as the API does.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func now() string { return timestamp(time.Now()) }

// str returns the string field name of rec, "" when absent or not a string.
func str(rec record, name string) string {
	s, _ := rec[name].(string)
	return s
}

// number returns the numeric field name of in; ok is false when the field
// is absent, and an error is returned when it is not a number.
func number(in record, name string) (v float64, ok bool, err error) {
	raw, present := in[name]
	if !present || raw == nil {
		return 0, false, nil
	}
	v, isNum := raw.(float64)
	if !isNum {
		return 0, false, badRequest("%s must be a number", name)
	}
	return v, true, nil
}

// containsFold reports whether any string field of rec contains q, ignoring
// case.
func containsFold(rec record, q string) bool {
	q = strings.ToLower(q)
	for _, v := range rec {
		if s, ok := v.(string); ok && strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}
