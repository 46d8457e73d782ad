package connectortest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Receiver is a loopback server standing for a host a connection is moved
// to: it answers every request with an empty JSON object and keeps what
// each request carried, so a test can tell whether a secret reached it.
type Receiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

// NewReceiver starts a Receiver over plain HTTP on 127.0.0.1.
func NewReceiver(tb testing.TB) *Receiver {
	r := &Receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	// Every form keyward could send a secret in: as is, URL-encoded, and
	// inside HTTP Basic credentials.
	var b strings.Builder
	b.WriteString(req.URL.String() + "\n" + string(body) + "\n")
	if u, err := url.QueryUnescape(req.URL.RawQuery + "&" + string(body)); err == nil {
		b.WriteString(u + "\n")
	}
	for name, vs := range req.Header {
		for _, v := range vs {
			b.WriteString(name + ": " + v + "\n")
			if scheme, cred, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "basic") {
				if d, err := base64.StdEncoding.DecodeString(cred); err == nil {
					b.Write(append(d, '\n'))
				}
			}
		}
	}
	r.mu.Lock()
	r.seen = append(r.seen, b.String())
	r.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

// Requests counts the requests received.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// Got reports which of secrets any request carried, in any form.
func (r *Receiver) Got(secrets ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range secrets {
		for _, req := range r.seen {
			if s != "" && strings.Contains(req, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
