package api

import (
	"net/http"

	"github.com/keyward/keyward"
)

// Versioned lists the routes whose records have an ETag: their PATCH,
// PUT and DELETE honour If-Match. A new resource whose service calls
// precondition before it writes (see internal/service/version.go) adds its
// path here.
var Versioned = map[string]bool{
	"/api/v1/keys/{id}":                     true,
	"/api/v1/stores/{id}":                   true,
	"/api/v1/profiles/{id}":                 true,
	"/api/v1/users/{id}":                    true,
	"/api/v1/merchants/{id}":                true,
	"/api/v1/merchants/{id}/users/{user}":   true,
	"/operator/v1/tenants/{domain}/licence": true,
	"/api/v1/webhooks/{id}":                 true,
	"/api/v1/connections/{id}":              true,
}

// conditional carries a change's If-Match header to the service, which
// refuses the change with 412 when the record's current ETag is not among
// its tags (see keyward.WithIfMatch).
func conditional(r *http.Request) *http.Request {
	switch r.Method {
	case http.MethodPatch, http.MethodPut, http.MethodDelete:
		if im := r.Header.Get("If-Match"); im != "" {
			return r.WithContext(keyward.WithIfMatch(r.Context(), im))
		}
	}
	return r
}

// unversioned answers If-Match on a change of a record that has no ETag:
// no tag but "*" can match it, so the change is refused, never done
// unchecked.
func unversioned(rt Route, r *http.Request) error {
	im := r.Header.Get("If-Match")
	if im == "" || im == "*" || Versioned[rt.Path] {
		return nil
	}
	switch r.Method {
	case http.MethodPatch, http.MethodPut, http.MethodDelete:
		return keyward.Errorf(keyward.EPreconditionFailed, "%s has no ETag, so no If-Match but \"*\" can match it; send the change without If-Match.", rt.Path)
	}
	return nil
}
