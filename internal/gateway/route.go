package gateway

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

// route is a request read the way the gateway forwards it: the catalog
// method it matches, its path parameters, the store it names and the
// protocol it asks to switch to.
type route struct {
	method  string // the method the request is checked as
	m       *catalog.Method
	params  catalog.Params
	store   string
	upgrade string
}

// refusal is a request refused before its credential is looked at.
type refusal struct {
	status int
	code   string
	detail string
}

func invalidRequest(detail string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: keyward.CodeInvalidRequest, detail: detail}
}

func ambiguousStore(detail string) *refusal {
	return &refusal{status: http.StatusBadRequest, code: keyward.CodeStoreAmbiguous, detail: detail}
}

// Method-override headers, in lower case; servers and frameworks read each
// of them as the method a POST stands for.
var overrideHeaders = [...]string{"x-http-method-override", "x-http-method", "x-method-override"}

// overrideParam is the query or form parameter frameworks read as the
// method a POST stands for.
const overrideParam = "_method"

// Path-override headers, in lower case: IIS's URL Rewrite and frameworks
// running on it (Symfony and Zend did, before 2018) route a request by
// them instead of its path, so the upstream would act on a path keyward
// never matched.
var pathOverrideHeaders = [...]string{"x-original-url", "x-rewrite-url"}

var errPathOverride = invalidRequest("Path overrides (X-Original-URL, X-Rewrite-URL) are not accepted: some servers route by them instead of the request's path; send the request to the path itself.")

var (
	errPathForm = invalidRequest("The path is not in canonical form: send it without empty, \".\" or \"..\" segments, backslashes, encoded slashes or percent signs, or control characters.")
	errPathArgs = invalidRequest("Path parameters (\";name=value\" in a path segment) are not accepted: servers read them differently.")
)

// readRoute normalises a request and matches it against the catalog: the
// one reading shared by the gateway and POST /v1/verify. ok is false, with
// no refusal, when no catalog method matches.
func readRoute(cat *catalog.Catalog, method string, u *url.URL, h http.Header) (rt route, ok bool, ref *refusal) {
	if !cleanPath(u) {
		return rt, false, errPathForm
	}
	if u.RawQuery != "" {
		if ref = checkQuery(cat, u.RawQuery); ref != nil {
			return rt, false, ref
		}
	}
	if strings.ToUpper(method) != method {
		// Some servers read "get" as GET; the catalog names methods in
		// upper case only.
		return rt, false, invalidRequest("The HTTP method must be in upper case, such as GET.")
	}
	opts := cat.Options()
	path := u.Path
	if strings.IndexByte(path, ';') >= 0 {
		if !opts.PathParams {
			return rt, false, errPathArgs
		}
		if path = withoutPathParams(path); !cleanSegments(path) {
			return rt, false, errPathForm
		}
	}
	rh := readRouteHeaders(cat, h)
	if rh.pathOverride {
		return rt, false, errPathOverride
	}
	method, ref = overriddenMethod(method, u.RawQuery, rh.overrides, opts.MethodOverride)
	if ref != nil {
		return rt, false, ref
	}
	m, params, found := cat.Match(method, path)
	if !found && method == http.MethodHead {
		// Most servers answer HEAD with their GET handler, so HEAD needs
		// what GET needs.
		m, params, found = cat.Match(http.MethodGet, path)
	}
	if !found {
		return rt, false, nil
	}
	rt = route{method: method, m: m, params: params}
	if rt.upgrade, ref = upgradeOf(m, h); ref != nil {
		return rt, false, ref
	}
	if rt.store, ref = storeOf(m, u.RawQuery, h, params); ref != nil {
		return rt, false, ref
	}
	if !rh.storeHeader {
		h = nil // no store header to compare: skip reading them again
	}
	if ref = storeElsewhere(cat, m, rt.store, u.RawQuery, h); ref != nil {
		return rt, false, ref
	}
	return rt, true, nil
}

// cleanSegments reports whether a path has no empty, "." or ".." segment
// (a trailing slash aside).
func cleanSegments(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for rest := path[1:]; rest != ""; {
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
			if seg == "" {
				return false
			}
		} else {
			rest = ""
		}
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// withoutPathParams removes ";…" from every segment, as servlet containers
// do before routing.
func withoutPathParams(path string) string {
	var b strings.Builder
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		seg, _, _ = strings.Cut(seg, ";")
		b.WriteString(seg)
	}
	return b.String()
}

// routeHeaders is what a request's headers say about its route, read in
// one pass over them.
type routeHeaders struct {
	overrides    []string // the values of method-override headers
	pathOverride bool     // a path-override header is present
	storeHeader  bool     // a header some method reads its store from is present
}

func readRouteHeaders(cat *catalog.Catalog, h http.Header) routeHeaders {
	var rh routeHeaders
	for name, vals := range h {
		for _, o := range overrideHeaders {
			if equalHeader(name, o) {
				rh.overrides = append(rh.overrides, vals...)
			}
		}
		for _, o := range pathOverrideHeaders {
			rh.pathOverride = rh.pathOverride || equalHeader(name, o)
		}
		for _, o := range cat.StoreHeaders() {
			rh.storeHeader = rh.storeHeader || equalHeader(name, o)
		}
	}
	return rh
}

// overriddenMethod returns the method the request is checked as, given
// the values of its method-override headers. A method override is refused
// unless the catalog allows it; then only a POST may carry one, and every
// place naming it must agree.
func overriddenMethod(method, rawQuery string, named []string, allowed bool) (string, *refusal) {
	if rawQuery != "" {
		named = append(named, queryValues(rawQuery, overrideParam)...)
	}
	if len(named) == 0 {
		return method, nil
	}
	if !allowed {
		return "", invalidRequest("Method overrides (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, _method) are not accepted: send the request with the method itself.")
	}
	if method != http.MethodPost {
		return "", invalidRequest("Only a POST may carry a method override.")
	}
	over := strings.ToUpper(strings.TrimSpace(named[0]))
	for _, v := range named[1:] {
		if strings.ToUpper(strings.TrimSpace(v)) != over {
			return "", invalidRequest("The request names two different method overrides.")
		}
	}
	switch over {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return over, nil
	}
	return "", invalidRequest("The method override names no method of the API.")
}

// upgradeOf returns the protocol a request asks to switch to, refusing an
// upgrade the method does not allow.
func upgradeOf(m *catalog.Method, h http.Header) (string, *refusal) {
	up, hasUp := h["Upgrade"]
	asked := hasUp || headerHasToken(h["Connection"], "upgrade")
	if !asked {
		return "", nil
	}
	if m.Upgrade == "" {
		return "", invalidRequest("Connection upgrades are not accepted for " + m.ID + ": send plain HTTP/1.1 requests, each with its own credential.")
	}
	if len(up) != 1 || !strings.EqualFold(strings.TrimSpace(up[0]), m.Upgrade) || !headerHasToken(h["Connection"], "upgrade") {
		return "", invalidRequest(m.ID + " may switch only to " + m.Upgrade + ": send Connection: Upgrade and Upgrade: " + m.Upgrade + ".")
	}
	return m.Upgrade, nil
}

// headerHasToken reports whether a comma-separated header holds token,
// ignoring case.
func headerHasToken(vals []string, token string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// storeOf returns the store the request names at the method's store
// location. A store named more than once, or in a form that servers read
// differently, is refused rather than guessed.
func storeOf(m *catalog.Method, rawQuery string, h http.Header, p catalog.Params) (string, *refusal) {
	switch m.Store.In {
	case catalog.StorePath:
		return p.Get(m.Store.Name), nil
	case catalog.StoreQuery:
		return queryStore(rawQuery, m.Store.Name)
	case catalog.StoreHeader:
		for _, v := range h["Connection"] {
			for t := range strings.SplitSeq(v, ",") {
				if equalHeader(strings.TrimSpace(t), m.Store.Name) {
					// It would be dropped on the way, and the upstream
					// would act on no store in particular.
					return "", ambiguousStore("The Connection header names " + m.Store.Name + ", which would remove the store from the request.")
				}
			}
		}
		var vals []string
		for name, vs := range h {
			if equalHeader(name, m.Store.Name) {
				vals = append(vals, vs...)
			}
		}
		switch {
		case len(vals) == 0:
			return "", nil
		case len(vals) > 1:
			return "", ambiguousStore("The request names its store in " + m.Store.Name + " more than once; name it once.")
		case strings.IndexByte(vals[0], ',') >= 0:
			return "", ambiguousStore("The " + m.Store.Name + " header holds a list; name one store.")
		}
		return strings.TrimSpace(vals[0]), nil
	}
	return "", nil
}

// storeElsewhere refuses a request that names, where the catalog reads a
// store for other methods (a store parameter in the query, a store
// header), a store other than the one the method's own location names: an
// upstream may read it there instead.
func storeElsewhere(cat *catalog.Catalog, m *catalog.Method, store, rawQuery string, h http.Header) *refusal {
	if m.Store.In == catalog.StoreNone {
		return nil
	}
	for _, name := range cat.StoreParams() {
		if m.Store.In == catalog.StoreQuery && name == m.Store.Name {
			continue
		}
		if rawQuery == "" || !strings.Contains(rawQuery, name) {
			continue
		}
		if v, ref := queryStore(rawQuery, name); ref != nil {
			return ref
		} else if v != store && queryHas(rawQuery, name) {
			return ambiguousStore("The query names store " + strconv.Quote(v) + " in " + name + ", but the request acts on " + strconv.Quote(store) + ": name the store in one place.")
		}
	}
	for _, name := range cat.StoreHeaders() {
		if m.Store.In == catalog.StoreHeader && name == m.Store.Name {
			continue
		}
		for k, vs := range h {
			if !equalHeader(k, name) {
				continue
			}
			for _, v := range vs {
				if strings.TrimSpace(v) != store {
					return ambiguousStore("The " + name + " header names store " + strconv.Quote(v) + ", but the request acts on " + strconv.Quote(store) + ": name the store in one place.")
				}
			}
		}
	}
	return nil
}

// queryHas reports whether a raw query has the parameter name, with or
// without a value.
func queryHas(raw, name string) bool {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(pair, "="); k == name {
			return true
		}
	}
	return false
}

// queryStore reads the store parameter name from a raw query. Pairs are
// split on "&" and, as some servers do, on ";"; a name that some server
// could read as the store parameter but that is not exactly it (another
// case, a trailing "[…]") is ambiguous, as is the store named twice.
func queryStore(raw, name string) (string, *refusal) {
	var store string
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		semi := strings.IndexByte(pair, ';') >= 0
		for part := range strings.SplitSeq(pair, ";") {
			k, v, _ := strings.Cut(part, "=")
			same, exact := sameParam(k, name)
			if !same {
				continue
			}
			if semi || !exact {
				return "", ambiguousStore("The store parameter " + name + " must be a plain name=value pair separated by &, with its name exactly " + name + ".")
			}
			if n++; n > 1 {
				return "", ambiguousStore("The request names its store in " + name + " more than once; name it once.")
			}
			val, ok := unescape(v)
			if !ok {
				return "", ambiguousStore("The store parameter " + name + " is not validly percent-encoded.")
			}
			if !storeValueOK(val) {
				return "", ambiguousStore("The store parameter " + name + " holds a control character, a space at either end or a \"%\" to decode again: servers read it differently.")
			}
			store = val
		}
	}
	return store, nil
}

// sameParam reports whether a raw query parameter name could be read as
// name by some server (see foldName). exact is set when it is name itself.
func sameParam(raw, name string) (same, exact bool) {
	if raw == name {
		return true, true
	}
	if plainName(raw) {
		return strings.EqualFold(raw, name), false
	}
	return readsAs(raw, name), false
}

// queryValues returns every value of key in a raw query, splitting pairs on
// "&" and ";".
func queryValues(raw, key string) []string {
	if !strings.Contains(raw, key) && strings.IndexByte(raw, '%') < 0 {
		return nil
	}
	var out []string
	for part := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		if k, ok := unescape(k); ok && k == key {
			v, _ := unescape(v)
			out = append(out, v)
		}
	}
	return out
}

// bodyOverrides returns the _method fields of a form body, which some
// frameworks read as the method a POST stands for.
func bodyOverrides(contentType string, body []byte) []string {
	if len(body) == 0 || contentType == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		return queryValues(string(body), overrideParam)
	case "multipart/form-data":
		var out []string
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return out
			}
			if part.FormName() == overrideParam {
				v, _ := io.ReadAll(io.LimitReader(part, 64))
				out = append(out, string(v))
			}
		}
	}
	return nil
}

// checkBodyOverride refuses a form body naming a method other than the one
// the request was checked as.
func checkBodyOverride(rt *route, contentType string, body []byte, allowed bool) *refusal {
	named := bodyOverrides(contentType, body)
	if len(named) == 0 {
		return nil
	}
	if !allowed {
		return invalidRequest("Method overrides (a _method form field) are not accepted: send the request with the method itself.")
	}
	for _, v := range named {
		if !strings.EqualFold(strings.TrimSpace(v), rt.method) {
			return invalidRequest("The _method form field must name the method the request is checked as; name it in X-HTTP-Method-Override too.")
		}
	}
	return nil
}
