// Package replica keeps every node's in-memory copy of the active
// credentials, each compiled into a policy and keyed by the SHA-256 of its
// secret. It loads at start and follows the database's change log, so the
// data plane answers without touching the database, and a key that is not
// in the replica is refused without a query.
package replica

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"runtime/debug"
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

// Credential is one credential as the data plane answers for it: an API
// key, or a merchant user's API access. What it points to is shared and
// must not be modified.
type Credential struct {
	KeyID    string
	TenantID string
	// Name is the key's name; for a merchant credential, the merchant's
	// name and the API Account ID.
	Name        string
	Enabled     bool
	RateLimit   int
	Policy      *policy.Policy
	Permissions keyward.Permissions
	Stores      *keyward.StoreAccess
	// Merchant is set for merchant credentials only.
	Merchant *MerchantCredential
	// Quota is the key's request budget; nil when it has none. Shared:
	// never modified.
	Quota *keyward.Quota
}

// MerchantCredential says whose a merchant credential is.
type MerchantCredential struct {
	MerchantID     string
	MerchantUserID string
	AccountID      string
}

// MerchantID returns the merchant a credential belongs to, or "" for an
// API key.
func (c *Credential) MerchantID() string {
	if c.Merchant == nil {
		return ""
	}
	return c.Merchant.MerchantID
}

// Tenant is a tenant as the data plane holds it.
type Tenant struct {
	ID        string
	Domain    string
	Licence   keyward.Licence
	storeCode map[string]string   // store id -> code
	storeName map[string]struct{} // every active store's id and code
}

// HasStore reports whether name is the id or code of one of the tenant's
// active stores: a deactivated store is refused to every key.
func (t *Tenant) HasStore(name string) bool {
	_, ok := t.storeName[name]
	return ok
}

// entry is one secret of a merchant credential: the credential it opens
// and its own expiry.
type entry struct {
	cred    *Credential
	slot    int8
	expires int64 // unix nanoseconds; 0 = no expiry
}

// Replica is the in-memory copy. It is safe for concurrent use.
type Replica struct {
	db       *store.DB
	cat      *catalog.Catalog
	now      keyward.Clock
	maxStale time.Duration
	log      *slog.Logger

	mu      sync.RWMutex
	idx     *keyIndex             // API keys
	secrets map[[32]byte]entry    // merchant credentials' secrets
	keys    map[string][][32]byte // merchant user id -> its secrets' digests
	tenants map[string]*Tenant
	owners  map[ownerKey]string // record -> owning merchant id

	syncMu   sync.Mutex
	share    *sharing // for keys compiled by Sync
	seq      int64
	lastSync atomic.Int64 // unix nanoseconds of the last successful sync
	applied  atomic.Int64 // seq, readable without syncMu
	lookups  atomic.Int64

	// OnUse, when set, is called for every allowed request with the key id,
	// the digest of the secret used and the client address (the zero Addr
	// when the caller gave none).
	OnUse func(keyID string, digest [32]byte, from netip.Addr)
	// OnOther, when set before Load, is called by Sync for each change-log
	// entry of a kind the replica does not hold itself, such as the
	// identity keys; an error stops the sync, which retries the entry.
	OnOther func(ctx context.Context, c store.Change) error
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
		idx: newKeyIndex(), share: newSharing(),
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
	idx, err := r.loadKeys(ctx, q, tenants)
	if err != nil {
		return err
	}
	secrets := map[[32]byte]entry{}
	keys := map[string][][32]byte{}
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
			putMerchant(secrets, keys, u.ID, r.compileMerchant(t, m, u))
		}
	}
	owners := map[ownerKey]string{}
	if err := q.AllOwners(ctx, func(o store.Owner) {
		owners[ownerKey{o.TenantID, o.Resource, o.RecordID}] = o.MerchantID
	}); err != nil {
		return err
	}
	r.mu.Lock()
	r.idx, r.secrets, r.keys, r.tenants, r.owners = idx, secrets, keys, tenants, owners
	r.mu.Unlock()
	// What Load shared is not kept: its canonical texts would cost more
	// than sharing with the few keys Sync compiles saves.
	r.share = newSharing()
	r.seq = seq
	r.applied.Store(seq)
	r.lastSync.Store(r.now().UnixNano())
	return nil
}

func (r *Replica) loadTenant(ctx context.Context, q *store.Q, t *keyward.Tenant, l *keyward.Licence) (*Tenant, error) {
	stores, err := q.ListStores(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	tt := &Tenant{ID: t.ID, Domain: t.Domain, Licence: *l, storeCode: make(map[string]string, len(stores)),
		storeName: make(map[string]struct{}, 2*len(stores))}
	for _, s := range stores {
		tt.storeCode[s.ID] = s.Code
		if !s.Active {
			continue
		}
		tt.storeName[s.ID] = struct{}{}
		if s.Code != "" {
			tt.storeName[s.Code] = struct{}{}
		}
	}
	return tt, nil
}

// loadKeys reads every API key and secret into a new index. Keys and
// secrets are read side by side, each in storage order, and joined here.
func (r *Replica) loadKeys(ctx context.Context, q *store.Q, tenants map[string]*Tenant) (*keyIndex, error) {
	// What Load allocates is mostly kept: collecting while the replica
	// grows would mark it again and again for little garbage.
	defer raiseGCPercent()()
	// The secrets are kept in chunks, not one slice that would be copied
	// each time it grows, and their key ids copied into blocks of text.
	type loaded struct {
		keyID string
		s     keySecret
	}
	const chunk = 1 << 14
	var secrets [][]loaded
	secretsRead := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var ids texts
		secretsRead <- q.EachKeySecret(ctx, func(s *keyward.KeySecret) error {
			if len(secrets) == 0 || len(secrets[len(secrets)-1]) == chunk {
				secrets = append(secrets, make([]loaded, 0, chunk))
			}
			last := &secrets[len(secrets)-1]
			*last = append(*last, loaded{keyID: ids.copy(s.KeyID), s: newKeySecret(s)})
			return nil
		})
	}()
	idx := newKeyIndex()
	sh := newSharing()
	sh.pending = map[string]*pendingGrant{}
	read := 0
	err := q.EachKey(ctx, func(k *keyward.Key) error {
		read++
		t := tenants[k.TenantID]
		if t == nil {
			return nil
		}
		ref := idx.recs.alloc()
		a := idx.recs.at(ref)
		if !r.compile(sh, t, k, a, ref) {
			idx.recs.release(ref)
			return nil
		}
		a.tenant = idx.tenant(t.ID)
		idx.setQuota(a, k.Quota)
		idx.ids.insert(idx.idHash(k.ID), ref)
		return nil
	})
	if err != nil {
		cancel()
		<-secretsRead
		return nil, err
	}
	if err := <-secretsRead; err != nil {
		return nil, err
	}
	// Every key is read: the id table gives back the room it kept to grow.
	idx.ids.fit()
	n := 0
	for _, c := range secrets {
		for i := range c {
			if ref, ok := idx.byID(c[i].keyID); ok {
				idx.addSecret(ref, c[i].s)
			}
		}
		n += len(c)
	}
	idx.digests.reserve(n)
	secrets = nil
	for ref := range idx.recs.n {
		if idx.recs.at(ref).text != "" && idx.secrets(ref) > 0 {
			idx.indexSecrets(ref)
		}
	}
	sh.settle(r.cat, idx, r.log, read)
	// A key without secrets cannot be used; Sync adds it when it gets one.
	for ref := range idx.recs.n {
		if idx.recs.at(ref).text != "" && idx.secrets(ref) == 0 {
			idx.remove(ref)
		}
	}
	return idx, nil
}

func newKeySecret(s *keyward.KeySecret) keySecret {
	ks := keySecret{slot: int8(s.Slot)}
	copy(ks.digest[:], s.Digest)
	if s.ExpiresAt != nil {
		ks.expires = s.ExpiresAt.UnixNano()
	}
	return ks
}

// loadGCPercent is the garbage collector's target while Load runs (see
// loadKeys).
const loadGCPercent = 400

// loadGC counts the loads running, so that loads overlapping in one
// process restore the collector's target the first one found.
var loadGC struct {
	sync.Mutex
	running, prev int
}

// raiseGCPercent sets the collector's target to loadGCPercent unless it is
// higher or off (GOGC), and returns the function that restores it once no
// load runs.
func raiseGCPercent() (restore func()) {
	loadGC.Lock()
	defer loadGC.Unlock()
	if loadGC.running == 0 {
		loadGC.prev = debug.SetGCPercent(loadGCPercent)
		if loadGC.prev < 0 || loadGC.prev > loadGCPercent {
			debug.SetGCPercent(loadGC.prev)
		}
	}
	loadGC.running++
	return func() {
		loadGC.Lock()
		defer loadGC.Unlock()
		if loadGC.running--; loadGC.running == 0 {
			debug.SetGCPercent(loadGC.prev)
		}
	}
}

// compile fills a, record ref, with key k of tenant t, sharing what it can
// through sh; the caller numbers the tenant and adds the secrets. A key
// whose policy no longer compiles against the catalog is refused: compile
// returns false.
func (r *Replica) compile(sh *sharing, t *Tenant, k *keyward.Key, a *apiKey, ref uint32) bool {
	*a = apiKey{text: sh.copyText(k.ID, k.Name), idLen: uint16(len(k.ID)), enabled: k.Enabled}
	a.setRate(k.RateLimit)
	if err := sh.setGrant(r.cat, a, ref, service.KeySpec(k, t.storeCode), k.Stores); err != nil {
		r.log.Warn("key does not compile against the catalog; refusing it", "key", k.ID, "err", err)
		return false
	}
	return true
}

// ErrBehind says that the change log no longer holds every change since
// the replica's last sync (retention removed some while the node was away):
// only a Load brings it up to date.
var ErrBehind = errors.New("the replica is behind the change log's retention")

// Sync applies the change log entries written since the last sync. It is
// called by the follower loop and, after a local change, by the service,
// so a node refuses a key it disabled on the very next request.
func (r *Replica) Sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	q := r.db.Read()
	if r.seq > 0 {
		first, err := q.FirstChange(ctx)
		if err != nil {
			return err
		}
		if first > r.seq+1 {
			return ErrBehind
		}
	}
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
			r.applied.Store(c.Seq)
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
		var a apiKey
		ok := k != nil && t != nil && len(k.Secrets) > 0 && r.compile(r.share, t, k, &a, 0)
		var secrets []keySecret
		if ok {
			secrets = make([]keySecret, len(k.Secrets))
			for i := range k.Secrets {
				secrets[i] = newKeySecret(&k.Secrets[i])
			}
		}
		r.mu.Lock()
		if old, found := r.idx.byID(c.ObjectID); found {
			r.idx.remove(old)
		}
		if ok {
			a.tenant = r.idx.tenant(t.ID)
			ref := r.idx.add(&a, secrets)
			r.idx.setQuota(r.idx.recs.at(ref), k.Quota)
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
	default:
		if r.OnOther != nil {
			return r.OnOther(ctx, c)
		}
	}
	return nil
}

// Stale reports whether the replica has not heard from the database for
// longer than the maximum staleness.
func (r *Replica) Stale() bool { return r.staleAt(r.now()) }

func (r *Replica) staleAt(now time.Time) bool {
	return now.UnixNano()-r.lastSync.Load() > int64(r.maxStale)
}

// Applied returns the sequence number of the last change-log entry the
// replica has applied.
func (r *Replica) Applied() int64 { return r.applied.Load() }

// LastSync returns when the replica last heard from the database.
func (r *Replica) LastSync() time.Time { return time.Unix(0, r.lastSync.Load()).UTC() }

// Len returns the number of secrets held.
func (r *Replica) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.idx.digests.n + len(r.secrets)
}

// Result is the answer for one credential and request.
type Result struct {
	Code     string
	Decision policy.Decision
	// Cred and Tenant are set when the credential was found, whatever the
	// decision: Tenant is nil otherwise.
	Cred   Credential
	Tenant *Tenant
	Slot   int
}

// Allowed reports whether the request may go ahead.
func (res *Result) Allowed() bool { return res.Code == keyward.CodeValid }

// Found reports whether the credential was found.
func (res *Result) Found() bool { return res.Tenant != nil }

// DisplayName is the name people see for the credential: the tenant's
// domain and the credential's name.
func (res *Result) DisplayName() string {
	if res.Tenant == nil {
		return ""
	}
	return res.Tenant.Domain + "-" + res.Cred.Name
}

// Verify decides whether the secret may call method m on store. It never
// queries the database. m may be nil for an unknown method.
// A key with an address allowlist is refused (IP_NOT_ALLOWED): Verify
// knows no client address; VerifyFrom does.
func (r *Replica) Verify(key string, m *catalog.Method, store string) Result {
	return r.VerifyFrom(key, m, store, netip.Addr{})
}

// VerifyFrom is Verify for a request from client: a key with an address
// allowlist is refused (IP_NOT_ALLOWED) when client is outside it or
// unknown (the zero Addr).
func (r *Replica) VerifyFrom(key string, m *catalog.Method, store string, client netip.Addr) Result {
	kind, err := secret.Parse(key)
	if err != nil || kind != secret.KindAPIKey {
		return Result{Code: keyward.CodeNotFound}
	}
	return r.lookup(key, m, store, client)
}

// lookup finds the secret's entry and decides; the secret has been parsed.
func (r *Replica) lookup(key string, m *catalog.Method, store string, client netip.Addr) Result {
	now := r.now()
	if r.staleAt(now) {
		return Result{Code: keyward.CodeUnavailable}
	}
	d := secret.Digest(key)
	var (
		res     Result
		slot    int8
		expires int64
	)
	r.mu.RLock()
	if k, ks, kexp := r.idx.find(&d); k != nil {
		g := k.grant
		res.Cred = Credential{
			KeyID: k.id(), TenantID: r.idx.tenantIDs[k.tenant], Name: k.name(), Enabled: k.enabled,
			Policy: &g.policy, Permissions: g.perms, Stores: g.stores, RateLimit: int(k.rate),
		}
		if k.quota {
			res.Cred.Quota = r.idx.quotas[k.id()]
		}
		slot, expires = ks, kexp
	} else if len(r.secrets) > 0 {
		if e, ok := r.secrets[d]; ok {
			res.Cred = *e.cred
			slot, expires = e.slot, e.expires
		}
	}
	if res.Cred.TenantID != "" {
		res.Tenant = r.tenants[res.Cred.TenantID]
	}
	r.mu.RUnlock()
	r.lookups.Add(1)
	if res.Tenant == nil {
		return Result{Code: keyward.CodeNotFound}
	}
	cred := &res.Cred
	res.Slot = int(slot)
	switch {
	case !cred.Policy.AllowsFrom(client):
		// First, so a client outside the allowlist learns nothing else.
		res.Decision = policy.Decision{Code: keyward.CodeIPNotAllowed, Method: m, Client: client}
		res.Code = res.Decision.Code
	case expires != 0 && now.UnixNano() >= expires:
		res.Code = keyward.CodeExpired
	case !cred.Enabled:
		res.Code = keyward.CodeDisabled
	case !res.Tenant.Licence.Active(now):
		res.Code = keyward.CodeLicenceInactive
	case m == nil:
		res.Code = keyward.CodeUnknownMethod
	default:
		res.Decision = cred.Policy.Decide(m, store, now)
		// A key reaches only its own tenant's stores, whatever its access.
		if res.Decision.Code == keyward.CodeValid && store != "" && m.Store.In != catalog.StoreNone && !res.Tenant.HasStore(store) {
			res.Decision = policy.Decision{Code: keyward.CodeStoreNotAllowed, Method: m, Store: store, NoSuchStore: true}
		}
		res.Code = res.Decision.Code
	}
	if res.Code == keyward.CodeValid && r.OnUse != nil {
		r.OnUse(cred.KeyID, d, client)
	}
	return res
}

// Lookups counts secret lookups that reached the map (tests use it to show
// malformed keys stop before it).
func (r *Replica) Lookups() int64 { return r.lookups.Load() }
