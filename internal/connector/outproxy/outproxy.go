// Package outproxy is keyward's outbound proxy: the platform's services
// call an external system at /connections/{id}/<the system's path> on a
// listener of its own, and keyward adds the connection's credentials in
// the form the system expects, sends the request through the SSRF-safe
// outbound client, and strips credentials from the answer. Callers
// authenticate with a personal access token whose profile holds the
// Connectors feature; they never see the connection's secrets.
package outproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
)

// Service is what the proxy needs of the service layer.
type Service interface {
	Authenticate(ctx context.Context, token, address string) (*keyward.Actor, error)
	ConnectionCredentials(ctx context.Context, id string) (*keyward.Connection, *connector.Type, connector.Creds, error)
	StoreRotatedSecrets(ctx context.Context, id string, since time.Time, rotated map[string]string) error
}

// DefaultMaxBody is the largest request body forwarded unless set.
const DefaultMaxBody = 8 << 20

// Handler serves /connections/{id}/….
type Handler struct {
	Svc    Service
	Client *outbound.Client
	// MaxBody bounds a forwarded request body; 0 means DefaultMaxBody.
	MaxBody int64
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
}

// session holds a connection's short-lived values (see
// connector.Type.Session) for the credentials they were got with; its
// lock keeps two requests from getting one at once (a Fortnox refresh
// token works once).
type session struct {
	mu     sync.Mutex
	creds  string // when the credentials last changed, so a change drops it
	values map[string]string
	until  time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// sessionValues returns the connection's short-lived values, from the
// cache or got afresh; secrets the system rotated meanwhile are stored.
func (h *Handler) sessionValues(ctx context.Context, conn *keyward.Connection, t *connector.Type, c connector.Creds) (map[string]string, error) {
	h.mu.Lock()
	if h.sessions == nil {
		h.sessions = map[string]*session{}
	}
	s, ok := h.sessions[conn.ID]
	if !ok {
		s = &session{}
		h.sessions[conn.ID] = s
	}
	h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := conn.CredentialsChangedAt.String()
	if s.creds == changed && h.now().Before(s.until) {
		return s.values, nil
	}
	got, err := t.Session(ctx, h.Client, c, h.now())
	if err != nil {
		return nil, err
	}
	if len(got.Rotated) > 0 {
		if err := h.Svc.StoreRotatedSecrets(ctx, conn.ID, conn.CredentialsChangedAt, got.Rotated); err != nil {
			// The values serve now, but the stored secrets are spent:
			// the connection must be authorised again.
			h.log().ErrorContext(ctx, "outbound proxy: secrets rotated by the system could not be stored", "connection", conn.ID, "system", t.ID, "err", err)
		}
	}
	s.creds, s.values, s.until = changed, got.Values, got.Until
	return got.Values, nil
}

// hopHeaders are connection-level headers never forwarded either way.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length"}

// wholeAnswer are request headers of the caller's not forwarded, as the
// redaction needs the whole answer as text: without Accept-Encoding the
// client asks for a coding it decodes itself; a Range would let a caller
// fetch an echoed credential piece by piece, no piece whole.
var wholeAnswer = []string{"Accept-Encoding", "Range", "If-Range"}

// dropped reports whether a header is kept from crossing the proxy.
func dropped(name string) bool {
	name = http.CanonicalHeaderKey(name)
	return slices.Contains(hopHeaders, name) || slices.ContainsFunc(connector.CredentialHeaders, func(h string) bool { return http.CanonicalHeaderKey(h) == name }) ||
		strings.HasPrefix(name, "X-Forwarded-") || name == "Forwarded"
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// ServeHTTP forwards one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		if keyward.ErrorCode(err) == keyward.EUnauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		}
		httpx.Error(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/connections/")
	id, path, _ := strings.Cut(rest, "/")
	if !ok || id == "" {
		return keyward.Errorf(keyward.ENotFound, "Call /connections/{connection id}/<the system's path>.")
	}
	if !cleanPath(path) {
		return keyward.Invalid("path", "The path must not hold . or .. segments, encoded slashes or backslashes.")
	}
	actor, err := h.Svc.Authenticate(r.Context(), httpx.BearerToken(r), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if actor.Kind != keyward.ActorUser {
		return keyward.Errorf(keyward.EForbidden, "The outbound proxy needs a personal access token of a tenant user whose profile holds Connectors.")
	}
	ctx := keyward.WithActor(r.Context(), actor)
	conn, t, creds, err := h.Svc.ConnectionCredentials(ctx, id)
	if err != nil {
		return err
	}
	target := creds.APIURL + "/" + path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	max := h.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	var body io.Reader
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return keyward.Errorf(keyward.ETooLarge, "The request body is larger than %d bytes.", max)
			}
			return keyward.Errorf(keyward.EInvalid, "The request body could not be read.")
		}
		body = bytes.NewReader(b)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		return keyward.Invalid("path", "The request could not be formed for %s.", t.Name)
	}
	for name, vs := range r.Header {
		if !dropped(name) && !slices.Contains(wholeAnswer, http.CanonicalHeaderKey(name)) {
			out.Header[name] = slices.Clone(vs)
		}
	}
	if t.HasSession() {
		values, err := h.sessionValues(ctx, conn, t, creds)
		if err != nil {
			h.log().WarnContext(ctx, "outbound proxy: no session", "connection", conn.ID, "system", t.ID, "err", err)
			return &keyward.Error{Code: keyward.EUnavailable, Message: t.Name + " did not give keyward a session token for connection " + conn.Name + "; verify the connection, then try again.", Err: err}
		}
		for k, v := range values {
			creds.Values[k] = v
		}
		defer func() {
			for k := range values {
				delete(creds.Values, k)
			}
		}()
	}
	t.Authorize(out, creds)
	red := t.Redactor(creds, out)
	resp, err := h.Client.Do(out)
	if err != nil {
		h.log().WarnContext(ctx, "outbound proxy: no answer", "connection", conn.ID, "system", t.ID, "err", err)
		return &keyward.Error{Code: keyward.EUnavailable, Message: t.Name + " could not be reached through connection " + conn.Name + "; verify the connection, then try again.", Err: err}
	}
	defer resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		h.log().WarnContext(ctx, "outbound proxy: answer in a content coding keyward cannot read", "connection", conn.ID, "system", t.ID, "coding", ce)
		return keyward.Errorf(keyward.EUnavailable, "%s answered in a content coding keyward cannot read to remove credentials from (%s); the answer was withheld.", t.Name, ce)
	}
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return &keyward.Error{Code: keyward.EUnavailable, Message: t.Name + "'s answer could not be read whole (it may be larger than allowed).", Err: err}
	}
	// An answer echoing a credential, in any form keyward sent it in, gets
	// it blanked: in header names (the header is dropped), header values
	// and the body. Trailers are not passed on.
	for name, vs := range resp.Header {
		if dropped(name) || red.String(name) != name {
			continue
		}
		for _, v := range vs {
			w.Header().Add(name, red.String(v))
		}
	}
	answer = red.Bytes(answer)
	w.Header().Set("X-Keyward-Connection", conn.ID)
	w.WriteHeader(resp.StatusCode)
	_, err = w.Write(answer)
	if err != nil {
		h.log().DebugContext(ctx, "outbound proxy: client went away", "connection", conn.ID)
	}
	return nil
}

// cleanPath refuses dot segments, encoded slashes and backslashes, which
// servers read differently from one another.
func cleanPath(p string) bool {
	lower := strings.ToLower(p)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(p, `\`) || strings.Contains(lower, "%2e") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	_, err := url.PathUnescape(p)
	return err == nil
}
