package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/strictjson"
)

// IdempotencyHeader names the key a client sends so that a retried POST
// is answered, not done again (Stripe's semantics).
const IdempotencyHeader = "Idempotency-Key"

// replayedHeader marks an answer given again for a retried key.
const replayedHeader = "Idempotent-Replayed"

// keptHeaders are the headers of a first answer given again with it.
var keptHeaders = []string{"Content-Type", "ETag", "Location", "Cache-Control"}

// rerun are the POST routes that read a secret already stored rather than
// make one: they keep no answer under an Idempotency-Key but run every
// time, so each read is audited and sees the secret as it is now.
var rerun = map[string]bool{"POST /api/v1/connections/{id}/reveal": true}

// serve runs a route's handler. A POST of an authenticated route sent
// with an Idempotency-Key runs once per key: the same key, route, query
// and body (by meaning, see canonical) within 24 hours get the first
// answer again (secrets included, kept sealed in the meantime); the same
// key with another body, query or route is
// refused with 422; a retry while the first request runs gets 409. Keys
// are the caller's own, per route and credential, and a retry is
// answered only after adapt has authorized its caller for the route as it
// stands now, as for a first request. Any new POST route gets this by
// being in the route table.
func (a *API) serve(rt Route, w http.ResponseWriter, r *http.Request) {
	if err := unversioned(rt, r); err != nil {
		httpx.Error(w, r, err)
		return
	}
	key := r.Header.Get(IdempotencyHeader)
	if key == "" || r.Method != http.MethodPost || rt.Auth == AuthNone || rerun[rt.Method+" "+rt.Path] {
		if err := rt.Handler(w, r); err != nil {
			httpx.Error(w, r, err)
		}
		return
	}
	if err := a.idempotent(rt, key, w, r); err != nil {
		httpx.Error(w, r, err)
	}
}

func (a *API) idempotent(rt Route, key string, w http.ResponseWriter, r *http.Request) error {
	if len(key) > 255 || !printable(key) {
		return keyward.Invalid(IdempotencyHeader, "%s must be 1-255 printable ASCII characters, such as a UUID", IdempotencyHeader)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxBody))
	if err != nil {
		return keyward.Errorf(keyward.ETooLarge, "the body is larger than %d bytes", httpx.MaxBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	route := rt.Method + " " + rt.Path
	h := sha256.New()
	// The query is part of the request (a merchant Auth Key's ?grace=).
	io.WriteString(h, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	h.Write(canonical(body))
	first, err := a.svc.BeginIdempotent(r.Context(), key, route, hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		return err
	}
	if first != nil {
		// A kept answer may hold secrets: no cache keeps it again.
		w.Header().Set("Cache-Control", "no-store")
		for k, v := range first.Header {
			w.Header().Set(k, v)
		}
		w.Header().Set(replayedHeader, "true")
		w.WriteHeader(first.Status)
		w.Write(first.Body)
		return nil
	}
	// The claim is settled even when the client has gone or the handler
	// panics, so a retry is never held off by a request that ended.
	settle := context.WithoutCancel(r.Context())
	settled := false
	defer func() {
		if !settled {
			a.svc.AbandonIdempotent(settle, key)
		}
	}()
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	if err := rt.Handler(rec, r); err != nil {
		httpx.Error(rec, r, err)
	}
	ans := &service.IdempotentAnswer{Status: rec.status, Header: map[string]string{}, Body: rec.body.Bytes()}
	for _, k := range keptHeaders {
		if v := rec.header.Get(k); v != "" {
			ans.Header[k] = v
		}
	}
	// An answer the server failed to give, or a refusal for the rate, is
	// not the request's outcome: a retry must run it again.
	if rec.status >= 500 || rec.status == http.StatusTooManyRequests {
		err = a.svc.AbandonIdempotent(settle, key)
	} else {
		err = a.svc.FinishIdempotent(settle, key, ans)
	}
	if err != nil {
		return err
	}
	settled = true
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
	return nil
}

// canonical is the body as its meaning, so that a retry re-serialised
// (other spacing, members in another order, other escapes) is the same
// request: JSON strictjson lets through, re-encoded with sorted members.
// Numbers keep their text (1.0 and 1 differ), so none is rounded. A body
// that is not such JSON is compared as its bytes.
func canonical(body []byte) []byte {
	if strictjson.Check(body) != nil {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// recorder holds a handler's answer until it is kept.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
