package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// paths are the route table's path templates with the methods each
// serves: what a path answers to a method it does not serve.
type paths struct {
	templates [][]string // each template's segments, wild for a wildcard
	names     []string
	methods   []map[string]bool
}

func newPaths(routes []Route) *paths {
	t := &paths{}
	for _, rt := range routes {
		i := slices.Index(t.names, rt.Path)
		if i < 0 {
			segs := strings.Split(rt.Path, "/")
			for k, s := range segs {
				if strings.HasPrefix(s, "{") {
					segs[k] = wild
				}
			}
			t.templates = append(t.templates, segs)
			t.names = append(t.names, rt.Path)
			t.methods = append(t.methods, map[string]bool{})
			i = len(t.names) - 1
		}
		t.methods[i][rt.Method] = true
	}
	return t
}

// allow finds the most specific templates matching path, as ServeMux
// ranks them (one is more specific when it has a literal wherever the
// other does), and answers the methods they serve, and whether the
// template named own is one of them. No template matching gives no
// methods.
func (t *paths) allow(path, own string) (allow []string, isOwn bool) {
	segs := strings.Split(path, "/")
	var match []int
	for i, tpl := range t.templates {
		if matches(tpl, segs) {
			match = append(match, i)
		}
	}
	served := map[string]bool{}
	for _, i := range match {
		if slices.ContainsFunc(match, func(j int) bool { return moreSpecific(t.templates[j], t.templates[i]) }) {
			continue
		}
		isOwn = isOwn || t.names[i] == own
		for m := range t.methods[i] {
			served[m] = true
		}
	}
	return httpx.Allow(func(m string) bool { return served[m] }), isOwn
}

// wild stands for a wildcard segment, {id}, in a template.
const wild = "{}"

func matches(tpl, segs []string) bool {
	if len(tpl) != len(segs) {
		return false
	}
	for k, s := range tpl {
		if s != wild && s != segs[k] || s == wild && segs[k] == "" {
			return false
		}
	}
	return true
}

// moreSpecific reports whether template a, of b's length, has a literal
// wherever b has one and somewhere b has not.
func moreSpecific(a, b []string) bool {
	more := false
	for k := range a {
		switch {
		case b[k] != wild && a[k] == wild:
			return false
		case b[k] == wild && a[k] != wild:
			more = true
		}
	}
	return more
}

// Fallback answers a request no route took: 405 with Allow when the path
// is served for other methods (PUT /api/v1/keys), else 404. Register it
// as the mux's catch-all, "/".
func (a *API) Fallback() http.HandlerFunc {
	t := newPaths(a.Routes())
	return func(w http.ResponseWriter, r *http.Request) {
		if allow, _ := t.allow(r.URL.Path, ""); len(allow) > 0 {
			httpx.MethodNotAllowed(w, r, allow)
			return
		}
		httpx.Error(w, r, keyward.Errorf(keyward.ENotFound, "No such endpoint: %s %s. The API is described at /api/v1/openapi.json.", r.Method, r.URL.Path))
	}
}
