package service

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// LinkFields are a key request link's fields, in the order they are
// signed. Every field is signed, empty or not; sig follows them.
var LinkFields = []string{"integrator", "name", "description", "permissions", "stores", "methods",
	"key_expires_at", "delivery", "issued_at", "expires_at", "nonce"}

// linkPrefix starts the text a link's signature covers, so a signature
// made for anything else never passes as one.
const linkPrefix = "keyward.key-request.v1?"

// DefaultLinkLife is how long a link stays valid when it names no expiry;
// MaxLinkLife bounds any expiry it names.
const (
	DefaultLinkLife = 7 * 24 * time.Hour
	MaxLinkLife     = 30 * 24 * time.Hour
	// linkSkew is how far in the future a link's issued_at may be, for
	// clocks that disagree a little.
	linkSkew = 5 * time.Minute
)

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// CanonicalLink is the text a link's signature covers: linkPrefix and
// each field of LinkFields, in that order, as name=value with the value
// escaped as in a query string (space as +), joined by &.
func CanonicalLink(fields map[string]string) string {
	var b strings.Builder
	b.WriteString(linkPrefix)
	for i, f := range LinkFields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f)
		b.WriteByte('=')
		b.WriteString(queryEscape(fields[f]))
	}
	return b.String()
}

// queryEscape escapes as url.QueryEscape does; spelled here so that the
// rule the documentation gives is visibly this one.
func queryEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// SignLink returns a link's sig: the unpadded base64url HMAC-SHA256 of
// CanonicalLink, keyed by the integrator's signing secret (the bytes the
// base64 after whsec_ encodes).
func SignLink(secret string, fields map[string]string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) == 0 {
		return "", keyward.Invalid("secret", "a signing secret is whsec_ followed by base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(CanonicalLink(fields)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// LinkQuery returns a link's query string: its fields in order and sig.
func LinkQuery(fields map[string]string, sig string) string {
	q := strings.TrimPrefix(CanonicalLink(fields), linkPrefix)
	if sig != "" {
		q += "&sig=" + sig
	}
	return q
}

// badLink refuses a link: nothing is recorded.
func badLink(reason, format string, args ...any) error {
	e := keyward.Invalid("link", format, args...)
	e.Details = map[string]any{"reason": reason}
	return e
}

// readLink reads a link or its query string into its fields, refusing
// unknown and repeated fields.
func readLink(link string) (map[string]string, string, error) {
	if i := strings.IndexByte(link, '?'); i >= 0 {
		link = link[i+1:]
	}
	if i := strings.IndexByte(link, '#'); i >= 0 {
		link = link[:i]
	}
	fields := map[string]string{}
	sig, hasSig := "", false
	for _, part := range strings.Split(link, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		v, err := queryUnescape(value)
		if err != nil {
			return nil, "", badLink("malformed", "the link's %s is not escaped as a query string", name)
		}
		if name == "sig" {
			if hasSig {
				return nil, "", badLink("malformed", "the link names sig twice")
			}
			sig, hasSig = v, true
			continue
		}
		if !slices.Contains(LinkFields, name) {
			return nil, "", badLink("malformed", "the link has a field keyward does not know: %q", name)
		}
		if _, dup := fields[name]; dup {
			return nil, "", badLink("malformed", "the link names %s twice", name)
		}
		fields[name] = v
	}
	return fields, sig, nil
}

func queryUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", strconv.ErrSyntax
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// parsePermissions reads "orders:write,customers:read".
func (s *Service) parsePermissions(v string) (keyward.Permissions, error) {
	out := keyward.Permissions{}
	for _, item := range splitList(v) {
		res, lvl, _ := strings.Cut(item, ":")
		if !s.knownResource(res) {
			return nil, badLink("permissions", "the link asks for an unknown resource %q", res)
		}
		switch keyward.Level(lvl) {
		case keyward.LevelRead, keyward.LevelWrite:
			out[res] = keyward.Level(lvl)
		default:
			return nil, badLink("permissions", "the link's permission %q is not resource:read or resource:write", item)
		}
	}
	if len(out) == 0 {
		return nil, badLink("permissions", "the link asks for no permissions")
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// linkRequest is a link read and checked: the request to record.
type linkRequest struct {
	row        store.KeyRequestRow
	integrator *keyward.Integrator
}

// checkLink reads a link for the tenant: its signature when an integrator
// signed it, its life, and what it asks for.
func (s *Service) checkLink(ctx context.Context, q *store.Q, tenantID, link string) (*linkRequest, error) {
	f, sig, err := readLink(link)
	if err != nil {
		return nil, err
	}
	out := &linkRequest{}
	r := &keyward.KeyRequest{ID: keyward.NewID("krq"), TenantID: tenantID, Status: keyward.KeyRequestPending, CreatedAt: s.now(),
		Delivery: keyward.DeliveryPickup}
	out.row.KeyRequest = r
	if id := f["integrator"]; id != "" {
		it, sealed, err := q.Integrator(ctx, tenantID, id)
		if keyward.ErrorCode(err) == keyward.ENotFound {
			return nil, badLink("integrator", "the link names an integrator this tenant does not know (%s)", id)
		} else if err != nil {
			return nil, err
		}
		secret, err := s.integratorSecret(it, sealed)
		if err != nil {
			return nil, err
		}
		want, err := SignLink(secret, f)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal([]byte(sig), []byte(want)) {
			return nil, badLink("signature", "the link's signature does not match its fields: the link was changed after it was signed, or signed with another secret")
		}
		out.integrator = it
		r.IntegratorID, r.IntegratorName = it.ID, it.Name
		out.row.NonceScope = it.ID
	} else {
		if sig != "" {
			return nil, badLink("integrator", "the link is signed but names no integrator")
		}
		out.row.NonceScope = "tenant:" + tenantID
	}
	issued, err := strconv.ParseInt(f["issued_at"], 10, 64)
	if err != nil || issued <= 0 {
		return nil, badLink("issued_at", "the link's issued_at must be a time in Unix seconds")
	}
	issuedAt := time.Unix(issued, 0).UTC()
	if issuedAt.After(s.now().Add(linkSkew)) {
		return nil, badLink("issued_at", "the link was issued in the future")
	}
	expires := issuedAt.Add(DefaultLinkLife)
	if v := f["expires_at"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= issued || time.Unix(n, 0).Sub(issuedAt) > MaxLinkLife {
			return nil, badLink("expires_at", "the link's expires_at must be a time in Unix seconds after issued_at and at most 30 days after it")
		}
		expires = time.Unix(n, 0).UTC()
	}
	if !s.now().Before(expires) {
		return nil, badLink("expired", "the link expired at %s; ask the integrator for a new one", expires.Format(time.RFC3339))
	}
	r.LinkExpiresAt = expires
	if !nonceRE.MatchString(f["nonce"]) {
		return nil, badLink("nonce", "the link's nonce must be 16-128 letters, digits, hyphens or underscores")
	}
	out.row.Nonce = f["nonce"]
	switch f["delivery"] {
	case keyward.DeliveryCallback:
		if out.integrator == nil {
			// Never to a callback an unregistered link names: the key
			// goes through a pickup instead.
			break
		}
		if out.integrator.CallbackURL == "" {
			return nil, badLink("delivery", "the link asks for a callback, and integrator %s has no callback URL registered", out.integrator.Name)
		}
		r.Delivery = keyward.DeliveryCallback
	case keyward.DeliveryPickup, "":
	default:
		return nil, badLink("delivery", "the link's delivery must be \"callback\" or \"pickup\"")
	}
	// What the link asks for must make a valid key, within what the
	// integrator is registered for.
	ask := keyward.KeyAsk{Name: f["name"], Description: f["description"]}
	if ask.Permissions, err = s.parsePermissions(f["permissions"]); err != nil {
		return nil, err
	}
	if out.integrator != nil {
		for res, l := range ask.Permissions {
			if !out.integrator.Permissions[res].Allows(l) {
				return nil, badLink("permissions", "the link asks for %s on %s, more than integrator %s is registered for", l, res, out.integrator.Name)
			}
		}
	}
	switch st := f["stores"]; st {
	case "", keyward.StoresAll:
		ask.Stores = keyward.StoreAccess{Access: keyward.StoresAll}
	default:
		ask.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: splitList(st)}
	}
	if m := f["methods"]; m != "" {
		ask.Methods = splitList(m)
	}
	if v := f["key_expires_at"]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, badLink("key_expires_at", "the link's key_expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
		}
		t = t.UTC()
		ask.ExpiresAt = &t
	}
	k := askKey(tenantID, ask)
	if err := s.checkKey(ctx, q, k); err != nil {
		e := keyward.Invalid("link", "the link asks for a key keyward cannot make: %s", keyward.ErrorMessage(err))
		e.Details = map[string]any{"reason": "key", "field": keywardField(err)}
		return nil, e
	}
	if ask.ExpiresAt != nil && !ask.ExpiresAt.After(s.now()) {
		return nil, badLink("key_expires_at", "the link asks for a key that expires in the past")
	}
	ask.Permissions, ask.Stores, ask.Methods = k.Permissions, k.Stores, k.Methods
	r.Requested = ask
	return out, nil
}

func keywardField(err error) string {
	if e, ok := err.(*keyward.Error); ok {
		return e.Field
	}
	return ""
}

// askKey is the key a request would make, for checking it.
func askKey(tenantID string, a keyward.KeyAsk) *keyward.Key {
	return &keyward.Key{TenantID: tenantID, Name: a.Name, Description: a.Description, Permissions: maps.Clone(a.Permissions),
		Stores: keyward.StoreAccess{Access: a.Stores.Access, IDs: slices.Clone(a.Stores.IDs)}, Methods: slices.Clone(a.Methods), ExpiresAt: a.ExpiresAt}
}

// linkUsed refuses a link opened again: Details name the request it
// made.
func linkUsed(r *keyward.KeyRequest) error {
	return &keyward.Error{Code: keyward.EConflict, Message: "This link was already used; it made key request " + r.ID + ". A link asks for one key, once.",
		Details: map[string]any{"key_request_id": r.ID}}
}

// OpenKeyRequest records the request a link makes in the caller's tenant,
// for an administrator to approve or decline. A link is used once: opened
// again in the same tenant, it returns the request it made with
// created false; elsewhere it is refused.
func (s *Service) OpenKeyRequest(ctx context.Context, link string) (r *keyward.KeyRequest, created bool, err error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, false, err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		lr, err := s.checkLink(ctx, q, a.TenantID, link)
		if err != nil {
			return err
		}
		prev, err := q.KeyRequestByNonce(ctx, lr.row.NonceScope, lr.row.Nonce)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.TenantID != a.TenantID {
				return keyward.Errorf(keyward.EConflict, "This link was already used in another tenant. A link asks for one key, once; ask the integrator for a new one.")
			}
			r = s.withState(prev)
			return nil
		}
		if err := q.InsertKeyRequest(ctx, &lr.row); err != nil {
			if store.IsUnique(err) {
				return keyward.Errorf(keyward.EConflict, "This link was just used; open the Key requests page.")
			}
			return err
		}
		r, created = lr.row.KeyRequest, true
		return s.audit(ctx, q, a, a.TenantID, "key_request.open", "key_request", r.ID, map[string]any{
			"integrator": r.IntegratorName, "integrator_id": r.IntegratorID, "requested": r.Requested, "delivery": r.Delivery,
			"link_expires_at": r.LinkExpiresAt})
	})
	if err != nil {
		return nil, false, err
	}
	return r, created, nil
}

// withState reads a pending request whose link expired as expired.
func (s *Service) withState(r *keyward.KeyRequest) *keyward.KeyRequest {
	if r.Status == keyward.KeyRequestPending && !s.now().Before(r.LinkExpiresAt) {
		r.Status = keyward.KeyRequestExpired
	}
	return r
}

// KeyRequest returns one of the tenant's key requests.
func (s *Service) KeyRequest(ctx context.Context, id string) (*keyward.KeyRequest, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	r, err := s.db.Read().KeyRequest(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	return s.withState(r), nil
}

// ListKeyRequests lists the tenant's key requests, newest first: those of
// one status (pending, approved, declined, expired) or all ("").
func (s *Service) ListKeyRequests(ctx context.Context, status string, limit int) ([]*keyward.KeyRequest, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	switch status {
	case "", keyward.KeyRequestPending, keyward.KeyRequestApproved, keyward.KeyRequestDeclined, keyward.KeyRequestExpired:
	default:
		return nil, keyward.Invalid("status", "status must be pending, approved, declined or expired, not %q", status)
	}
	rs, err := s.db.Read().ListKeyRequests(ctx, a.TenantID, status, s.now(), clampLimit(limit))
	for _, r := range rs {
		s.withState(r)
	}
	return rs, err
}

// narrow applies an approval to what was asked: the grant, or a refusal
// when the approval asks for more than the request in any way.
func (s *Service) narrow(ctx context.Context, q *store.Q, tenantID string, ask keyward.KeyAsk, in keyward.KeyRequestApprove) (keyward.KeyAsk, error) {
	g := ask
	wider := func(field, format string, args ...any) error {
		e := keyward.Invalid(field, "An approval may narrow a request, never widen it: "+format, args...)
		e.Details = map[string]any{"reason": "widened"}
		return e
	}
	if in.Permissions != nil {
		g.Permissions = mergePermissions(nil, *in.Permissions, true)
		for res, l := range g.Permissions {
			if !ask.Permissions[res].Allows(l) {
				held := "nothing"
				if a := ask.Permissions[res]; a != keyward.LevelNone {
					held = string(a)
				}
				return g, wider("permissions", "the request asks for %s on %s, and the approval gives %s.", held, res, l)
			}
		}
		if len(g.Permissions) == 0 {
			return g, keyward.Invalid("permissions", "keep at least one permission, or decline the request")
		}
	}
	if in.Stores != nil {
		st, err := checkStores(ctx, q, tenantID, *in.Stores)
		if err != nil {
			return g, err
		}
		if ask.Stores.Access == keyward.StoresSelected {
			if st.Access != keyward.StoresSelected {
				return g, wider("stores", "the request asks for selected stores, and the approval gives every store.")
			}
			for _, id := range st.IDs {
				if !slices.Contains(ask.Stores.IDs, id) {
					return g, wider("stores", "the request does not ask for store %s.", id)
				}
			}
		}
		g.Stores = st
	}
	if in.Methods != nil {
		ms, err := s.catalog.Expand(*in.Methods)
		if err != nil {
			return g, err
		}
		ids := []string{}
		for _, m := range ms {
			if ask.Methods != nil && !slices.Contains(ask.Methods, m.ID) {
				return g, wider("methods", "the request does not ask for method %s.", m.ID)
			}
			ids = append(ids, m.ID)
		}
		g.Methods = ids
	}
	if g.Methods != nil {
		// Methods the narrowed permissions no longer allow go with them.
		kept := []string{}
		for _, id := range g.Methods {
			if m, ok := s.catalog.Method(id); !ok || g.Permissions[m.Resource].Allows(m.Access) {
				kept = append(kept, id)
			}
		}
		if len(kept) == 0 {
			return g, keyward.Invalid("methods", "the permissions granted allow none of the methods kept; keep a method they allow, or decline the request")
		}
		g.Methods = kept
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC()
		if ask.ExpiresAt != nil && t.After(*ask.ExpiresAt) {
			return g, wider("expires_at", "the request asks for a key that expires at %s, and the approval lets it live longer.", ask.ExpiresAt.Format(time.RFC3339))
		}
		g.ExpiresAt = &t
	}
	return g, nil
}

// callbackPayload is what an integrator's callback receives: the key and
// its two secrets, signed as webhooks are.
type callbackPayload struct {
	Type         string      `json:"type"`
	KeyRequestID string      `json:"key_request_id"`
	Timestamp    time.Time   `json:"timestamp"`
	Key          callbackKey `json:"key"`
}

type callbackKey struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	DisplayName string              `json:"display_name"`
	Permissions keyward.Permissions `json:"permissions"`
	Stores      keyward.StoreAccess `json:"stores"`
	Methods     []string            `json:"methods"`
	ExpiresAt   *time.Time          `json:"expires_at,omitempty"`
	Secrets     []callbackSecret    `json:"secrets"`
}

type callbackSecret struct {
	Slot   int    `json:"slot"`
	Secret string `json:"secret"`
}

// keyPayload is what the integrator receives of an approved key, at its
// callback or through the pickup: the key and its two secrets.
func keyPayload(r *keyward.KeyRequest, k *keyward.Key, now time.Time) []byte {
	p := callbackPayload{Type: "key_request.approved", KeyRequestID: r.ID, Timestamp: now, Key: callbackKey{ID: k.ID, Name: k.Name,
		DisplayName: k.DisplayName, Permissions: k.Permissions, Stores: k.Stores, Methods: k.Methods, ExpiresAt: k.ExpiresAt}}
	for _, sec := range k.Secrets {
		p.Key.Secrets = append(p.Key.Secrets, callbackSecret{Slot: sec.Slot, Secret: sec.Secret})
	}
	body, _ := json.Marshal(p)
	return body
}

// payloadPlace is where a key waiting for its callback is sealed.
func payloadPlace(tenantID, id string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: id, Field: "key_requests.payload_sealed"}
}

// ApproveKeyRequest approves a pending request, narrowed by in, and makes
// its key through the same path as the key form: the same rules, and the
// same audit entry naming the request. The key goes to the integrator's
// callback (its secrets never shown here), or through a one-time pickup.
func (s *Service) ApproveKeyRequest(ctx context.Context, id string, in keyward.KeyRequestApprove) (*keyward.KeyRequest, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	var out *keyward.KeyRequest
	err = s.db.Write(ctx, func(q *store.Q) error {
		r, err := s.pendingRequest(ctx, q, a.TenantID, id)
		if err != nil {
			return err
		}
		g, err := s.narrow(ctx, q, a.TenantID, r.Requested, in)
		if err != nil {
			return err
		}
		k, err := s.createKey(ctx, q, keyward.KeyCreate{Name: g.Name, Description: g.Description, Permissions: g.Permissions,
			Stores: g.Stores, Methods: g.Methods, ExpiresAt: g.ExpiresAt}, map[string]any{"key_request": r.ID, "integrator": r.IntegratorName})
		if err != nil {
			return err
		}
		g.Permissions, g.Stores, g.Methods, g.ExpiresAt = k.Permissions, k.Stores, k.Methods, k.ExpiresAt
		now := s.now()
		r.Status, r.Granted, r.KeyID, r.DecidedBy, r.DecidedAt = keyward.KeyRequestApproved, &g, k.ID, a.Name(), &now
		body := keyPayload(r, k, now)
		sealed := ""
		switch r.Delivery {
		case keyward.DeliveryCallback:
			sealed = string(s.keyring.Seal(body, payloadPlace(r.TenantID, r.ID)))
			r.DeliveryStatus = keyward.DeliveryPending
		default:
			who := cmp.Or(r.IntegratorName, "an unregistered integrator")
			h, err := s.createHandover(ctx, q, r.TenantID, keyward.HandoverCreate{Kind: keyward.HandoverKeyRequest, SubjectID: r.ID,
				Note: "Key " + k.Name + " for " + who}, string(body))
			if err != nil {
				return err
			}
			r.PickupURL = h.URL
		}
		ok, err := q.DecideKeyRequest(ctx, r, sealed)
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.EConflict, "Key request %s was decided meanwhile; reload it.", r.ID)
		}
		if sealed != "" {
			q.AfterCommit(s.wakeDispatch)
		}
		out = r
		return s.audit(ctx, q, a, a.TenantID, "key_request.approve", "key_request", r.ID, map[string]any{
			"key_id": k.ID, "granted": g, "delivery": r.Delivery, "integrator": r.IntegratorName})
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return out, nil
}

// pendingRequest returns a request that may still be decided.
func (s *Service) pendingRequest(ctx context.Context, q *store.Q, tenantID, id string) (*keyward.KeyRequest, error) {
	r, err := q.KeyRequest(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	switch s.withState(r).Status {
	case keyward.KeyRequestPending:
		if r.Delivery == keyward.DeliveryCallback && s.keyring == nil {
			return nil, keyward.Errorf(keyward.EUnavailable, "no master key is set, so the key cannot wait for its callback; the operator sets KEYWARD_MASTER_KEY")
		}
		return r, nil
	case keyward.KeyRequestExpired:
		return nil, keyward.Errorf(keyward.EConflict, "Key request %s expired at %s; ask the integrator for a new link.", r.ID, r.LinkExpiresAt.Format(time.RFC3339))
	}
	return nil, keyward.Errorf(keyward.EConflict, "Key request %s was already %s.", r.ID, r.Status)
}

// DeclineKeyRequest declines a pending request; no key is made.
func (s *Service) DeclineKeyRequest(ctx context.Context, id string) (*keyward.KeyRequest, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	var out *keyward.KeyRequest
	err = s.db.Write(ctx, func(q *store.Q) error {
		r, err := q.KeyRequest(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if st := s.withState(r).Status; st != keyward.KeyRequestPending && st != keyward.KeyRequestExpired {
			return keyward.Errorf(keyward.EConflict, "Key request %s was already %s.", r.ID, st)
		}
		now := s.now()
		r.Status, r.DecidedBy, r.DecidedAt = keyward.KeyRequestDeclined, a.Name(), &now
		ok, err := q.DecideKeyRequest(ctx, r, "")
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.EConflict, "Key request %s was decided meanwhile; reload it.", r.ID)
		}
		out = r
		return s.audit(ctx, q, a, a.TenantID, "key_request.decline", "key_request", r.ID, map[string]any{"integrator": r.IntegratorName})
	})
	return out, err
}

// ClaimCallbacks holds up to limit approved keys due at their integrators'
// callbacks until lease ends, and returns them ready to sign and send:
// EndpointID is the integrator, EventID (the webhook-id) the request. It
// checks no caller: it is the dispatcher's.
func (s *Service) ClaimCallbacks(ctx context.Context, limit int, lease time.Duration) ([]Due, error) {
	now := s.now()
	var claimed []store.DueCallback
	err := s.db.Write(ctx, func(q *store.Q) error {
		var err error
		claimed, err = q.ClaimCallbacks(ctx, now, now.Add(lease), limit)
		return err
	})
	if err != nil || s.keyring == nil {
		return nil, err
	}
	out := make([]Due, 0, len(claimed))
	for _, c := range claimed {
		d := Due{ID: c.ID, TenantID: c.TenantID, EndpointID: c.IntegratorID, EventID: c.ID, URL: c.URL, Attempt: c.Attempts + 1}
		body, err := s.keyring.Open(seal.Sealed(c.PayloadSealed), payloadPlace(c.TenantID, c.ID))
		if err == nil {
			d.Payload = body
			var sec []byte
			if sec, err = s.keyring.Open(seal.Sealed(c.SecretSealed), integratorSecretPlace(tenantOfIntegrator(c), c.IntegratorID)); err == nil {
				d.Secrets = []string{string(sec)}
			}
		}
		if err != nil {
			s.log.Error("key request callback cannot be opened", "key_request", c.ID, "err", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// tenantOfIntegrator is the tenant an integrator's secret is sealed for:
// "" for the platform's.
func tenantOfIntegrator(c store.DueCallback) string { return c.IntegratorTenant }

// RecordCallbacks writes the attempts at callbacks: delivered, retried on
// the webhook schedule, or failed after the last retry. Once delivered or
// failed, the key's secrets are erased from the request.
func (s *Service) RecordCallbacks(ctx context.Context, outs []Outcome) error {
	return s.db.Write(ctx, func(q *store.Q) error {
		for i := range outs {
			o := &outs[i]
			if o.Dropped {
				if err := q.ReleaseCallback(ctx, o.Due.ID); err != nil {
					return err
				}
				continue
			}
			status, next := keyward.DeliverySucceeded, (*time.Time)(nil)
			if !o.OK() {
				status, next = keyward.DeliveryFailed, retryAt(o)
				if next != nil {
					status = keyward.DeliveryPending
				}
			}
			if err := q.RecordCallback(ctx, o.Due.ID, status, o.At, o.StatusCode, o.Err, next); err != nil {
				return err
			}
		}
		return nil
	})
}
