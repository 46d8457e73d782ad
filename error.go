package keyward

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The set is closed: clients
// may switch on it.
type Code string

// Error codes.
const (
	EUnauthenticated Code = "unauthenticated"
	EForbidden       Code = "forbidden"
	EFeatureRequired Code = "feature_required"
	ELicenceRequired Code = "licence_required"
	ENotFound        Code = "not_found"
	EConflict        Code = "conflict"
	EInvalid         Code = "invalid_argument"
	ELimitExceeded   Code = "limit_exceeded"
	ETooLarge        Code = "payload_too_large"
	ERateLimited     Code = "rate_limited"
	EUnavailable     Code = "unavailable"
	EInternal        Code = "internal"

	// EPasswordChange refuses a user who must choose a new password first.
	EPasswordChange Code = "password_change_required"

	// EPreconditionFailed refuses a change whose If-Match names a version
	// of the resource that is no longer the current one.
	EPreconditionFailed Code = "precondition_failed"
	// EIdempotencyMismatch refuses a request that reuses an
	// Idempotency-Key with another body or on another route.
	EIdempotencyMismatch Code = "idempotency_key_reused"
	// EUnsupportedMedia refuses a body sent as a media type not read.
	EUnsupportedMedia Code = "unsupported_media_type"
	// EMethodNotAllowed answers a method the path does not serve.
	EMethodNotAllowed Code = "method_not_allowed"
	// EDestinationChanged refuses a change of where a connection's stored
	// secrets are sent (its API URL, shop domain, token endpoint …) that
	// neither gives the secrets again nor confirms sending the stored ones.
	EDestinationChanged Code = "destination_changed"

	// EDuplicateMember refuses a JSON object that names a member twice:
	// readers disagree on which one counts.
	EDuplicateMember Code = "duplicate_member"
	// EInvalidUTF8 refuses text that is not valid UTF-8, including a JSON
	// \u escape of half a surrogate pair.
	EInvalidUTF8 Code = "invalid_utf8"
	// ETooDeep refuses JSON that nests objects and arrays too deeply.
	ETooDeep Code = "nesting_too_deep"
)

// Error is the one error type of the domain. Message is safe to show to a
// client; Err is the cause, for logs only.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input field for invalid_argument errors.
	Field string
	// Details carries machine-readable extras (e.g. the missing feature).
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an invalid_argument error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for errors that are not *Error
// and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err; errors that are not
// *Error get a generic sentence so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred; it has been logged. Try again, and contact the operator if it persists."
}
