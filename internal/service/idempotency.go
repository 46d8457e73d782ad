package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// IdempotencyWindow is how long the first answer to a request sent with
// an Idempotency-Key is kept, and so how long a retry gets it again.
const IdempotencyWindow = 24 * time.Hour

// IdempotentAnswer is a kept answer: its status, the headers a client
// reads from it and its body, which may hold secrets shown once.
type IdempotentAnswer struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header,omitempty"`
	Body   []byte            `json:"body"`
}

// idempotencyScope is who a key belongs to: one credential's keys never
// meet another's, not even another token of the same user, so no one is
// answered with secrets shown to another credential.
func idempotencyScope(ctx context.Context) (scope, tenantID string, err error) {
	a := keyward.ActorFrom(ctx)
	switch {
	case a == nil:
		return "", "", keyward.Errorf(keyward.EUnauthenticated, "Authenticate to send an Idempotency-Key.")
	case a.Kind == keyward.ActorOperator:
		return "operator", "", nil
	case a.MerchantID != "":
		return "merchant:" + a.TenantID + ":" + a.UserID, a.TenantID, nil
	}
	return "user:" + a.TenantID + ":" + a.UserID + ":" + a.TokenID, a.TenantID, nil
}

func idempotencyPlace(tenantID, scope, key string) seal.Place {
	id := sha256.Sum256([]byte(scope + "\x00" + key))
	return seal.Place{TenantID: tenantID, RecordID: hex.EncodeToString(id[:16]), Field: "idempotency_keys.response"}
}

// BeginIdempotent claims the caller's Idempotency-Key for a request on
// route whose method, path and body hash to requestHash (Stripe's
// semantics). It returns the first answer when the key was used for the
// same request within IdempotencyWindow, nil when this request is the
// first (it must then call FinishIdempotent or AbandonIdempotent), and an
// error when the key was used for another request (idempotency_key_reused)
// or its first request is still running (conflict).
func (s *Service) BeginIdempotent(ctx context.Context, key, route, requestHash string) (*IdempotentAnswer, error) {
	scope, tenantID, err := idempotencyScope(ctx)
	if err != nil {
		return nil, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "Idempotency-Key needs a master key to keep answers sealed; this node has none. Send the request without it or ask the operator to set KEYWARD_MASTER_KEY.")
	}
	now := s.now()
	var got *store.Idempotency
	var mine bool
	err = s.db.Write(ctx, func(q *store.Q) error {
		got, mine, err = q.ClaimIdempotency(ctx, &store.Idempotency{ID: idempotencyPlace(tenantID, scope, key).RecordID, Scope: scope, Key: key, Route: route, RequestHash: requestHash, CreatedAt: now, ExpiresAt: now.Add(IdempotencyWindow)})
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case mine:
		return nil, nil
	case got.Route != route || got.RequestHash != requestHash:
		return nil, &keyward.Error{Code: keyward.EIdempotencyMismatch,
			Message: "This Idempotency-Key was sent with another request in the last 24 hours; a retry must repeat the same method, path and body. Use a new key for a new request."}
	case got.Status == 0:
		return nil, keyward.Errorf(keyward.EConflict, "The first request sent with this Idempotency-Key is still running; retry shortly to get its answer.")
	}
	plain, err := s.keyring.Open(seal.Sealed(got.Response), idempotencyPlace(tenantID, scope, key))
	if err != nil {
		return nil, err
	}
	var ans IdempotentAnswer
	if err := json.Unmarshal(plain, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// FinishIdempotent keeps the first answer to the caller's claimed key,
// sealed, until the window ends.
func (s *Service) FinishIdempotent(ctx context.Context, key string, ans *IdempotentAnswer) error {
	scope, tenantID, err := idempotencyScope(ctx)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(ans)
	if err != nil {
		return err
	}
	sealed := s.keyring.Seal(plain, idempotencyPlace(tenantID, scope, key))
	return s.db.Write(ctx, func(q *store.Q) error {
		return q.FinishIdempotency(ctx, scope, key, ans.Status, string(sealed))
	})
}

// AbandonIdempotent releases the caller's claimed key without keeping an
// answer (the request failed on the server's side), so a retry runs again.
func (s *Service) AbandonIdempotent(ctx context.Context, key string) error {
	scope, _, err := idempotencyScope(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error { return q.ReleaseIdempotency(ctx, scope, key) })
}
