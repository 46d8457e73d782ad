package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// HandoverPath is where one-time links open: HandoverPath + token.
const HandoverPath = "/h/"

// handoverCodeAlphabet leaves out letters and digits read alike (0 O, 1 I L).
const handoverCodeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// handoverCodeLen is the code's length, without the dash shown in its middle.
const handoverCodeLen = 8

// WithPublicURL sets the address users reach keyward at, such as
// https://keys.example.com, so that one-time links are answered whole.
func WithPublicURL(u string) Option {
	return func(s *Service) { s.publicURL = strings.TrimSuffix(u, "/") }
}

// handoverFeatures is the feature that manages each kind of one-time link.
var handoverFeatures = map[string]keyward.Feature{
	keyward.HandoverKeySecret:       keyward.FeatureAPIManagement,
	keyward.HandoverKeyRequest:      keyward.FeatureAPIManagement,
	keyward.HandoverMerchantAuthKey: keyward.FeatureMerchants,
	keyward.HandoverWebhookSecret:   keyward.FeatureWebhooks,
}

func handoverPlace(tenantID, id string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: id, Field: "handovers.secret_sealed"}
}

func hashHex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// handoverCodeHash binds the code to its link, so equal codes of two
// links hash apart.
func handoverCodeHash(id, code string) string { return hashHex(id + ":" + code) }

// normaliseHandoverCode reads a code as typed: any case, with or without
// its dash and spaces.
func normaliseHandoverCode(c string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', ' ', '\t':
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, c)
}

func newHandoverCode() string {
	b := make([]byte, handoverCodeLen)
	for i := range b {
		b[i] = handoverCodeAlphabet[randIntn(len(handoverCodeAlphabet))]
	}
	return string(b)
}

// randIntn returns a uniform random number in [0, n), n ≤ 256.
func randIntn(n int) int {
	var b [1]byte
	limit := 256 - 256%n
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// CreateHandover keeps secret sealed behind a new one-time link for the
// subject in, and answers the link (and its code, when one is required)
// once. The caller needs the feature that manages the subject, and the
// secret must be the subject's current one (key requests excepted, whose
// secret is made when the request is approved).
func (s *Service) CreateHandover(ctx context.Context, in keyward.HandoverCreate, plain string) (*keyward.Handover, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	a, err := tenantActor(ctx, handoverFeatures[in.Kind])
	if err != nil {
		return nil, err
	}
	if plain == "" {
		return nil, keyward.Invalid("secret", "secret must be the secret to hand over")
	}
	var out *keyward.Handover
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := s.checkHandoverSecret(ctx, q, a.TenantID, in.Kind, in.SubjectID, plain); err != nil {
			return err
		}
		out, err = s.createHandover(ctx, q, a.TenantID, in, plain)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkHandoverSecret refuses a secret that is not the subject's current one.
func (s *Service) checkHandoverSecret(ctx context.Context, q *store.Q, tenantID, kind, subjectID, plain string) error {
	wrong := keyward.Invalid("secret", "secret is not a current secret of %s", subjectID)
	d := secret.Digest(plain)
	switch kind {
	case keyward.HandoverKeySecret:
		k, err := q.Key(ctx, tenantID, subjectID)
		if err != nil {
			return err
		}
		for _, ks := range k.Secrets {
			if subtle.ConstantTimeCompare(ks.Digest, d[:]) == 1 && (ks.ExpiresAt == nil || s.now().Before(*ks.ExpiresAt)) {
				return nil
			}
		}
		return wrong
	case keyward.HandoverMerchantAuthKey:
		u, err := q.MerchantUser(ctx, tenantID, subjectID)
		if err != nil {
			return err
		}
		if u.ID != subjectID || !u.APIAccess || subtle.ConstantTimeCompare(u.AuthKeyDigest, d[:]) != 1 {
			return wrong
		}
		return nil
	case keyward.HandoverWebhookSecret:
		v, err := q.WebhookSealedSecrets(ctx, tenantID, subjectID)
		if err != nil {
			return err
		}
		cur, err := s.openWebhookSecrets(tenantID, subjectID, v)
		if err != nil {
			return err
		}
		if len(cur) == 0 || subtle.ConstantTimeCompare([]byte(cur[0]), []byte(plain)) != 1 {
			return wrong
		}
		return nil
	}
	return nil
}

// createHandover is CreateHandover within the transaction q, for callers
// that make the secret in that same transaction: it checks neither the
// caller's features nor the secret. The actor in ctx, or the system when
// none, is audited as its creator.
func (s *Service) createHandover(ctx context.Context, q *store.Q, tenantID string, in keyward.HandoverCreate, plain string) (*keyward.Handover, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "one-time links need a master key to keep the secret sealed; the operator sets KEYWARD_MASTER_KEY")
	}
	a := keyward.ActorFrom(ctx)
	if a == nil {
		a = &keyward.Actor{Kind: keyward.ActorSystem, TenantID: tenantID}
	}
	ttl := in.TTL
	if ttl == 0 {
		ttl = keyward.DefaultHandoverTTL
	}
	now := s.now()
	h := &keyward.Handover{
		ID: keyward.NewID("hnd"), TenantID: tenantID, Kind: in.Kind, SubjectID: in.SubjectID, Note: in.Note,
		CreatedBy: a.Name(), CreatedAt: now, ExpiresAt: now.Add(ttl), CodeRequired: in.RequireCode,
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	st := store.HandoverSeal{Sealed: string(s.keyring.Seal([]byte(plain), handoverPlace(tenantID, h.ID)))}
	if in.RequireCode {
		h.Code = newHandoverCode()
		st.CodeHash = handoverCodeHash(h.ID, h.Code)
		h.Code = h.Code[:4] + "-" + h.Code[4:]
	}
	if err := q.InsertHandover(ctx, h, hashHex(token), st); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, q, a, tenantID, "handover.create", "handover", h.ID, map[string]any{
		"kind": h.Kind, "subject_id": h.SubjectID, "expires_at": h.ExpiresAt, "code_required": h.CodeRequired,
	}); err != nil {
		return nil, err
	}
	h.URL = s.publicURL + HandoverPath + token
	h.State = keyward.HandoverWaiting
	return h, nil
}

// ListHandovers lists the tenant's one-time links, newest first, of the
// kinds the caller's features manage.
func (s *Service) ListHandovers(ctx context.Context, f keyward.HandoverFilter) ([]*keyward.Handover, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, k := range keyward.HandoverKinds {
		if (f.Kind == "" || f.Kind == k) && a.Features.Has(handoverFeatures[k]) {
			kinds = append(kinds, k)
		}
	}
	if f.Kind != "" && len(kinds) == 0 {
		if _, err := tenantActor(ctx, handoverFeatures[f.Kind]); err != nil {
			return nil, err
		}
		return nil, keyward.Invalid("kind", "kind must be one of key_secret, merchant_auth_key, webhook_secret, key_request")
	}
	switch f.State {
	case "", keyward.HandoverWaiting, keyward.HandoverOpened, keyward.HandoverExpired, keyward.HandoverBurned:
	default:
		return nil, keyward.Invalid("state", "state must be one of waiting, opened, expired, burned")
	}
	f.Limit = clampLimit(f.Limit)
	now := s.now()
	hs, err := s.db.Read().ListHandovers(ctx, a.TenantID, kinds, f, now)
	if err != nil {
		return nil, err
	}
	out := make([]*keyward.Handover, 0, len(hs))
	for _, h := range hs {
		h.State = keyward.HandoverState(h, now)
		out = append(out, h)
	}
	return out, nil
}

// Handover returns one of the tenant's one-time links.
func (s *Service) Handover(ctx context.Context, id string) (*keyward.Handover, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	h, err := s.db.Read().Handover(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	if _, err := tenantActor(ctx, handoverFeatures[h.Kind]); err != nil {
		return nil, keyward.Errorf(keyward.ENotFound, "no one-time link %q in this tenant", id)
	}
	h.State = keyward.HandoverState(h, s.now())
	return h, nil
}

// errHandoverUnknown answers a token no link has.
var errHandoverUnknown = keyward.Errorf(keyward.ENotFound, "This link is not valid: it may be mistyped or incomplete. Ask whoever sent it for a new one.")

// handoverClosed is the error for a link that no longer opens.
func handoverClosed(h *keyward.Handover) error {
	msg := map[string]string{
		keyward.HandoverOpened:  "This link was already opened; a link opens only once. If it was not you, ask the administrator who sent it to replace the secret.",
		keyward.HandoverExpired: "This link has expired unopened. Ask the administrator who sent it for a new one.",
		keyward.HandoverBurned:  "This link no longer opens: a wrong code was entered too many times. Ask the administrator who sent it for a new one.",
	}[h.State]
	return &keyward.Error{Code: keyward.EConflict, Message: msg, Details: map[string]any{"state": h.State}}
}

// PeekHandover returns the one-time link with token without opening it,
// for the page that asks before revealing the secret, so that a link
// previewer fetching the link does not use it up.
func (s *Service) PeekHandover(ctx context.Context, token string) (*keyward.Handover, error) {
	if token == "" || len(token) > 100 {
		return nil, errHandoverUnknown
	}
	h, _, err := s.db.Read().HandoverByToken(ctx, hashHex(token))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errHandoverUnknown
	}
	h.State = keyward.HandoverState(h, s.now())
	return h, nil
}

// OpenHandover opens the one-time link with token once, with its code
// when it requires one, and answers its secret; the sealed copy is
// destroyed in the same transaction, so of several opens, on any nodes,
// one gets the secret. A link that no longer opens is answered with an
// error and the link (its state, when and from where it was opened). A
// missing code is refused without counting; MaxHandoverCodeAttempts wrong
// ones burn the link. clientAddr is recorded as where it was opened from.
func (s *Service) OpenHandover(ctx context.Context, token, code, clientAddr string) (string, *keyward.Handover, error) {
	if token == "" || len(token) > 100 {
		return "", nil, errHandoverUnknown
	}
	h, st, err := s.db.Read().HandoverByToken(ctx, hashHex(token))
	if err != nil {
		return "", nil, err
	}
	if h == nil {
		return "", nil, errHandoverUnknown
	}
	now := s.now()
	h.State = keyward.HandoverState(h, now)
	switch h.State {
	case keyward.HandoverExpired:
		if err := s.expireHandover(ctx, h); err != nil {
			return "", nil, err
		}
		return "", h, handoverClosed(h)
	case keyward.HandoverOpened, keyward.HandoverBurned:
		return "", h, handoverClosed(h)
	}
	if h.CodeRequired {
		c := normaliseHandoverCode(code)
		if c == "" {
			return "", h, keyward.Invalid("code", "This link asks for a code, sent to you separately. Enter it to reveal the secret.")
		}
		if subtle.ConstantTimeCompare([]byte(handoverCodeHash(h.ID, c)), []byte(st.CodeHash)) != 1 {
			return s.wrongHandoverCode(ctx, h, clientAddr)
		}
	}
	if s.keyring == nil {
		return "", nil, keyward.Errorf(keyward.EUnavailable, "no master key is set, so the secret of this link cannot be opened")
	}
	var plain string
	actor := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: h.TenantID, Address: clientAddr}
	err = s.db.Write(ctx, func(q *store.Q) error {
		ok, err := q.OpenHandover(ctx, h.ID, now, clientAddr)
		if err != nil {
			return err
		}
		if !ok {
			plain = ""
			return nil
		}
		// The copy read before is the one this update dropped: a sealed
		// secret is never written again, only set to NULL.
		b, err := s.keyring.Open(seal.Sealed(st.Sealed), handoverPlace(h.TenantID, h.ID))
		if err != nil {
			return &keyward.Error{Code: keyward.EInternal, Message: "the secret of this link does not open", Err: err}
		}
		plain = string(b)
		if err := s.emit(ctx, q, h.TenantID, nil, "handover.opened", map[string]any{
			"handover_id": h.ID, "kind": h.Kind, "subject_id": h.SubjectID, "opened_at": now,
		}); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, h.TenantID, "handover.open", "handover", h.ID, map[string]any{
			"kind": h.Kind, "subject_id": h.SubjectID, "opened_from": clientAddr,
		})
	})
	if err != nil {
		return "", nil, err
	}
	if h, err = s.reloadHandover(ctx, h); err != nil {
		return "", nil, err
	}
	if plain == "" {
		return "", h, handoverClosed(h)
	}
	return plain, h, nil
}

// wrongHandoverCode counts a wrong code, burns the link at the last
// allowed one, and answers how many tries are left.
func (s *Service) wrongHandoverCode(ctx context.Context, h *keyward.Handover, clientAddr string) (string, *keyward.Handover, error) {
	var n int
	err := s.db.Write(ctx, func(q *store.Q) error {
		var err error
		if n, err = q.FailHandoverCode(ctx, h.ID); err != nil || n < keyward.MaxHandoverCodeAttempts {
			return err
		}
		burned, err := q.BurnHandover(ctx, h.ID, s.now())
		if err != nil || !burned {
			return err
		}
		a := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: h.TenantID, Address: clientAddr}
		return s.audit(ctx, q, a, h.TenantID, "handover.burn", "handover", h.ID, map[string]any{
			"kind": h.Kind, "subject_id": h.SubjectID, "failed_codes": n,
		})
	})
	if err != nil {
		return "", nil, err
	}
	if h, err = s.reloadHandover(ctx, h); err != nil {
		return "", nil, err
	}
	if h.State != keyward.HandoverWaiting {
		return "", h, handoverClosed(h)
	}
	left := keyward.MaxHandoverCodeAttempts - h.FailedCodes
	e := keyward.Invalid("code", "The code is not right; %d tries left before the link stops working.", left)
	e.Details = map[string]any{"tries_left": left}
	return "", h, e
}

func (s *Service) reloadHandover(ctx context.Context, h *keyward.Handover) (*keyward.Handover, error) {
	n, err := s.db.Read().Handover(ctx, h.TenantID, h.ID)
	if err != nil {
		return nil, err
	}
	n.State = keyward.HandoverState(n, s.now())
	return n, nil
}

// expireHandover destroys the sealed copy of the expired link h, and
// audits it once.
func (s *Service) expireHandover(ctx context.Context, h *keyward.Handover) error {
	return s.db.Write(ctx, func(q *store.Q) error {
		ok, err := q.ExpireHandover(ctx, h.ID, s.now())
		if err != nil || !ok {
			return err
		}
		a := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: h.TenantID}
		return s.audit(ctx, q, a, h.TenantID, "handover.expire", "handover", h.ID, map[string]any{
			"kind": h.Kind, "subject_id": h.SubjectID, "expires_at": h.ExpiresAt,
		})
	})
}

// ExpireHandovers destroys the sealed copies of links that expired
// unopened, batch at a time, and returns how many it destroyed. Nodes
// sharing a database may run it at once: each copy is destroyed, and
// audited, once.
func (s *Service) ExpireHandovers(ctx context.Context, batch int) (int, error) {
	total := 0
	for {
		hs, err := s.db.Read().ExpiredHandovers(ctx, s.now(), batch)
		if err != nil || len(hs) == 0 {
			return total, err
		}
		for _, h := range hs {
			if err := s.expireHandover(ctx, h); err != nil {
				return total, err
			}
		}
		total += len(hs)
		if len(hs) < batch {
			return total, nil
		}
	}
}
