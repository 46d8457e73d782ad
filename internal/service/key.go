package service

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// KeySlots is the number of secrets a key holds, each usable on its own,
// so one can be replaced while the other keeps working.
const KeySlots = 2

// licenceRequired answers key management on a tenant without an active
// licence.
func (s *Service) licenceRequired() error {
	return keyward.Errorf(keyward.ELicenceRequired,
		"A licence is required to use API keys, and this tenant has no active one. Contact %s to obtain a licence.", s.licenceContact)
}

// keyActor returns the caller, who needs API Management, and with
// needLicence an active licence for the tenant.
func (s *Service) keyActor(ctx context.Context, q *store.Q, needLicence bool) (*keyward.Actor, *keyward.Licence, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, nil, err
	}
	l, err := q.Licence(ctx, a.TenantID)
	if err != nil {
		return nil, nil, err
	}
	if needLicence && !l.Active(s.now()) {
		return nil, nil, s.licenceRequired()
	}
	return a, l, nil
}

// checkKey validates a key's settings against the catalog and the
// tenant's stores, normalising store codes to ids and blocks to methods.
func (s *Service) checkKey(ctx context.Context, q *store.Q, k *keyward.Key) error {
	if !keyNameRE.MatchString(k.Name) {
		return keyward.Invalid("name", "name %q must be 1-64 letters, digits, dots, hyphens or underscores, starting with a letter or digit, e.g. \"THQ\"", k.Name)
	}
	if err := keyward.ValidText("description", k.Description, 500); err != nil {
		return err
	}
	if k.RateLimit < 0 {
		return keyward.Invalid("rate_limit", "rate_limit must be 0 (the licence's limit only) or more requests per second")
	}
	if err := checkAddresses(&k.AllowedAddresses); err != nil {
		return err
	}
	if err := checkQuota(k.Quota); err != nil {
		return err
	}
	// "none" and null read as no access, which is the same as leaving the
	// resource out.
	k.Permissions = mergePermissions(nil, k.Permissions, true)
	switch k.Stores.Access {
	case "":
		k.Stores.Access = keyward.StoresAll
		fallthrough
	case keyward.StoresAll:
		if len(k.Stores.IDs) > 0 {
			return keyward.Invalid("stores", "stores.ids must be empty when access is \"all\"; use access \"selected\" to choose stores")
		}
	case keyward.StoresSelected:
		if len(k.Stores.IDs) == 0 {
			return keyward.Invalid("stores", "select at least one store, or use access \"all\"")
		}
		ids := make([]string, 0, len(k.Stores.IDs))
		for _, ref := range k.Stores.IDs {
			st, err := q.Store(ctx, k.TenantID, ref)
			if keyward.ErrorCode(err) == keyward.ENotFound {
				return keyward.Invalid("stores", "unknown store %q; list stores at GET /api/v1/stores", ref)
			} else if err != nil {
				return err
			}
			if !slices.Contains(ids, st.ID) {
				ids = append(ids, st.ID)
			}
		}
		slices.Sort(ids)
		k.Stores.IDs = ids
	default:
		return keyward.Invalid("stores", "stores.access must be \"all\" or \"selected\", not %q", k.Stores.Access)
	}
	if k.Methods != nil && len(k.Methods) == 0 {
		return keyward.Invalid("methods", "methods is an empty allowlist, which would refuse every method; name methods or blocks, or use null to allow every method the permissions allow")
	}
	if k.Methods != nil {
		if err := s.checkMethodPermissions(k); err != nil {
			return err
		}
		ms, err := s.catalog.Expand(k.Methods)
		if err != nil {
			return err
		}
		// A block named keeps only the methods the permissions allow, so
		// "Orders" under orders: read means the block's read methods.
		ids := make([]string, 0, len(ms))
		for _, m := range ms {
			if k.Permissions[m.Resource].Allows(m.Access) && !slices.Contains(ids, m.ID) {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) == 0 {
			return keyward.Invalid("methods", "the permissions allow none of the methods named; give the key read or write on their resources, or name other methods")
		}
		k.Methods = ids
	}
	if _, err := policy.Compile(s.catalog, keySpec(k, nil)); err != nil {
		return err
	}
	k.Warnings = s.keyWarnings(k)
	return nil
}

// checkMethodPermissions refuses a method named in the allowlist that the
// key's permissions cannot allow: the key could never call it.
func (s *Service) checkMethodPermissions(k *keyward.Key) error {
	for _, ref := range k.Methods {
		m, ok := s.catalog.Method(ref)
		if !ok || k.Permissions[m.Resource].Allows(m.Access) {
			continue
		}
		held := "no access"
		if l := k.Permissions[m.Resource]; l != keyward.LevelNone {
			held = "only " + string(l)
		}
		return &keyward.Error{Code: keyward.EInvalid, Field: "methods",
			Message: "method " + m.ID + " needs " + string(m.Access) + " permission on " + m.Resource + ", and this key has " + held + " there; give the key " +
				string(m.Access) + " on " + m.Resource + " or leave the method out",
			Details: map[string]any{"method": m.ID, "resource": m.Resource, "level": string(m.Access)}}
	}
	return nil
}

// KeyWarnings names what makes a key useless, such as permissions that
// allow no method of the catalog; none for a key that can call something.
func (s *Service) KeyWarnings(k *keyward.Key) []string { return s.keyWarnings(k) }

func (s *Service) keyWarnings(k *keyward.Key) []string {
	for _, m := range s.catalog.Methods() {
		if !k.Permissions[m.Resource].Allows(m.Access) {
			continue
		}
		if k.Methods == nil || slices.Contains(k.Methods, m.ID) {
			return nil
		}
	}
	if len(k.Permissions) == 0 {
		return []string{"This key can call nothing: it has no permissions. Give it read or read & write on the resources the integration uses."}
	}
	return []string{"This key can call nothing: its permissions allow no method of the platform's API."}
}

// keySpec is the policy input for a key; codes adds store codes so a
// request may name a store by code as well as by id.
func keySpec(k *keyward.Key, codes map[string]string) policy.Spec {
	sp := policy.Spec{Permissions: k.Permissions, AllStores: k.Stores.Access != keyward.StoresSelected, Methods: k.Methods, ExpiresAt: k.ExpiresAt}
	sp.Addresses = k.AllowedAddresses
	for _, id := range k.Stores.IDs {
		sp.Stores = append(sp.Stores, id)
		if c := codes[id]; c != "" {
			sp.Stores = append(sp.Stores, c)
		}
	}
	return sp
}

// KeySpec returns the policy input for a key, for the data plane.
func KeySpec(k *keyward.Key, codes map[string]string) policy.Spec { return keySpec(k, codes) }

// newSecret makes a secret for a key's slot; the plain text is set on the
// returned value only, for the one answer that shows it.
func (s *Service) newSecret(keyID string, slot int) keyward.KeySecret {
	plain := secret.Generate(secret.KindAPIKey)
	d := secret.Digest(plain)
	return keyward.KeySecret{ID: keyward.NewID("sec"), KeyID: keyID, Slot: slot, Hint: secret.Hint(plain), Digest: d[:], CreatedAt: s.now(), Secret: plain}
}

// CreateKey issues a key with two secrets, shown only in the answer.
func (s *Service) CreateKey(ctx context.Context, in keyward.KeyCreate) (*keyward.Key, error) {
	var out *keyward.Key
	err := s.db.Write(ctx, func(q *store.Q) error {
		var err error
		out, err = s.createKey(ctx, q, in, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return out, nil
}

// createKey issues a key within the transaction q, the one way every key
// is made; audit adds details to the audit entry (such as the key request
// it answers).
func (s *Service) createKey(ctx context.Context, q *store.Q, in keyward.KeyCreate, audit map[string]any) (*keyward.Key, error) {
	// The tenant's row is locked before the licence and the count are
	// read, so concurrent creations (and licence changes) take turns
	// and max_keys holds.
	if a, err := tenantActor(ctx, keyward.FeatureAPIManagement); err != nil {
		return nil, err
	} else if err := q.LockTenant(ctx, a.TenantID); err != nil {
		return nil, err
	}
	a, l, err := s.keyActor(ctx, q, true)
	if err != nil {
		return nil, err
	}
	if l.MaxKeys > 0 {
		n, err := q.CountKeys(ctx, a.TenantID)
		if err != nil {
			return nil, err
		}
		if n >= l.MaxKeys {
			return nil, keyward.Errorf(keyward.ELimitExceeded, "The licence allows %d API keys and the tenant has %d; delete a key or contact %s to raise the limit.", l.MaxKeys, n, s.licenceContact)
		}
	}
	k := &keyward.Key{
		ID: keyward.NewID("key"), TenantID: a.TenantID, Name: in.Name, Description: in.Description,
		Enabled: in.Enabled == nil || *in.Enabled, Permissions: in.Permissions, Stores: in.Stores,
		Methods: in.Methods, ExpiresAt: in.ExpiresAt, RateLimit: in.RateLimit, CreatedAt: s.now(), UpdatedAt: s.now(),
		Versioned: keyward.Versioned{Version: 1}, AllowedAddresses: in.AllowedAddresses, Quota: in.Quota,
	}
	if k.ExpiresAt != nil {
		exp := k.ExpiresAt.UTC()
		if !exp.After(s.now()) {
			return nil, keyward.Invalid("expires_at", "expires_at must be in the future")
		}
		k.ExpiresAt = &exp
	}
	if err := s.applyMaxLifetime(ctx, q, k, true); err != nil {
		return nil, err
	}
	if err := s.checkKey(ctx, q, k); err != nil {
		return nil, err
	}
	k.DisplayName = a.Domain + "-" + k.Name
	for slot := 1; slot <= KeySlots; slot++ {
		k.Secrets = append(k.Secrets, s.newSecret(k.ID, slot))
	}
	if err := q.InsertKey(ctx, k); err != nil {
		return nil, err
	}
	if err := s.emit(ctx, q, a.TenantID, keyStores(k), "key.created", keyEventData(k, nil)); err != nil {
		return nil, err
	}
	changes := keyChanges(k)
	for f, v := range audit {
		changes[f] = v
	}
	return k, s.logChange(ctx, q, a, a.TenantID, "key.create", "key", k.ID, changes)
}

// mergePermissions applies a merge patch to a key's permissions: each
// resource patched gets its level, a resource patched with no level (null
// or "none") loses its access, and the others keep theirs; with replace
// the patch is the whole new set.
func mergePermissions(cur, patch keyward.Permissions, replace bool) keyward.Permissions {
	out := keyward.Permissions{}
	if !replace {
		for r, l := range cur {
			out[r] = l
		}
	}
	for r, l := range patch {
		if l == keyward.LevelNone {
			delete(out, r)
		} else {
			out[r] = l
		}
	}
	return out
}

// mergeStores applies a merge patch to a key's store access: access left
// out keeps the key's; ids left out keep its selection, unless access
// becomes "all", which selects no store by id.
func mergeStores(cur, patch keyward.StoreAccess) keyward.StoreAccess {
	out := keyward.StoreAccess{Access: cmp.Or(patch.Access, cur.Access, keyward.StoresAll), IDs: patch.IDs}
	if out.IDs == nil && out.Access == keyward.StoresSelected {
		out.IDs = cur.IDs
	}
	return out
}

// keyChanges lists a key's settings for the audit log; never secrets.
func keyChanges(k *keyward.Key) map[string]any {
	return map[string]any{
		"name": k.Name, "description": k.Description, "enabled": k.Enabled, "permissions": k.Permissions,
		"stores": k.Stores, "methods": k.Methods, "expires_at": k.ExpiresAt, "rate_limit": k.RateLimit,
		"allowed_addresses": k.AllowedAddresses, "quota": k.Quota,
	}
}

// Key returns one of the tenant's keys (secrets as hints only).
func (s *Service) Key(ctx context.Context, id string) (*keyward.Key, error) {
	q := s.db.Read()
	a, _, err := s.keyActor(ctx, q, false)
	if err != nil {
		return nil, err
	}
	k, err := q.Key(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	k.DisplayName = a.Domain + "-" + k.Name
	if err := s.fillUsage(ctx, q, k); err != nil {
		return nil, err
	}
	if err := s.fillQuotaUsage(ctx, q, k); err != nil {
		return nil, err
	}
	return k, nil
}

// UsageDays is how far back a key's hourly usage is reported.
const UsageDays = 7

// fillUsage adds a key's usage: last use of any secret, requests in the
// last 24 hours and per hour over the last week.
func (s *Service) fillUsage(ctx context.Context, q *store.Q, k *keyward.Key) error {
	now := s.now()
	hourly, err := q.HourlyUsage(ctx, k.ID, now.Add(-UsageDays*24*time.Hour).Truncate(time.Hour))
	if err != nil {
		return err
	}
	u := &keyward.KeyUsage{Hourly: hourly}
	for _, b := range hourly {
		if !b.Start.Before(now.Truncate(time.Hour).Add(-23 * time.Hour)) {
			u.Requests += b.Requests
		}
	}
	for _, sec := range k.Secrets {
		if sec.LastUsedAt != nil && (u.LastUsedAt == nil || sec.LastUsedAt.After(*u.LastUsedAt)) {
			u.LastUsedAt = sec.LastUsedAt
		}
	}
	k.Usage = u
	return nil
}

// ListKeys lists the tenant's keys, filtered and paged by id.
// f.After is the cursor of a previous page's NextCursor.
func (s *Service) ListKeys(ctx context.Context, f keyward.KeyFilter) (*Page[*keyward.Key], error) {
	q := s.db.Read()
	a, _, err := s.keyActor(ctx, q, false)
	if err != nil {
		return nil, err
	}
	if f.After, err = decodeCursor("keys", f.After); err != nil {
		return nil, err
	}
	if f.Access != "" && f.Access != keyward.StoresAll && f.Access != keyward.StoresSelected {
		return nil, keyward.Invalid("access", "access must be \"all\" or \"selected\", not %q", f.Access)
	}
	if f.StoreID != "" {
		st, err := q.Store(ctx, a.TenantID, f.StoreID)
		if err != nil {
			return nil, invalidRef("store", err)
		}
		f.StoreID = st.ID
	}
	f.Limit = clampLimit(f.Limit)
	want := f.Limit
	f.Limit++
	ks, err := q.ListKeys(ctx, a.TenantID, f)
	if err != nil {
		return nil, err
	}
	p := pageOf("keys", ks, want, func(k *keyward.Key) string { return k.ID })
	for _, k := range p.Data {
		k.DisplayName = a.Domain + "-" + k.Name
	}
	return p, nil
}

// UpdateKey changes a key. Disabling (enabled=false) is allowed without a
// licence, so access can always be cut; every other change needs one.
func (s *Service) UpdateKey(ctx context.Context, id string, in keyward.KeyUpdate) (*keyward.Key, error) {
	onlyDisable := in.Enabled != nil && !*in.Enabled && in.Name == nil && in.Description == nil &&
		in.Permissions == nil && in.Stores == nil && in.Methods == nil && !in.ExpiresAt.Set && in.RateLimit == nil &&
		in.AllowedAddresses == nil && in.Quota == nil && !in.RemoveQuota
	var out *keyward.Key
	err := s.db.Write(ctx, func(q *store.Q) error {
		a, _, err := s.keyActor(ctx, q, !onlyDisable)
		if err != nil {
			return err
		}
		k, err := q.Key(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "api_keys", k.ID); err != nil {
			return err
		}
		before := keyChanges(k)
		if in.Name != nil {
			k.Name = *in.Name
		}
		if in.Description != nil {
			k.Description = *in.Description
		}
		if in.Enabled != nil {
			k.Enabled = *in.Enabled
		}
		if in.Permissions != nil {
			k.Permissions = mergePermissions(k.Permissions, *in.Permissions, in.ClearPermissions)
		}
		if in.Stores != nil {
			k.Stores = mergeStores(k.Stores, *in.Stores)
		}
		if in.Methods != nil {
			k.Methods = *in.Methods
		}
		if in.RateLimit != nil {
			k.RateLimit = *in.RateLimit
		}
		if in.AllowedAddresses != nil {
			k.AllowedAddresses = *in.AllowedAddresses
		}
		k.Quota = mergeQuota(k.Quota, in.Quota, in.RemoveQuota)
		if in.ExpiresAt.Set {
			k.ExpiresAt = nil
			if t := in.ExpiresAt.Time; t != nil {
				exp := t.UTC()
				k.ExpiresAt = &exp
			}
			if err := s.applyMaxLifetime(ctx, q, k, false); err != nil {
				return err
			}
		}
		if err := s.checkKey(ctx, q, k); err != nil {
			return err
		}
		changes := diff(before, keyChanges(k))
		k.DisplayName = a.Domain + "-" + k.Name
		out = k
		if len(changes) == 0 {
			return nil
		}
		k.UpdatedAt = s.now()
		if err := q.UpdateKey(ctx, k); err != nil {
			return err
		}
		if err := version(ctx, q, "api_keys", k.ID, &k.Versioned); err != nil {
			return err
		}
		action := "key.update"
		if len(changes) == 1 && in.Enabled != nil && changes["enabled"] != nil {
			action = map[bool]string{true: "key.enable", false: "key.disable"}[k.Enabled]
		}
		if err := s.emit(ctx, q, a.TenantID, keyStores(k), keyEventType[action], keyEventData(k, changes)); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, action, "key", k.ID, changes)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return out, nil
}

// diff returns the entries of after that differ from before.
func diff(before, after map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range after {
		if !equalJSON(before[k], v) {
			out[k] = v
		}
	}
	return out
}

// DeleteKey removes a key; its secrets stop working at once. Deleting
// needs no licence, so access can always be cut.
func (s *Service) DeleteKey(ctx context.Context, id string) error {
	err := s.db.Write(ctx, func(q *store.Q) error {
		a, _, err := s.keyActor(ctx, q, false)
		if err != nil {
			return err
		}
		k, err := q.Key(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "api_keys", k.ID); err != nil {
			return err
		}
		if err := q.DeleteKey(ctx, k.ID); err != nil {
			return err
		}
		if err := q.DeleteUsage(ctx, k.ID); err != nil {
			return err
		}
		k.DisplayName = a.Domain + "-" + k.Name
		if err := s.emit(ctx, q, a.TenantID, keyStores(k), "key.deleted", keyEventData(k, nil)); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "key.delete", "key", k.ID, map[string]any{"name": k.Name})
	})
	if err == nil {
		s.changed(ctx)
	}
	return err
}

// RollKey gives a slot a new secret, shown only in the answer. The slot's
// old secret stops at once, or after the grace period; the other slot is
// untouched.
func (s *Service) RollKey(ctx context.Context, id string, in keyward.KeyRoll) (*keyward.Key, error) {
	if in.Slot < 1 || in.Slot > KeySlots {
		return nil, keyward.Invalid("slot", "slot must be 1 or 2")
	}
	grace := time.Duration(in.Grace)
	if grace < 0 || grace > 30*24*time.Hour {
		return nil, keyward.Invalid("grace", "grace must be between 0s and 720h (30 days)")
	}
	var out *keyward.Key
	var fresh keyward.KeySecret
	err := s.db.Write(ctx, func(q *store.Q) error {
		a, _, err := s.keyActor(ctx, q, true)
		if err != nil {
			return err
		}
		k, err := q.Key(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		var old *keyward.KeySecret
		if grace > 0 {
			exp := s.now().Add(grace)
			old = &keyward.KeySecret{ExpiresAt: &exp}
		}
		if err := q.RetireKeySecrets(ctx, k.ID, in.Slot, old); err != nil {
			return err
		}
		fresh = s.newSecret(k.ID, in.Slot)
		if err := q.InsertKeySecret(ctx, &fresh); err != nil {
			return err
		}
		if err := q.AppendChange(ctx, a.TenantID, "key", k.ID, s.now()); err != nil {
			return err
		}
		if out, err = q.Key(ctx, a.TenantID, k.ID); err != nil {
			return err
		}
		out.DisplayName = a.Domain + "-" + out.Name
		if err := s.emit(ctx, q, a.TenantID, keyStores(out), "key.rolled", keyEventData(out, map[string]any{"slot": in.Slot, "grace": grace.String()})); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "key.roll", "key", k.ID, map[string]any{"slot": in.Slot, "grace": grace.String()})
	})
	if err != nil {
		return nil, err
	}
	for i := range out.Secrets {
		if out.Secrets[i].ID == fresh.ID {
			out.Secrets[i].Secret = fresh.Secret
		}
	}
	s.changed(ctx)
	return out, nil
}
