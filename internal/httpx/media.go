package httpx

import (
	"bufio"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
)

// JSONType is the media type of every JSON body keyward reads.
const JSONType = "application/json"

// BodyType applies keyward's one rule for the body of a write: a POST,
// PUT, PATCH or DELETE that carries a body declares it as JSON, with
// Content-Type application/json (charset utf-8 at most); a PATCH may also
// declare application/merge-patch+json, read the same way. Any other
// type, or none, is refused with 415 before anything is read or changed,
// so a body curl -d sends as a form is never taken for JSON. A write
// without a body needs no Content-Type.
func BodyType(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	if !hasBody(r) {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == JSONType {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	ok := err == nil && (mt == JSONType || mt == MergePatchType && r.Method == http.MethodPatch)
	for k, v := range params {
		ok = ok && k == "charset" && strings.EqualFold(v, "utf-8")
	}
	if ok {
		return nil
	}
	want := "Content-Type: " + JSONType
	if r.Method == http.MethodPatch {
		want = "Content-Type: " + MergePatchType + " (or " + JSONType + ")"
	}
	sent := "it was sent with no Content-Type"
	switch {
	case err == nil && len(mt) <= 100:
		sent = "it was sent as " + mt + ", which is not read"
	case ct != "":
		sent = "its Content-Type is not a media type"
	}
	return keyward.Errorf(keyward.EUnsupportedMedia, "send the body as JSON: %s; %s", want, sent)
}

// hasBody reports whether r carries a body of at least one byte. A body
// of unknown length is peeked at, and left whole for its reader.
func hasBody(r *http.Request) bool {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return false
	case r.ContentLength > 0:
		return true
	}
	br := bufio.NewReaderSize(r.Body, 16)
	_, err := br.Peek(1)
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return err == nil
}

// methodOrder is the order Allow lists methods in.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Allow lists the methods served, in the order an Allow header gives them:
// HEAD is served wherever GET is.
func Allow(served func(method string) bool) []string {
	var allow []string
	for _, m := range methodOrder {
		if served(m) || m == http.MethodHead && served(http.MethodGet) {
			allow = append(allow, m)
		}
	}
	return allow
}

// MethodNotAllowed answers a method a path does not serve: 405 with an
// Allow header naming the methods it does.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	Error(w, r, &keyward.Error{Code: keyward.EMethodNotAllowed,
		Message: "This endpoint serves " + strings.Join(allow, ", ") + " only. The API is described at /api/v1/openapi.json.",
		Details: map[string]any{"allow": allow}})
}

// Methods serves one path: each method by its handler, HEAD as GET where
// GET is served, and every other method (OPTIONS included) with 405 and
// Allow. Register it under the path alone.
type Methods map[string]http.Handler

func (m Methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := m[r.Method]
	if h == nil && r.Method == http.MethodHead {
		h = m[http.MethodGet]
	}
	if h == nil {
		MethodNotAllowed(w, r, Allow(func(method string) bool { return m[method] != nil }))
		return
	}
	h.ServeHTTP(w, r)
}
