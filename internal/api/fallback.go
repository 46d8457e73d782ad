package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// methods a route may serve, in the order Allow lists them.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Fallback answers a request no route took: 405 with Allow when the path
// is served for other methods (PUT /api/v1/keys), else 404. Register it
// as the mux's catch-all, "/".
func (a *API) Fallback() http.HandlerFunc {
	paths := http.NewServeMux()
	for _, rt := range a.Routes() {
		paths.Handle(rt.Method+" "+rt.Path, http.NotFoundHandler())
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := paths.Handler(probe); pattern != "" && !slices.Contains(allow, m) {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			httpx.Error(w, r, keyward.Errorf(keyward.ENotFound, "No such endpoint: %s %s. The API is described at /api/v1/openapi.json.", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		httpx.Error(w, r, &keyward.Error{Code: keyward.EMethodNotAllowed,
			Message: r.URL.Path + " does not serve " + r.Method + "; it serves " + strings.Join(allow, ", ") + ". The API is described at /api/v1/openapi.json.",
			Details: map[string]any{"allow": allow}})
	}
}
