package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/replica"
)

// Events serves POST /v1/events: the platform sends an event, naming its
// store, to the tenant's webhook endpoints. The caller is an API key
// allowed the catalog's events.send method on that store; it is decided
// from the replica and rate-limited as the gateway does, and only the
// accepted event is written.
type Events struct {
	Replica *replica.Replica
	Limiter *ratelimit.Limiter
	// Send records the event for the key's tenant (service.SendEvent).
	Send func(ctx context.Context, tenantID string, in keyward.EventSend) (*keyward.Event, error)
}

// ServeHTTP answers one event.
func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); key == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		key = strings.TrimSpace(auth[7:])
	}
	m, ok := e.Replica.Catalog().Method(catalog.EventsSend)
	if !ok {
		httpx.Error(w, r, keyward.Errorf(keyward.ENotFound, "The API catalog declares no events, so none can be sent; see GET /api/v1/webhooks/event-types."))
		return
	}
	var in keyward.EventSend
	if err := httpx.DecodeMax(w, r, &in, maxEventBody); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		httpx.Error(w, r, keyward.Errorf(keyward.EUnauthenticated, "Send an API key allowed to send events as \"Authorization: Bearer <key>\" or X-API-Key."))
		return
	}
	if in.Store == "" {
		httpx.Error(w, r, keyward.Invalid("store", "store is required: the id or code of the store the event is about"))
		return
	}
	// The API listener resolves the client behind --trusted-proxies.
	res := e.Replica.VerifyFrom(key, m, in.Store, httpx.PeerIP(httpx.ClientAddr(r)))
	if res.Allowed() && e.Limiter != nil {
		if l := takeLimit(r.Context(), e.Limiter, &res, true); !l.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(l.RetryAfter, 1)))
			res = replica.Result{Code: keyward.CodeRateLimited, Cred: res.Cred, Tenant: res.Tenant}
		}
	}
	if !res.Allowed() {
		status, details := refusalStatus(&res)
		switch status {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "5")
		}
		httpx.WriteProblem(w, problemFor(status, res.Code, Message(&res, m), details))
		return
	}
	ev, err := e.Send(r.Context(), res.Cred.TenantID, in)
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	// The answer names the event; it never echoes the data sent.
	httpx.JSON(w, http.StatusAccepted, eventAccepted{ID: ev.ID, Type: ev.Type, Timestamp: ev.Timestamp, Stores: ev.Stores})
}

// maxEventBody bounds the body of POST /v1/events: the event's data
// (keyward.MaxEventData) and its type and store.
const maxEventBody = keyward.MaxEventData + 4<<10

// eventAccepted is the answer to an accepted event.
type eventAccepted struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Stores    []string  `json:"stores"`
}
