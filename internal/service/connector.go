package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Connections to external systems. Their secret fields are kept together
// as one JSON object sealed by the master keyring at the place
// (tenant, connection id, "connections.secrets_sealed"); no answer carries
// them, and reading one back is a separate, audited call.

// connectorActor returns the caller, who must hold the Connectors feature.
func connectorActor(ctx context.Context) (*keyward.Actor, error) {
	return tenantActor(ctx, keyward.FeatureConnectors)
}

func connectionSecretsPlace(tenantID, id string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: id, Field: "connections.secrets_sealed"}
}

// failureCacheFor is how long a failed check of unchanged credentials is
// answered again rather than sent to the system; failures that may pass
// on a retry (network and upstream errors) are not kept.
const failureCacheFor = 30 * time.Second

// ConnectorTypes lists the external systems a connection may be made to.
func (s *Service) ConnectorTypes(ctx context.Context) ([]*connector.Type, error) {
	if _, err := connectorActor(ctx); err != nil {
		return nil, err
	}
	return connector.Types(), nil
}

// draft is a connection's checked input, before or after it is saved.
type draft struct {
	t      *connector.Type
	url    string
	values map[string]string
	scopes []string
}

func (d *draft) creds() connector.Creds {
	return connector.Creds{APIURL: d.url, Values: d.values, RequiredScopes: d.scopes}
}

// key identifies the draft's credentials within a tenant, for the cache of
// checks; it is a hash kept in memory only.
func (d *draft) key(tenantID string) string {
	b, _ := json.Marshal([]any{tenantID, d.t.ID, d.url, d.values, d.scopes})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// split returns the draft's settings (fields that are not secret) and
// secrets.
func (d *draft) split() (settings, secrets map[string]string) {
	settings, secrets = map[string]string{}, map[string]string{}
	for _, f := range d.t.Fields {
		if v, ok := d.values[f.Name]; ok {
			if f.Secret {
				secrets[f.Name] = v
			} else {
				settings[f.Name] = v
			}
		}
	}
	return settings, secrets
}

// checkURL applies the outbound policy to an API URL when it is saved, so
// an address keyward will never dial is refused beside its field.
func (s *Service) checkURL(d *draft) error {
	if err := connector.CheckURL(&s.outbound, d.url); err != nil {
		return keyward.Invalid("api_url", "api_url is refused: %s", err.Error())
	}
	return nil
}

func (s *Service) newDraft(in keyward.ConnectionInput) (*draft, error) {
	t, err := connector.LookupInput(in.Type)
	if err != nil {
		return nil, err
	}
	values := maps.Clone(in.Fields)
	if values == nil {
		values = map[string]string{}
	}
	if in.AccessToken != "" {
		values[connector.FieldAccessToken] = in.AccessToken
	}
	if in.Secret != "" {
		values[connector.FieldSecret] = in.Secret
	}
	d := &draft{t: t}
	if d.url, d.values, d.scopes, err = t.Normalize(in.APIURL, values, in.RequiredScopes); err != nil {
		return nil, err
	}
	return d, s.checkURL(d)
}

// checks keeps recent check results by draft key, so repeated clicks on
// Verify Connection respect each system's limits.
type checkCache struct {
	mu sync.Mutex
	m  map[string]connector.Result
}

var checks = &checkCache{m: map[string]connector.Result{}}

// fresh reports whether r may be answered again at now.
func fresh(t *connector.Type, r *keyward.Verification, now time.Time) bool {
	if r == nil {
		return false
	}
	var keep time.Duration
	switch r.Outcome {
	case keyward.OutcomeOK:
		keep = t.CacheFor
	case keyward.OutcomeRateLimited:
		keep = time.Duration(r.RetryAfter) * time.Second
	case keyward.OutcomeNetworkError, keyward.OutcomeUpstreamError:
		return false
	default:
		keep = failureCacheFor
	}
	return now.Before(r.CheckedAt.Add(keep))
}

func (c *checkCache) get(key string, t *connector.Type, now time.Time) (connector.Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	if !ok || !fresh(t, &r.Verification, now) {
		return connector.Result{}, false
	}
	r.Cached = true
	return r, true
}

func (c *checkCache) put(key string, r connector.Result, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10000 {
		for k, v := range c.m {
			if now.Sub(v.CheckedAt) > 24*time.Hour || len(c.m) >= 10000 {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = r
}

// probe checks d against its system, or answers a recent check of the
// same credentials again.
func (s *Service) probe(ctx context.Context, tenantID string, d *draft) connector.Result {
	key := d.key(tenantID)
	if r, ok := checks.get(key, d.t, s.now()); ok {
		return r
	}
	client, err := outbound.NewClient(s.outbound)
	if err != nil {
		return connector.Result{Verification: keyward.Verification{Outcome: keyward.OutcomeNetworkError, CheckedAt: s.now(),
			Message: "keyward's outbound settings are invalid, so nothing was sent; the operator must correct them."}}
	}
	r := d.t.Verify(ctx, client, d.creds(), s.now())
	checks.put(key, r, s.now())
	return r
}

// VerifyConnectionInput checks credentials before they are saved; nothing
// is written. The result is kept for the next save of the same input.
func (s *Service) VerifyConnectionInput(ctx context.Context, in keyward.ConnectionInput) (*keyward.Verification, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.newDraft(in)
	if err != nil {
		return nil, err
	}
	r := s.probe(ctx, a.TenantID, d)
	return &r.Verification, nil
}

// verifyFailed is the error of a save whose check did not pass.
func verifyFailed(v *keyward.Verification) error {
	return &keyward.Error{Code: keyward.EInvalid, Field: "verification",
		Message: "Verify Connection did not pass (" + string(v.Outcome) + "): " + v.Message + " Correct the connection, or save it unverified.",
		Details: map[string]any{"verification": v}}
}

// connectionStores checks a connection's stores: all, or selected stores
// named by id or code, kept as ids.
func connectionStores(ctx context.Context, q *store.Q, tenantID string, in *keyward.StoreAccess) (keyward.StoreAccess, error) {
	if in == nil || in.Access == "" || in.Access == keyward.StoresAll {
		if in != nil && len(in.IDs) > 0 {
			return keyward.StoreAccess{}, keyward.Invalid("stores", "stores.ids must be empty when access is \"all\"; use access \"selected\" to choose stores")
		}
		return keyward.StoreAccess{Access: keyward.StoresAll}, nil
	}
	if in.Access != keyward.StoresSelected {
		return keyward.StoreAccess{}, keyward.Invalid("stores", "stores.access must be \"all\" or \"selected\", not %q", in.Access)
	}
	if len(in.IDs) == 0 {
		return keyward.StoreAccess{}, keyward.Invalid("stores", "select at least one store the connection serves, or use access \"all\"")
	}
	ids := []string{}
	for _, ref := range in.IDs {
		st, err := q.Store(ctx, tenantID, ref)
		if err != nil {
			return keyward.StoreAccess{}, invalidRef("stores", err)
		}
		if !slices.Contains(ids, st.ID) {
			ids = append(ids, st.ID)
		}
	}
	sort.Strings(ids)
	return keyward.StoreAccess{Access: keyward.StoresSelected, IDs: ids}, nil
}

func (s *Service) sealSecrets(tenantID, id string, secrets map[string]string) (string, error) {
	if s.keyring == nil {
		return "", keyward.Errorf(keyward.EUnavailable, "Connections need a master key to keep their secrets; the operator sets KEYWARD_MASTER_KEY.")
	}
	b, _ := json.Marshal(secrets)
	return string(s.keyring.Seal(b, connectionSecretsPlace(tenantID, id))), nil
}

func (s *Service) openSecrets(ctx context.Context, q *store.Q, c *keyward.Connection) (map[string]string, error) {
	v, err := q.ConnectionSealedSecrets(ctx, c.TenantID, c.ID)
	if err != nil || v == "" {
		return map[string]string{}, err
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "No master key is set, so the connection's secrets cannot be opened.")
	}
	plain, err := s.keyring.Open(seal.Sealed(v), connectionSecretsPlace(c.TenantID, c.ID))
	if err != nil {
		return nil, &keyward.Error{Code: keyward.EInternal, Message: "The secrets of connection " + c.ID + " do not open with the master key.", Err: err}
	}
	out := map[string]string{}
	return out, json.Unmarshal(plain, &out)
}

func secretNames(secrets map[string]string) []string {
	names := slices.Sorted(maps.Keys(secrets))
	if names == nil {
		names = []string{}
	}
	return names
}

// connectionEvent is the data of connection.verified and connection.failed.
func (s *Service) emitCheck(ctx context.Context, q *store.Q, c *keyward.Connection, v *keyward.Verification) error {
	typ := "connection.verified"
	if !v.OK() {
		typ = "connection.failed"
	}
	var stores []string
	if c.Stores.Access == keyward.StoresSelected {
		stores = c.Stores.IDs
	}
	return s.emit(ctx, q, c.TenantID, stores, typ, map[string]any{"connection_id": c.ID, "system": c.Type, "name": c.Name,
		"outcome": string(v.Outcome), "message": v.Message})
}

// CreateConnection saves a connection. Unless in.SaveUnverified is set,
// its credentials are checked first (or a recent check of the same ones
// is used) and it is saved only when the check passes.
func (s *Service) CreateConnection(ctx context.Context, in keyward.ConnectionInput) (*keyward.Connection, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := keyward.ValidName("name", in.Name, 100); err != nil {
		return nil, err
	}
	d, err := s.newDraft(in)
	if err != nil {
		return nil, err
	}
	if s.keyring == nil {
		_, err := s.sealSecrets("", "", nil)
		return nil, err
	}
	c := &keyward.Connection{ID: keyward.NewID("con"), TenantID: a.TenantID, Type: d.t.ID, Name: in.Name, APIURL: d.url,
		RequiredScopes: d.scopes, Enabled: in.Enabled == nil || *in.Enabled, State: keyward.ConnectionUnverified,
		CredentialsChangedAt: s.now(), CreatedAt: s.now(), UpdatedAt: s.now()}
	if !in.SaveUnverified {
		r := s.probe(ctx, a.TenantID, d)
		if !r.OK() {
			return nil, verifyFailed(&r.Verification)
		}
		maps.Copy(d.values, r.Rotated)
		v := r.Verification
		v.Cached = false
		c.State, c.Verification = keyward.ConnectionVerified, &v
	}
	settings, secrets := d.split()
	c.Settings, c.SecretsSet = settings, secretNames(secrets)
	err = s.db.Write(ctx, func(q *store.Q) error {
		if c.Stores, err = connectionStores(ctx, q, a.TenantID, in.Stores); err != nil {
			return err
		}
		sealed, err := s.sealSecrets(c.TenantID, c.ID, secrets)
		if err != nil {
			return err
		}
		if err := q.InsertConnection(ctx, c, sealed); err != nil {
			return err
		}
		if err := version(ctx, q, "connections", c.ID, &c.Versioned); err != nil {
			return err
		}
		if err := s.audit(ctx, q, a, a.TenantID, "connection.create", "connection", c.ID, map[string]any{"type": c.Type, "name": c.Name,
			"api_url": c.APIURL, "stores": c.Stores, "state": c.State, "secrets": c.SecretsSet}); err != nil {
			return err
		}
		if c.Verification != nil {
			return s.emitCheck(ctx, q, c, c.Verification)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Connection returns one connection.
func (s *Service) Connection(ctx context.Context, id string) (*keyward.Connection, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Read().Connection(ctx, a.TenantID, id)
}

// ConnectionFilter narrows the list of connections.
type ConnectionFilter struct {
	Type    string
	Store   string // id or code
	State   string
	Enabled *bool
}

// ListConnections lists the tenant's connections by name.
func (s *Service) ListConnections(ctx context.Context, f ConnectionFilter) ([]*keyward.Connection, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	sf := store.ConnectionFilter{Type: f.Type, State: f.State, Enabled: f.Enabled}
	if f.Type != "" {
		if _, err := connector.LookupInput(f.Type); err != nil {
			return nil, err
		}
	}
	switch f.State {
	case "", keyward.ConnectionVerified, keyward.ConnectionUnverified, keyward.ConnectionFailed:
	default:
		return nil, keyward.Invalid("state", "state must be verified, unverified or failed")
	}
	if f.Store != "" {
		st, err := q.Store(ctx, a.TenantID, f.Store)
		if err != nil {
			return nil, invalidRef("store", err)
		}
		sf.StoreID = st.ID
	}
	return q.ListConnections(ctx, a.TenantID, sf)
}

// UpdateConnection changes a connection. A secret left blank keeps the
// stored one. When the API URL, a field, a secret or the required scopes
// change, the new credentials must pass a check unless in.SaveUnverified
// is set.
func (s *Service) UpdateConnection(ctx context.Context, id string, in keyward.ConnectionUpdate) (*keyward.Connection, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	if s.keyring == nil {
		_, err := s.sealSecrets("", "", nil)
		return nil, err
	}
	q := s.db.Read()
	c, err := q.Connection(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	// A stale If-Match is refused before anything is checked or sent;
	// the Write below checks it again under the row's lock.
	if err := precondition(ctx, q, "connections", c.ID); err != nil {
		return nil, err
	}
	secrets, err := s.openSecrets(ctx, q, c)
	if err != nil {
		return nil, err
	}
	t, ok := connector.Lookup(c.Type)
	if !ok {
		return nil, keyward.Errorf(keyward.EInternal, "connection %s has the unknown type %q", c.ID, c.Type)
	}
	// The input as a whole: stored values, then the changes; blank secrets
	// keep the stored ones.
	values := map[string]string{}
	maps.Copy(values, c.Settings)
	maps.Copy(values, secrets)
	entered := map[string]bool{}
	for name, v := range in.Fields {
		if f, ok := t.Field(name); ok && f.Secret {
			if v == "" {
				continue
			}
			entered[name] = true
		}
		values[name] = v
	}
	if in.AccessToken != nil && *in.AccessToken != "" {
		values[connector.FieldAccessToken] = *in.AccessToken
		entered[connector.FieldAccessToken] = true
	}
	if in.Secret != nil && *in.Secret != "" {
		values[connector.FieldSecret] = *in.Secret
		entered[connector.FieldSecret] = true
	}
	apiURL := c.APIURL
	if in.APIURL != nil {
		apiURL = *in.APIURL
	}
	scopes := c.RequiredScopes
	if in.RequiredScopes != nil {
		scopes = *in.RequiredScopes
	}
	d := &draft{t: t}
	if d.url, d.values, d.scopes, err = t.Normalize(apiURL, values, scopes); err != nil {
		return nil, err
	}
	if err := s.checkURL(d); err != nil {
		return nil, err
	}
	stored := map[string]string{}
	maps.Copy(stored, c.Settings)
	maps.Copy(stored, secrets)
	before := &draft{t: t, url: c.APIURL, values: stored, scopes: c.RequiredScopes}
	credsChanged := d.key(c.TenantID) != before.key(c.TenantID)
	if in.Name != nil {
		if err := keyward.ValidName("name", *in.Name, 100); err != nil {
			return nil, err
		}
	}
	// Nothing is sent, and nothing saved, before the rule on where stored
	// secrets may go has been applied.
	resent, err := s.secretsToNewDestination(ctx, a, c, t, stored, d, entered, in.ResendStoredSecrets)
	if err != nil {
		return nil, err
	}
	var check *connector.Result
	if credsChanged && !in.SaveUnverified {
		r := s.probe(ctx, a.TenantID, d)
		if !r.OK() {
			return nil, verifyFailed(&r.Verification)
		}
		maps.Copy(d.values, r.Rotated)
		r.Cached = false
		check = &r
	}
	settings, newSecrets := d.split()
	secretsChanged := !maps.Equal(secrets, newSecrets)
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := precondition(ctx, q, "connections", id); err != nil {
			return err
		}
		cur, err := q.Connection(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if !cur.UpdatedAt.Equal(c.UpdatedAt) {
			return keyward.Errorf(keyward.EConflict, "The connection changed while this change was prepared; open it again and repeat the change.")
		}
		beforeAudit := map[string]any{"name": c.Name, "api_url": c.APIURL, "settings": c.Settings, "required_scopes": c.RequiredScopes,
			"stores": c.Stores, "enabled": c.Enabled}
		if in.Name != nil {
			c.Name = *in.Name
		}
		if in.Stores != nil {
			if c.Stores, err = connectionStores(ctx, q, a.TenantID, in.Stores); err != nil {
				return err
			}
		}
		if in.Enabled != nil {
			c.Enabled = *in.Enabled
		}
		c.APIURL, c.Settings, c.RequiredScopes, c.SecretsSet = d.url, settings, d.scopes, secretNames(newSecrets)
		if credsChanged {
			c.CredentialsChangedAt = s.now()
			c.State, c.Verification = keyward.ConnectionUnverified, nil
			if check != nil {
				c.State, c.Verification = keyward.ConnectionVerified, &check.Verification
			}
		}
		changes := diff(beforeAudit, map[string]any{"name": c.Name, "api_url": c.APIURL, "settings": c.Settings, "required_scopes": c.RequiredScopes,
			"stores": c.Stores, "enabled": c.Enabled})
		if secretsChanged {
			changes["secrets_changed"] = true
		}
		if len(resent) > 0 {
			changes["stored_secrets_resent"] = resent
		}
		if credsChanged {
			changes["state"] = c.State
		}
		if len(changes) == 0 {
			return nil
		}
		c.UpdatedAt = s.now()
		sealed := ""
		if secretsChanged {
			if sealed, err = s.sealSecrets(c.TenantID, c.ID, newSecrets); err != nil {
				return err
			}
		}
		if err := q.UpdateConnection(ctx, c, sealed); err != nil {
			return err
		}
		if err := version(ctx, q, "connections", c.ID, &c.Versioned); err != nil {
			return err
		}
		if err := s.audit(ctx, q, a, a.TenantID, "connection.update", "connection", c.ID, changes); err != nil {
			return err
		}
		if check != nil {
			return s.emitCheck(ctx, q, c, c.Verification)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// secretsToNewDestination applies the rule that a stored secret goes only
// where it was entered for. When what decides where the secrets are sent
// (connector.Type.MovedDestination) differs between the stored connection
// and d, every stored secret must be given again, or the caller confirms
// sending the stored ones (resend) and, from a back-office session, has
// confirmed their password recently. The confirmed sending is audited at
// once, before any request leaves, and the names of the secrets it sends
// are returned; otherwise the change is refused as EDestinationChanged.
func (s *Service) secretsToNewDestination(ctx context.Context, a *keyward.Actor, c *keyward.Connection, t *connector.Type,
	stored map[string]string, d *draft, entered map[string]bool, resend bool) ([]string, error) {
	moved := t.MovedDestination(c.APIURL, stored, d.url, d.values)
	if len(moved) == 0 {
		return nil, nil
	}
	var kept []string
	for _, name := range t.SecretFields() {
		if stored[name] != "" && !entered[name] {
			kept = append(kept, name)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	if !resend {
		return nil, &keyward.Error{Code: keyward.EDestinationChanged, Field: moved[0],
			Message: "Changing " + strings.Join(moved, ", ") + " sends the connection's secrets elsewhere. Enter " + strings.Join(kept, ", ") +
				" again, or confirm that the stored ones go to the new destination (resend_stored_secrets). Nothing was sent or changed.",
			Details: map[string]any{"changed": moved, "stored_secrets": kept}}
	}
	need, err := s.StepUpNeeded(ctx)
	if err != nil {
		return nil, err
	}
	if need {
		return nil, keyward.Errorf(keyward.EForbidden, "Confirm your password before sending a connection's stored secrets to a new destination. Nothing was sent or changed.")
	}
	from, to := t.Destinations(c.APIURL, stored), t.Destinations(d.url, d.values)
	err = s.db.Write(ctx, func(q *store.Q) error {
		return s.audit(ctx, q, a, a.TenantID, "connection.resend_secrets", "connection", c.ID, map[string]any{
			"changed": moved, "secrets": kept, "from": from, "to": to})
	})
	return kept, err
}

// VerifyConnection checks a saved connection's credentials against its
// system and records the result and the state it gives. A recent result
// for the same credentials is answered again (Cached) without calling the
// system: for a passing check, for the type's cache period (a day for
// Mirakl, which asks for no more); for a rate limit, until it lifts.
func (s *Service) VerifyConnection(ctx context.Context, id string) (*keyward.Verification, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	c, err := q.Connection(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	t, ok := connector.Lookup(c.Type)
	if !ok {
		return nil, keyward.Errorf(keyward.EInternal, "connection %s has the unknown type %q", c.ID, c.Type)
	}
	// A connection's recorded check is always of its current credentials:
	// a change of them records a new check or none.
	if v := c.Verification; v != nil && fresh(t, v, s.now()) {
		v.Cached = true
		return v, nil
	}
	secrets, err := s.openSecrets(ctx, q, c)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	maps.Copy(values, c.Settings)
	maps.Copy(values, secrets)
	d := &draft{t: t, url: c.APIURL, values: values, scopes: c.RequiredScopes}
	client, err := outbound.NewClient(s.outbound)
	if err != nil {
		return nil, err
	}
	r := t.Verify(ctx, client, d.creds(), s.now())
	v := r.Verification
	err = s.db.Write(ctx, func(q *store.Q) error {
		cur, err := q.Connection(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if !cur.CredentialsChangedAt.Equal(c.CredentialsChangedAt) {
			return keyward.Errorf(keyward.EConflict, "The connection's credentials changed during the check; verify it again.")
		}
		state := keyward.ConnectionFailed
		if v.OK() {
			state = keyward.ConnectionVerified
		}
		rotated := ""
		if len(r.Rotated) > 0 {
			maps.Copy(secrets, r.Rotated)
			if rotated, err = s.sealSecrets(c.TenantID, c.ID, secrets); err != nil {
				return err
			}
		}
		if err := q.RecordVerification(ctx, c.ID, state, &v, rotated, s.now()); err != nil {
			return err
		}
		changes := map[string]any{"outcome": string(v.Outcome), "state": state}
		if rotated != "" {
			changes["secrets_rotated"] = secretNames(r.Rotated)
		}
		if err := s.audit(ctx, q, a, a.TenantID, "connection.verify", "connection", c.ID, changes); err != nil {
			return err
		}
		return s.emitCheck(ctx, q, cur, &v)
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteConnection removes a connection and its sealed secrets.
func (s *Service) DeleteConnection(ctx context.Context, id string) error {
	a, err := connectorActor(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		c, err := q.Connection(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "connections", c.ID); err != nil {
			return err
		}
		if err := q.DeleteConnection(ctx, c.ID); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "connection.delete", "connection", c.ID, map[string]any{"name": c.Name, "type": c.Type})
	})
}

// RevealConnectionSecret returns one secret field of a connection in
// clear. It is the only way a secret comes back, and every call is in the
// audit log. A back-office session must have confirmed its password
// recently.
func (s *Service) RevealConnectionSecret(ctx context.Context, id, field string) (string, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return "", err
	}
	need, err := s.StepUpNeeded(ctx)
	if err != nil {
		return "", err
	}
	if need {
		return "", keyward.Errorf(keyward.EForbidden, "Confirm your password before reading a connection's secret.")
	}
	var plain string
	err = s.db.Write(ctx, func(q *store.Q) error {
		c, err := q.Connection(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		t, ok := connector.Lookup(c.Type)
		if !ok {
			return keyward.Errorf(keyward.EInternal, "connection %s has the unknown type %q", c.ID, c.Type)
		}
		if f, ok := t.Field(field); !ok || !f.Secret {
			return keyward.Invalid("field", "%s has no secret field %q; its secret fields are %v", t.Name, field, t.SecretFields())
		}
		secrets, err := s.openSecrets(ctx, q, c)
		if err != nil {
			return err
		}
		v, ok := secrets[field]
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "The connection holds no %s.", field)
		}
		plain = v
		return s.audit(ctx, q, a, a.TenantID, "connection.reveal_secret", "connection", c.ID, map[string]any{"field": field})
	})
	return plain, err
}

// ConnectionCredentials returns an enabled connection with its type and
// credentials, for the outbound proxy to call the system on the caller's
// behalf. The caller never sees them.
func (s *Service) ConnectionCredentials(ctx context.Context, id string) (*keyward.Connection, *connector.Type, connector.Creds, error) {
	a, err := connectorActor(ctx)
	if err != nil {
		return nil, nil, connector.Creds{}, err
	}
	q := s.db.Read()
	c, err := q.Connection(ctx, a.TenantID, id)
	if err != nil {
		return nil, nil, connector.Creds{}, err
	}
	if !c.Enabled {
		return nil, nil, connector.Creds{}, keyward.Errorf(keyward.EForbidden, "The connection %s is disabled; enable it under Settings > External System Connectors.", c.Name)
	}
	t, ok := connector.Lookup(c.Type)
	if !ok {
		return nil, nil, connector.Creds{}, keyward.Errorf(keyward.EInternal, "connection %s has the unknown type %q", c.ID, c.Type)
	}
	secrets, err := s.openSecrets(ctx, q, c)
	if err != nil {
		return nil, nil, connector.Creds{}, err
	}
	values := map[string]string{}
	maps.Copy(values, c.Settings)
	maps.Copy(values, secrets)
	return c, t, connector.Creds{APIURL: c.APIURL, Values: values, RequiredScopes: c.RequiredScopes}, nil
}

// StoreRotatedSecrets keeps secrets a system replaced while the outbound
// proxy got a session (Fortnox's single-use refresh token), so the next
// one is got with the new ones. The other secrets stay as they are. since
// is the CredentialsChangedAt of the credentials the session was got
// with; when they changed meanwhile, nothing is kept.
func (s *Service) StoreRotatedSecrets(ctx context.Context, id string, since time.Time, rotated map[string]string) error {
	a, err := connectorActor(ctx)
	if err != nil {
		return err
	}
	if len(rotated) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		c, err := q.Connection(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if !c.CredentialsChangedAt.Equal(since) {
			// The connection now holds other credentials, perhaps for
			// another destination: the rotated ones belong to the old.
			return keyward.Errorf(keyward.EConflict, "The connection's credentials changed while the system rotated them; the rotated ones were not kept.")
		}
		t, ok := connector.Lookup(c.Type)
		if !ok {
			return keyward.Errorf(keyward.EInternal, "connection %s has the unknown type %q", c.ID, c.Type)
		}
		for name := range rotated {
			if f, ok := t.Field(name); !ok || !f.Secret {
				return keyward.Errorf(keyward.EInternal, "%s rotated %q, which is not one of its secrets", t.Name, name)
			}
		}
		old, err := q.ConnectionSealedSecrets(ctx, c.TenantID, c.ID)
		if err != nil {
			return err
		}
		secrets, err := s.openSecrets(ctx, q, c)
		if err != nil {
			return err
		}
		maps.Copy(secrets, rotated)
		sealed, err := s.sealSecrets(c.TenantID, c.ID, secrets)
		if err != nil {
			return err
		}
		if ok, err := q.ReplaceSealed(ctx, store.SealedField{Table: "connections", Column: "secrets_sealed", TenantColumn: "tenant_id"}, c.ID, old, sealed); err != nil || !ok {
			if err == nil {
				err = keyward.Errorf(keyward.EConflict, "The connection's secrets changed meanwhile.")
			}
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "connection.secrets_rotated", "connection", c.ID, map[string]any{"secrets": secretNames(rotated)})
	})
}
