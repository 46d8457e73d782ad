package api

import (
	"net/http"

	"github.com/keyward/keyward"
)

// conditional carries a change's If-Match header to the service, which
// refuses the change with 412 when the record's current ETag is not among
// its tags (see keyward.WithIfMatch). Every PATCH, PUT and DELETE honours
// it; a handler of a new resource needs nothing more than its service
// calling precondition before it writes.
func conditional(r *http.Request) *http.Request {
	switch r.Method {
	case http.MethodPatch, http.MethodPut, http.MethodDelete:
		if im := r.Header.Get("If-Match"); im != "" {
			return r.WithContext(keyward.WithIfMatch(r.Context(), im))
		}
	}
	return r
}
