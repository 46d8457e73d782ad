package keyward

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ProblemError is the node's refusal of a call, from its problem details
// (RFC 9457). Every call returns one for an answer outside 2xx; compare
// with errors.Is against the Err sentinels, or use IsCode.
type ProblemError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is keyward's stable code, such as "not_found"; a closed set.
	Code   ProblemCode
	Title  string
	Detail string
	// Field names the offending input member, for invalid_argument and
	// some conflicts.
	Field string
	// Details holds machine-readable extras, such as {"feature": "users"}.
	Details map[string]any
	// Type is the problem type's URI.
	Type string
	// RequestID is the answer's X-Request-Id, when it has one.
	RequestID string
}

func (e *ProblemError) Error() string {
	s := fmt.Sprintf("keyward: %d %s", e.Status, e.Code)
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is the sentinel of e's code, so that
// errors.Is(err, keyward.ErrNotFound) holds for every 404 not_found.
func (e *ProblemError) Is(target error) bool {
	s, ok := target.(codeError)
	return ok && ProblemCode(s) == e.Code
}

// codeError is a sentinel standing for every ProblemError of one code.
type codeError ProblemCode

func (c codeError) Error() string { return "keyward: " + string(c) }

// Sentinels for errors.Is, one per stable code.
var (
	ErrUnauthenticated        error = codeError(ProblemCodeUnauthenticated)
	ErrForbidden              error = codeError(ProblemCodeForbidden)
	ErrFeatureRequired        error = codeError(ProblemCodeFeatureRequired)
	ErrLicenceRequired        error = codeError(ProblemCodeLicenceRequired)
	ErrNotFound               error = codeError(ProblemCodeNotFound)
	ErrConflict               error = codeError(ProblemCodeConflict)
	ErrInvalidArgument        error = codeError(ProblemCodeInvalidArgument)
	ErrLimitExceeded          error = codeError(ProblemCodeLimitExceeded)
	ErrPayloadTooLarge        error = codeError(ProblemCodePayloadTooLarge)
	ErrRateLimited            error = codeError(ProblemCodeRateLimited)
	ErrUnavailable            error = codeError(ProblemCodeUnavailable)
	ErrInternal               error = codeError(ProblemCodeInternal)
	ErrPasswordChangeRequired error = codeError(ProblemCodePasswordChangeRequired)
	ErrPreconditionFailed     error = codeError(ProblemCodePreconditionFailed)
	ErrIdempotencyKeyReused   error = codeError(ProblemCodeIdempotencyKeyReused)
	ErrUnsupportedMediaType   error = codeError(ProblemCodeUnsupportedMediaType)
	ErrMethodNotAllowed       error = codeError(ProblemCodeMethodNotAllowed)
)

// IsCode reports whether err is (or wraps) a refusal with the given code,
// such as IsCode(err, "not_found").
func IsCode(err error, code ProblemCode) bool {
	var p *ProblemError
	return errors.As(err, &p) && p.Code == code
}

// problemFrom reads a refusal; an answer that is not problem details (a
// proxy's 502 page, say) still gives a ProblemError with its status and
// the start of its body.
func problemFrom(res *http.Response, body []byte) *ProblemError {
	e := &ProblemError{Status: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	var p Problem
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		e.Code, e.Title, e.Detail, e.Type = p.Code, p.Title, p.Detail, p.Type
		if p.Field != nil {
			e.Field = *p.Field
		}
		if p.Details != nil {
			e.Details = *p.Details
		}
		return e
	}
	e.Title = http.StatusText(res.StatusCode)
	e.Detail = fmt.Sprintf("%.200s", body)
	return e
}
