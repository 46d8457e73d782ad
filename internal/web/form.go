package web

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// formErrors holds what a form refused: messages by field, shown beside
// the field, and a message for the form as a whole.
type formErrors struct {
	Fields  map[string]string
	Message string
}

// Err returns the message for a field, or "".
func (f formErrors) Err(field string) string { return f.Fields[field] }

// Any reports whether anything was refused.
func (f formErrors) Any() bool { return f.Message != "" || len(f.Fields) > 0 }

// formError sorts a service error: errors about the input a person typed
// become formErrors to show on the form again (with the status to answer);
// anything else is returned for the error page.
func formError(err error, fields ...string) (formErrors, int, error) {
	var e *keyward.Error
	if !errors.As(err, &e) {
		return formErrors{}, 0, err
	}
	switch e.Code {
	case keyward.EInvalid, keyward.EConflict, keyward.EDestinationChanged, keyward.ELimitExceeded, keyward.ELicenceRequired, keyward.ERateLimited, keyward.ETooLarge:
	default:
		return formErrors{}, 0, err
	}
	fe := formErrors{}
	known := e.Field == ""
	for _, f := range fields {
		known = known || f == e.Field
	}
	if e.Field != "" && known {
		fe.Fields = map[string]string{e.Field: e.Message}
		fe.Message = "Correct the field marked below and try again."
	} else {
		fe.Message = e.Message
	}
	return fe, httpx.Status(e.Code), nil
}

// fieldError is a form refusal made here, for input the service never
// sees in that form (such as a duration that does not parse).
func fieldError(field, msg string) (formErrors, int) {
	return formErrors{Fields: map[string]string{field: msg}, Message: "Correct the field marked below and try again."}, http.StatusBadRequest
}

// checkForm reads a posted form and refuses a name or value that is not
// valid UTF-8: no browser sends one, and it would be stored as U+FFFD,
// so what was checked would not be what was kept.
func checkForm(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	for name, values := range r.Form {
		if !utf8.ValidString(name) {
			return keyward.Errorf(keyward.EInvalidUTF8, "The form has a field whose name is not valid UTF-8 text. Reload the page and try again.")
		}
		for _, v := range values {
			if !utf8.ValidString(v) {
				return &keyward.Error{Code: keyward.EInvalidUTF8, Field: name,
					Message: fmt.Sprintf("The field %q is not valid UTF-8 text. Type it again and send the form from the page.", name)}
			}
		}
	}
	return nil
}
