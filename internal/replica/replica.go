// Package replica keeps every node's in-memory copy of the active
// credentials, each compiled into a policy and keyed by the SHA-256 of its
// secret. It loads at start and follows the database's change log, so the
// data plane answers without touching the database, and a key that is not
// in the replica is refused without a query.
package replica

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

// Credential is one API key as the data plane holds it.
type Credential struct {
	KeyID       string
	TenantID    string
	DisplayName string
	Enabled     bool
	Policy      *policy.Policy
	Permissions keyward.Permissions
	Stores      keyward.StoreAccess
	RateLimit   int
	// Set for merchant credentials only.
	MerchantID     string
	MerchantUserID string
	AccountID      string
}

// Tenant is a tenant as the data plane holds it.
type Tenant struct {
	ID        string
	Domain    string
	Licence   keyward.Licence
	storeCode map[string]string // store id -> code
}

// entry is one secret: the credential it opens and its own expiry.
type entry struct {
	cred     *Credential
	secretID string
	slot     int8
	expires  int64 // unix nanoseconds; 0 = no expiry
}

// Replica is the in-memory copy. It is safe for concurrent use.
type Replica struct {
	db       *store.DB
	cat      *catalog.Catalog
	now      keyward.Clock
	maxStale time.Duration
	log      *slog.Logger

	mu      sync.RWMutex
	secrets map[[32]byte]entry
	keys    map[string][][32]byte // key or merchant user id -> its secrets' digests
	tenants map[string]*Tenant
	owners  map[ownerKey]string // record -> owning merchant id

	syncMu   sync.Mutex
	seq      int64
	lastSync atomic.Int64 // unix nanoseconds of the last successful sync
	lookups  atomic.Int64

	// OnUse, when set, is called for every allowed request with the key id
	// and the id of the secret used.
	OnUse func(keyID, secretID string)
}

// Option configures a Replica.
type Option func(*Replica)

// WithClock sets the clock, for tests.
func WithClock(c keyward.Clock) Option { return func(r *Replica) { r.now = c } }

// WithMaxStaleness sets how long the replica answers after it last heard
// from the database; after that every credential is refused with
// UNAVAILABLE rather than trusting an old copy.
func WithMaxStaleness(d time.Duration) Option { return func(r *Replica) { r.maxStale = d } }

// New returns an empty replica; call Load before serving.
func New(db *store.DB, cat *catalog.Catalog, opts ...Option) *Replica {
	r := &Replica{
		db: db, cat: cat, now: keyward.SystemClock, maxStale: 60 * time.Second, log: slog.Default(),
		secrets: map[[32]byte]entry{}, keys: map[string][][32]byte{}, tenants: map[string]*Tenant{}, owners: map[ownerKey]string{},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Catalog returns the API catalog the replica compiles against.
func (r *Replica) Catalog() *catalog.Catalog { return r.cat }

// Load reads every tenant and key from the database.
func (r *Replica) Load(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	q := r.db.Read()
	seq, err := q.LastChange(ctx)
	if err != nil {
		return err
	}
	ts, ls, err := q.ListAllTenants(ctx)
	if err != nil {
		return err
	}
	tenants := make(map[string]*Tenant, len(ts))
	for _, t := range ts {
		tt, err := r.loadTenant(ctx, q, t, ls[t.ID])
		if err != nil {
			return err
		}
		tenants[t.ID] = tt
	}
	secrets := map[[32]byte]entry{}
	keys := map[string][][32]byte{}
	err = q.AllKeys(ctx, 1000, func(batch []*keyward.Key) error {
		for _, k := range batch {
			t := tenants[k.TenantID]
			if t == nil {
				continue
			}
			es, ds := r.compile(t, k)
			for i, d := range ds {
				secrets[d] = es[i]
			}
			keys[k.ID] = ds
		}
		return nil
	})
	if err != nil {
		return err
	}
	users, err := q.AllMerchantUsersWithAPIAccess(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if t := tenants[u.TenantID]; t != nil {
			m, err := q.Merchant(ctx, u.TenantID, u.MerchantID)
			if err != nil {
				return err
			}
			if e, d, ok := r.compileMerchant(t, m, u); ok {
				secrets[d] = e
				keys[u.ID] = [][32]byte{d}
			}
		}
	}
	owners := map[ownerKey]string{}
	if err := q.AllOwners(ctx, func(o store.Owner) {
		owners[ownerKey{o.TenantID, o.Resource, o.RecordID}] = o.MerchantID
	}); err != nil {
		return err
	}
	r.mu.Lock()
	r.secrets, r.keys, r.tenants, r.owners = secrets, keys, tenants, owners
	r.mu.Unlock()
	r.seq = seq
	r.lastSync.Store(r.now().UnixNano())
	return nil
}

func (r *Replica) loadTenant(ctx context.Context, q *store.Q, t *keyward.Tenant, l *keyward.Licence) (*Tenant, error) {
	stores, err := q.ListStores(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	tt := &Tenant{ID: t.ID, Domain: t.Domain, Licence: *l, storeCode: make(map[string]string, len(stores))}
	for _, s := range stores {
		tt.storeCode[s.ID] = s.Code
	}
	return tt, nil
}

// compile turns a key into replica entries, one per secret. A key whose
// policy no longer compiles against the catalog gets none: refused.
func (r *Replica) compile(t *Tenant, k *keyward.Key) ([]entry, [][32]byte) {
	p, err := policy.Compile(r.cat, service.KeySpec(k, t.storeCode))
	if err != nil {
		r.log.Warn("key does not compile against the catalog; refusing it", "key", k.ID, "err", err)
		return nil, nil
	}
	c := &Credential{
		KeyID: k.ID, TenantID: k.TenantID, DisplayName: t.Domain + "-" + k.Name, Enabled: k.Enabled,
		Policy: p, Permissions: k.Permissions, Stores: k.Stores, RateLimit: k.RateLimit,
	}
	es := make([]entry, 0, len(k.Secrets))
	ds := make([][32]byte, 0, len(k.Secrets))
	for _, s := range k.Secrets {
		var d [32]byte
		copy(d[:], s.Digest)
		e := entry{cred: c, secretID: s.ID, slot: int8(s.Slot)}
		if s.ExpiresAt != nil {
			e.expires = s.ExpiresAt.UnixNano()
		}
		es = append(es, e)
		ds = append(ds, d)
	}
	return es, ds
}

// Sync applies the change log entries written since the last sync. It is
// called by the follower loop and, after a local change, by the service,
// so a node refuses a key it disabled on the very next request.
func (r *Replica) Sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	q := r.db.Read()
	for {
		changes, err := q.ChangesAfter(ctx, r.seq, 500)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if err := r.apply(ctx, q, c); err != nil {
				return err
			}
			r.seq = c.Seq
		}
		if len(changes) < 500 {
			break
		}
	}
	r.lastSync.Store(r.now().UnixNano())
	return nil
}

func (r *Replica) apply(ctx context.Context, q *store.Q, c store.Change) error {
	switch c.Kind {
	case "key":
		k, err := q.KeyByID(ctx, c.ObjectID)
		if err != nil {
			return err
		}
		r.mu.RLock()
		t := r.tenants[c.TenantID]
		r.mu.RUnlock()
		var es []entry
		var ds [][32]byte
		if k != nil && t != nil {
			es, ds = r.compile(t, k)
		}
		r.mu.Lock()
		for _, d := range r.keys[c.ObjectID] {
			delete(r.secrets, d)
		}
		delete(r.keys, c.ObjectID)
		for i, d := range ds {
			r.secrets[d] = es[i]
		}
		if len(ds) > 0 {
			r.keys[c.ObjectID] = ds
		}
		r.mu.Unlock()
	case "merchant_user":
		return r.applyMerchantUser(ctx, q, c.TenantID, c.ObjectID)
	case "merchant":
		users, err := q.ListMerchantUsers(ctx, c.TenantID, c.ObjectID)
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := r.applyMerchantUser(ctx, q, c.TenantID, u.ID); err != nil {
				return err
			}
		}
	case "owner":
		resource, recordID, _ := strings.Cut(c.ObjectID, "/")
		m, err := q.OwnerOf(ctx, c.TenantID, resource, recordID)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if m == "" {
			delete(r.owners, ownerKey{c.TenantID, resource, recordID})
		} else {
			r.owners[ownerKey{c.TenantID, resource, recordID}] = m
		}
		r.mu.Unlock()
	case "licence", "tenant", "store":
		t, err := q.TenantByID(ctx, c.TenantID)
		if keyward.ErrorCode(err) == keyward.ENotFound {
			r.mu.Lock()
			delete(r.tenants, c.TenantID)
			r.mu.Unlock()
			return nil
		} else if err != nil {
			return err
		}
		l, err := q.Licence(ctx, t.ID)
		if err != nil {
			return err
		}
		tt, err := r.loadTenant(ctx, q, t, l)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.tenants[t.ID] = tt
		r.mu.Unlock()
	}
	return nil
}

// Stale reports whether the replica has not heard from the database for
// longer than the maximum staleness.
func (r *Replica) Stale() bool {
	return r.now().UnixNano()-r.lastSync.Load() > int64(r.maxStale)
}

// LastSync returns when the replica last heard from the database.
func (r *Replica) LastSync() time.Time { return time.Unix(0, r.lastSync.Load()).UTC() }

// Len returns the number of secrets held.
func (r *Replica) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.secrets)
}

// Result is the answer for one credential and request.
type Result struct {
	Code     string
	Decision policy.Decision
	Cred     *Credential
	Tenant   *Tenant
	Slot     int
}

// Allowed reports whether the request may go ahead.
func (res *Result) Allowed() bool { return res.Code == keyward.CodeValid }

// Verify decides whether the secret may call method m on store. It never
// queries the database. m may be nil for an unknown method.
func (r *Replica) Verify(key string, m *catalog.Method, store string) Result {
	kind, err := secret.Parse(key)
	if err != nil || kind != secret.KindAPIKey {
		return Result{Code: keyward.CodeNotFound}
	}
	return r.lookup(key, m, store)
}

// lookup finds the secret's entry and decides; the secret has been parsed.
func (r *Replica) lookup(key string, m *catalog.Method, store string) Result {
	if r.Stale() {
		return Result{Code: keyward.CodeUnavailable}
	}
	d := secret.Digest(key)
	r.mu.RLock()
	e, ok := r.secrets[d]
	var t *Tenant
	if ok {
		t = r.tenants[e.cred.TenantID]
	}
	r.mu.RUnlock()
	r.lookups.Add(1)
	if !ok || t == nil {
		return Result{Code: keyward.CodeNotFound}
	}
	now := r.now()
	res := Result{Cred: e.cred, Tenant: t, Slot: int(e.slot)}
	switch {
	case e.expires != 0 && now.UnixNano() >= e.expires:
		res.Code = keyward.CodeExpired
	case !e.cred.Enabled:
		res.Code = keyward.CodeDisabled
	case !t.Licence.Active(now):
		res.Code = keyward.CodeLicenceInactive
	case m == nil:
		res.Code = keyward.CodeUnknownMethod
	default:
		res.Decision = e.cred.Policy.Decide(m, store, now)
		res.Code = res.Decision.Code
	}
	if res.Code == keyward.CodeValid && r.OnUse != nil {
		r.OnUse(e.cred.KeyID, e.secretID)
	}
	return res
}

// Lookups counts secret lookups that reached the map (tests use it to show
// malformed keys stop before it).
func (r *Replica) Lookups() int64 { return r.lookups.Load() }
