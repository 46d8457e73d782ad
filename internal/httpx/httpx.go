// Package httpx is the HTTP plumbing shared by keyward's surfaces: the one
// table from error codes to statuses, RFC 9457 problem details, strict JSON
// decoding and the middleware every listener uses.
package httpx

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/strictjson"
)

// MaxBody is the largest request body accepted: 1 MiB.
const MaxBody = 1 << 20

// statuses maps each error code to its HTTP status. Codes not listed are 500.
var statuses = map[keyward.Code]int{
	keyward.EUnauthenticated: http.StatusUnauthorized,
	keyward.EForbidden:       http.StatusForbidden,
	keyward.EFeatureRequired: http.StatusForbidden,
	keyward.ELicenceRequired: http.StatusForbidden,
	keyward.ENotFound:        http.StatusNotFound,
	keyward.EConflict:        http.StatusConflict,
	keyward.EInvalid:         http.StatusBadRequest,
	keyward.ELimitExceeded:   http.StatusForbidden,
	keyward.EPasswordChange:  http.StatusForbidden,
	keyward.ETooLarge:        http.StatusRequestEntityTooLarge,
	keyward.ERateLimited:     http.StatusTooManyRequests,
	keyward.EUnavailable:     http.StatusServiceUnavailable,

	keyward.EPreconditionFailed:  http.StatusPreconditionFailed,
	keyward.EIdempotencyMismatch: http.StatusUnprocessableEntity,
	keyward.EUnsupportedMedia:    http.StatusUnsupportedMediaType,
	keyward.EMethodNotAllowed:    http.StatusMethodNotAllowed,
	keyward.EDestinationChanged:  http.StatusConflict,
	keyward.EDuplicateMember:     http.StatusBadRequest,
	keyward.EInvalidUTF8:         http.StatusBadRequest,
	keyward.ETooDeep:             http.StatusBadRequest,
}

// Status returns the HTTP status for an error code.
func Status(c keyward.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

var titles = map[keyward.Code]string{
	keyward.EUnauthenticated: "Authentication required",
	keyward.EForbidden:       "Forbidden",
	keyward.EFeatureRequired: "Feature required",
	keyward.ELicenceRequired: "Licence required",
	keyward.ENotFound:        "Not found",
	keyward.EConflict:        "Conflict",
	keyward.EInvalid:         "Invalid argument",
	keyward.ELimitExceeded:   "Limit exceeded",
	keyward.EPasswordChange:  "Password change required",
	keyward.ETooLarge:        "Payload too large",
	keyward.ERateLimited:     "Too many requests",
	keyward.EUnavailable:     "Service unavailable",
	keyward.EInternal:        "Internal error",

	keyward.EPreconditionFailed:  "Precondition failed",
	keyward.EIdempotencyMismatch: "Idempotency key reused",
	keyward.EUnsupportedMedia:    "Unsupported media type",
	keyward.EMethodNotAllowed:    "Method not allowed",
	keyward.EDestinationChanged:  "Stored secrets would go to a new destination",
	keyward.EDuplicateMember:     "Duplicate member",
	keyward.EInvalidUTF8:         "Invalid UTF-8",
	keyward.ETooDeep:             "Nesting too deep",
}

// Title is the title of the problem type of an error code.
func Title(c keyward.Code) string {
	if t, ok := titles[c]; ok {
		return t
	}
	return titles[keyward.EInternal]
}

// ProblemType is the URI naming the problem type of an error code.
func ProblemType(c keyward.Code) string { return "https://keyward.dev/problems/" + string(c) }

// Problem is an RFC 9457 problem details body with keyward's stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	// Extra members, such as the missing feature or permission.
	Details map[string]any `json:"details,omitempty"`
}

// ProblemFor builds the problem details for err.
func ProblemFor(err error) Problem {
	code := keyward.ErrorCode(err)
	p := Problem{
		Type:   ProblemType(code),
		Title:  Title(code),
		Status: Status(code),
		Detail: keyward.ErrorMessage(err),
		Code:   string(code),
	}
	var e *keyward.Error
	if errors.As(err, &e) {
		p.Field, p.Details = e.Field, e.Details
	}
	return p
}

// Error writes err as problem+json. Internal errors are logged with their
// cause and answered with a generic sentence; 503s only at debug level.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(err)
	switch {
	case p.Status == http.StatusServiceUnavailable:
		// Expected while the database is away or the node drains: the
		// replica logs the outage once, not every request it refuses.
		slog.DebugContext(r.Context(), "request refused: unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case p.Status >= 500:
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", p.Code, "err", err)
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfter(p.Details))
	}
	if tag, ok := p.Details["current_etag"].(string); ok && p.Status == http.StatusPreconditionFailed {
		w.Header().Set("ETag", tag)
	}
	WriteProblem(w, p)
}

// retryAfter is the Retry-After of a 429: the seconds until the time its
// details name, at least 1.
func retryAfter(details map[string]any) string {
	secs := 1
	if s, ok := details["retry_after"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			secs = max(secs, int(math.Ceil(time.Until(t).Seconds())))
		}
	}
	return strconv.Itoa(secs)
}

// WriteProblem writes a problem body.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	// Details quote the client's input; left unescaped, "<b>" reads as
	// "<b>", not "\u003cb\u003e". The content type keeps browsers from
	// rendering it.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(p)
}

// JSON writes v as a JSON body with the status.
// A record with a version (keyward.Versioned) gets its ETag.
func JSON(w http.ResponseWriter, status int, v any) {
	if e, ok := v.(interface{ ETag() string }); ok && e.ETag() != "" {
		w.Header().Set("ETag", e.ETag())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	bufs := answerBuffers.Get().(*[2]bytes.Buffer)
	defer answerBuffers.Put(bufs)
	compact, indented := &bufs[0], &bufs[1]
	compact.Reset()
	indented.Reset()
	enc := json.NewEncoder(compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Error("encoding an answer failed", "err", err)
		compact.Reset()
	}
	out := compact
	// Indenting adds two spaces a level to every line, so a large answer
	// of deep data would grow many times over: only small ones, which a
	// person reads, are indented.
	if compact.Len() <= maxIndented && json.Indent(indented, compact.Bytes(), "", "  ") == nil {
		out = indented
	}
	w.WriteHeader(status)
	w.Write(out.Bytes())
}

// answerBuffers are JSON's buffers, reused across answers.
var answerBuffers = sync.Pool{New: func() any { return new([2]bytes.Buffer) }}

// maxIndented is the largest answer, written compactly, that JSON
// indents.
const maxIndented = 16 << 10

// Decode reads a JSON body into v strictly: at most MaxBody bytes, no
// unknown fields, the right types, one value, and nothing strictjson
// refuses. Each failure is an error naming what is wrong.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeMax(w, r, v, MaxBody)
}

// DecodeMax reads a JSON body of at most max bytes into v as Decode does.
func DecodeMax(w http.ResponseWriter, r *http.Request, v any, max int64) error {
	data, err := readBody(w, r, max)
	if err != nil {
		return err
	}
	return decodeBytes(data, v)
}

// readBody reads a body of at most max bytes, refusing an empty one and
// one not declared as JSON (BodyType). It is read whole (it is small) so a value refused by its own type, such as
// a time, can be traced back to its field.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if err := BodyType(r); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		err = io.EOF
	}
	if err != nil {
		return nil, readError(err, max)
	}
	return data, nil
}

// decodeBytes reads the JSON body data into v as Decode does.
func decodeBytes(data []byte, v any) error {
	if err := strictjson.CheckFor(data, v); err != nil {
		return err
	}
	return decodeChecked(data, v)
}

// decodeChecked reads data, which strictjson let through, into v.
func decodeChecked(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var kerr *keyward.Error
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Errorf(keyward.EInvalid, "the body is not valid JSON: %v", err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return keyward.Errorf(keyward.EInvalid, "the body must be a JSON object")
		}
		return keyward.Invalid(field, "%s must be %s, not a JSON %s", field, Expects(typ.Type), typ.Value)
	case errors.As(err, &kerr):
		return kerr
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return keyward.Invalid(name, "unknown field %q; see the OpenAPI document at /api/v1/openapi.json", name)
	}
	// A type that reads its own value (a time, say) refused it; its error
	// speaks of Go layouts, so name the field and what it expects instead.
	if field, t, ok := locate(data, v); ok {
		return keyward.Invalid(field, "%s must be %s", field, Expects(t))
	}
	return keyward.Errorf(keyward.EInvalid, "the body does not match the request's schema; see the OpenAPI document at /api/v1/openapi.json")
}

// readError describes a failure to read the body.
func readError(err error, max int64) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return keyward.Errorf(keyward.ETooLarge, "the body is larger than %d bytes", max)
	case errors.Is(err, io.EOF):
		return keyward.Errorf(keyward.EInvalid, "the body is empty; send a JSON object")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return keyward.Errorf(keyward.EInvalid, "the body could not be read in time; send the whole request within the server's read timeout")
	}
	// Network errors' text names the server's and the client's addresses.
	return keyward.Errorf(keyward.EInvalid, "the body could not be read")
}

// locate finds the top-level member of the JSON object data whose value
// the matching field of the struct v points to refuses, and that field's
// type.
func locate(data []byte, v any) (field string, t reflect.Type, ok bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return "", nil, false
	}
	rt := reflect.TypeOf(v)
	if rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		return "", nil, false
	}
	rt = rt.Elem()
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || tag == "-" || !strings.EqualFold(cmp.Or(tag, f.Name), name) {
				continue
			}
			if json.Unmarshal(members[name], reflect.New(f.Type).Interface()) != nil {
				return name, f.Type, true
			}
		}
	}
	return "", nil, false
}

// expects says, in the API's words and with an example, what a value of a
// domain type looks like.
var expects = map[reflect.Type]string{
	reflect.TypeFor[keyward.Permissions]():  `an object giving each resource "read" or "write", e.g. {"orders": "write", "payments": "read"}`,
	reflect.TypeFor[keyward.Level]():        `"read" or "write" for each resource, e.g. {"orders": "read"}`,
	reflect.TypeFor[keyward.Duration]():     `a duration such as "30m" or "24h"`,
	reflect.TypeFor[keyward.StoreAccess]():  `an object such as {"access": "all"} or {"access": "selected", "ids": ["main"]}`,
	reflect.TypeFor[keyward.NullableTime](): `null or an RFC 3339 time such as "2027-01-31T00:00:00Z"`,
	reflect.TypeFor[time.Time]():            `an RFC 3339 time such as "2027-01-31T00:00:00Z"`,
}

// Expects says what a JSON value read into t must look like, in the API's
// words: never a Go type name or layout.
func Expects(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := expects[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if e := t.Elem(); e.Kind() == reflect.String {
			return `a list of strings, e.g. ["a", "b"]`
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value of the documented form"
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int)           { w.status = s; w.ResponseWriter.WriteHeader(s) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Common wraps a handler with what every control-plane response needs:
// security headers, recovery from panics, and an access log line that
// never holds bodies, query strings or credentials.
func Common(next http.Handler) http.Handler { return CommonObserved(next, nil) }

// CommonObserved is Common that also reports each request's method,
// status and duration to observe, when it is not nil.
func CommonObserved(next http.Handler, observe func(method string, status int, d time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				Error(sw, r, errors.New("panic"))
			}
			slog.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "ms", time.Since(start).Milliseconds())
			if observe != nil {
				observe(r.Method, sw.status, time.Since(start))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// WithDeadline bounds how long a request's work may wait, on the database
// above all: once d has passed its context ends, and the database calls
// still waiting answer 503 unavailable rather than hang for as long as
// the client waits.
func WithDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
