// Package replica keeps every node's in-memory copy of the active
// credentials, each compiled into a policy and keyed by the SHA-256 of its
// secret. It loads at start and follows the database's change log, so the
// data plane answers without touching the database, and a key that is not
// in the replica is refused without a query.
package replica

import (
	"context"
	"encoding/binary"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
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

// entry is one secret of a merchant credential: the credential it opens
// and its own expiry.
type entry struct {
	cred     *Credential
	secretID string
	slot     int8
	expires  int64 // unix nanoseconds; 0 = no expiry
}

// apiKey is an API key as the replica holds it: its credential and its
// secrets, in one allocation when it has at most two secrets.
type apiKey struct {
	cred    Credential
	secrets []keySecret
	inline  [2]keySecret
}

// keySecret is one secret of an API key.
type keySecret struct {
	digest  [32]byte
	expires int64 // unix nanoseconds; 0 = no expiry
	id      string
	slot    int8
}

// secret returns k's secret whose digest is d, or nil.
func (k *apiKey) secret(d *[32]byte) *keySecret {
	for i := range k.secrets {
		if k.secrets[i].digest == *d {
			return &k.secrets[i]
		}
	}
	return nil
}

// keyIndex finds API keys by the digest of one of their secrets, and by
// key id. Digests are SHA-256 of random secrets, so their first eight
// bytes are already evenly spread: the main map is keyed by those alone,
// which makes it much smaller than one keyed by whole digests, and every
// match is confirmed against the whole digest. A secret whose first eight
// bytes another key's secret already holds goes to the overflow map, keyed
// by its whole digest; for random secrets that almost never happens.
type keyIndex struct {
	byPrefix map[uint64]*apiKey
	overflow map[[32]byte]*apiKey
	byID     map[string]*apiKey
	secrets  int
}

func newKeyIndex(secrets int) keyIndex {
	return keyIndex{
		byPrefix: make(map[uint64]*apiKey, secrets), overflow: map[[32]byte]*apiKey{},
		byID: make(map[string]*apiKey, secrets/2),
	}
}

func prefix(d *[32]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// find returns the key holding the secret whose digest is d.
func (x *keyIndex) find(d *[32]byte) (*apiKey, *keySecret) {
	if k := x.byPrefix[prefix(d)]; k != nil {
		if s := k.secret(d); s != nil {
			return k, s
		}
	}
	if len(x.overflow) > 0 {
		if k := x.overflow[*d]; k != nil {
			return k, k.secret(d)
		}
	}
	return nil, nil
}

// add indexes k, which must not be indexed yet.
func (x *keyIndex) add(k *apiKey) {
	x.byID[k.cred.KeyID] = k
	for i := range k.secrets {
		d := &k.secrets[i].digest
		p := prefix(d)
		if cur, taken := x.byPrefix[p]; !taken || cur == k {
			x.byPrefix[p] = k
		} else {
			x.overflow[*d] = k
		}
	}
	x.secrets += len(k.secrets)
}

// remove takes k out of the index.
func (x *keyIndex) remove(k *apiKey) {
	if x.byID[k.cred.KeyID] == k {
		delete(x.byID, k.cred.KeyID)
	}
	for i := range k.secrets {
		d := &k.secrets[i].digest
		if p := prefix(d); x.byPrefix[p] == k {
			delete(x.byPrefix, p)
		}
		if x.overflow[*d] == k {
			delete(x.overflow, *d)
		}
	}
	x.secrets -= len(k.secrets)
}

// sharing lets credentials with equal inputs share one compiled policy,
// permission set and store list: most keys follow a few patterns, so a
// replica of many keys holds few of each. Shared values are never
// modified. It is used under syncMu.
type sharing struct {
	policies map[string]*policy.Policy // by canonical policy input
	perms    map[string]keyward.Permissions
	stores   map[string][]string
	// pending, when not nil, collects the policy inputs not compiled yet
	// and the keys waiting for each, for settle.
	pending map[string]*pendingPolicy
	buf     []byte
	names   []string
	text    strings.Builder // the current block of copied strings
}

// textBlock is the size of the blocks copyText stores strings in.
const textBlock = 64 << 10

// copyText returns the concatenation of parts, stored with other copied
// strings in blocks of textBlock bytes. The strings a credential keeps
// arrive from the database among many short-lived ones of the same size;
// kept in place, a few of them would hold on to each page of those, so
// they are copied together instead.
func (sh *sharing) copyText(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > textBlock/8 {
		return strings.Join(parts, "")
	}
	if sh.text.Cap()-sh.text.Len() < n {
		sh.text = strings.Builder{}
		sh.text.Grow(textBlock)
	}
	start := sh.text.Len()
	for _, p := range parts {
		sh.text.WriteString(p)
	}
	return sh.text.String()[start:]
}

func newSharing() *sharing {
	return &sharing{policies: map[string]*policy.Policy{}, perms: map[string]keyward.Permissions{}, stores: map[string][]string{}}
}

// appendPermissions appends a canonical text of p: resources in order.
func (sh *sharing) appendPermissions(b []byte, p keyward.Permissions) []byte {
	sh.names = sh.names[:0]
	for res := range p {
		sh.names = append(sh.names, res)
	}
	slices.Sort(sh.names)
	for _, res := range sh.names {
		b = append(b, res...)
		b = append(b, '=')
		b = append(b, p[res]...)
		b = append(b, 0)
	}
	return b
}

// appendSpec appends a canonical text of a policy input.
func (sh *sharing) appendSpec(b []byte, sp policy.Spec) []byte {
	if sp.Permissions == nil {
		b = append(b, 'n')
	}
	b = sh.appendPermissions(b, sp.Permissions)
	b = append(b, 1)
	if sp.AllStores {
		b = append(b, 'A')
	} else {
		for _, st := range sp.Stores {
			b = append(b, st...)
			b = append(b, 0)
		}
	}
	b = append(b, 1)
	if sp.Methods != nil {
		b = append(b, 'M')
		for _, m := range sp.Methods {
			b = append(b, m...)
			b = append(b, 0)
		}
	}
	b = append(b, 1)
	if sp.ExpiresAt != nil {
		b = strconv.AppendInt(b, sp.ExpiresAt.Unix(), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(sp.ExpiresAt.Nanosecond()), 10)
	}
	if sp.Merchant {
		b = append(b, 1, 'm')
	}
	return b
}

// pendingPolicy is a policy input and the keys waiting for its policy.
type pendingPolicy struct {
	spec policy.Spec
	keys []*apiKey
}

// setPolicy gives a the policy compiled from sp, shared with keys of an
// equal input. When sh collects pending policies, it leaves a waiting for
// settle instead.
func (sh *sharing) setPolicy(cat *catalog.Catalog, a *apiKey, sp policy.Spec) error {
	b := sh.appendSpec(sh.buf[:0], sp)
	sh.buf = b
	if p, ok := sh.policies[string(b)]; ok {
		a.cred.Policy = p
		return nil
	}
	if sh.pending != nil {
		g := sh.pending[string(b)]
		if g == nil {
			g = &pendingPolicy{spec: sp}
			sh.pending[string(b)] = g
		}
		g.keys = append(g.keys, a)
		return nil
	}
	p, err := policy.Compile(cat, sp)
	if err != nil {
		return err
	}
	sh.policies[string(b)] = p
	a.cred.Policy = p
	return nil
}

// settle compiles the pending policies and gives each waiting key its
// own, together with fresh copies of its shared permission set and store
// list; keys whose policy does not compile are taken out of idx. Load
// defers this until it has read every key and, for a large replica,
// collects the garbage of reading first: what the replica keeps is then
// allocated together, instead of scattered among short-lived objects of
// the same size, where it would keep their memory from being reused.
func (sh *sharing) settle(cat *catalog.Catalog, idx *keyIndex, log *slog.Logger, keys int) {
	pending := sh.pending
	sh.pending = nil
	if keys >= 10_000 {
		runtime.GC()
	}
	perms := make(map[string]keyward.Permissions, len(sh.perms))
	stores := make(map[string][]string, len(sh.stores))
	for _, g := range pending {
		p, err := policy.Compile(cat, g.spec)
		if err != nil {
			for _, a := range g.keys {
				log.Warn("key does not compile against the catalog; refusing it", "key", a.cred.KeyID, "err", err)
				idx.remove(a)
			}
			continue
		}
		// Keys of one policy input have equal permissions: the input's
		// canonical text starts with theirs.
		var pm keyward.Permissions
		if old := g.keys[0].cred.Permissions; old != nil {
			b := sh.appendPermissions(sh.buf[:0], old)
			sh.buf = b
			if pm = perms[string(b)]; pm == nil {
				pm = maps.Clone(old)
				perms[string(b)] = pm
			}
		}
		for _, a := range g.keys {
			a.cred.Policy = p
			a.cred.Permissions = pm
			if ids := a.cred.Stores.IDs; len(ids) > 0 {
				b := sh.buf[:0]
				for _, id := range ids {
					b = append(b, id...)
					b = append(b, 0)
				}
				sh.buf = b
				if a.cred.Stores.IDs = stores[string(b)]; a.cred.Stores.IDs == nil {
					a.cred.Stores.IDs = slices.Clone(ids)
					stores[string(b)] = a.cred.Stores.IDs
				}
			}
		}
		b := sh.appendSpec(sh.buf[:0], g.spec)
		sh.buf = b
		sh.policies[string(b)] = p
	}
	sh.perms, sh.stores = perms, stores
}

// permissions returns a permission set equal to p, shared.
func (sh *sharing) permissions(p keyward.Permissions) keyward.Permissions {
	if p == nil {
		return nil
	}
	b := sh.appendPermissions(sh.buf[:0], p)
	sh.buf = b
	if q, ok := sh.perms[string(b)]; ok {
		return q
	}
	sh.perms[string(b)] = p
	return p
}

// storeAccess returns a store selection equal to s, sharing its list.
func (sh *sharing) storeAccess(s keyward.StoreAccess) keyward.StoreAccess {
	switch s.Access {
	case keyward.StoresAll:
		s.Access = keyward.StoresAll
	case keyward.StoresSelected:
		s.Access = keyward.StoresSelected
	}
	if len(s.IDs) == 0 {
		return s
	}
	b := sh.buf[:0]
	for _, id := range s.IDs {
		b = append(b, id...)
		b = append(b, 0)
	}
	sh.buf = b
	if ids, ok := sh.stores[string(b)]; ok {
		s.IDs = ids
		return s
	}
	sh.stores[string(b)] = s.IDs
	return s
}

// Replica is the in-memory copy. It is safe for concurrent use.
type Replica struct {
	db       *store.DB
	cat      *catalog.Catalog
	now      keyward.Clock
	maxStale time.Duration
	log      *slog.Logger

	mu      sync.RWMutex
	idx     keyIndex              // API keys
	secrets map[[32]byte]entry    // merchant credentials' secrets
	keys    map[string][][32]byte // merchant user id -> its secrets' digests
	tenants map[string]*Tenant
	owners  map[ownerKey]string // record -> owning merchant id

	syncMu   sync.Mutex
	share    *sharing // for keys compiled by Sync
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
		idx: newKeyIndex(0), share: newSharing(),
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
	// Only Load and Sync change the index, both under syncMu, so its size
	// may be read here without mu.
	idx := newKeyIndex(r.idx.secrets)
	sh := newSharing()
	sh.pending = map[string]*pendingPolicy{}
	secrets := map[[32]byte]entry{}
	keys := map[string][][32]byte{}
	read := 0
	err = q.AllKeys(ctx, 2000, func(batch []*keyward.Key) error {
		for _, k := range batch {
			t := tenants[k.TenantID]
			if t == nil {
				continue
			}
			if a := r.compile(sh, t, k); a != nil && len(a.secrets) > 0 {
				idx.add(a)
			}
		}
		read += len(batch)
		return nil
	})
	if err != nil {
		return err
	}
	sh.settle(r.cat, &idx, r.log, read)
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
	r.idx, r.secrets, r.keys, r.tenants, r.owners = idx, secrets, keys, tenants, owners
	r.mu.Unlock()
	// What Load shared is not kept: its canonical texts would cost more
	// than sharing with the few keys Sync compiles saves.
	r.share = newSharing()
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

// compile turns a key into its replica form, sharing what it can through
// sh. A key whose policy no longer compiles against the catalog gets nil:
// refused.
func (r *Replica) compile(sh *sharing, t *Tenant, k *keyward.Key) *apiKey {
	a := &apiKey{cred: Credential{
		KeyID: sh.copyText(k.ID), TenantID: t.ID, DisplayName: sh.copyText(t.Domain, "-", k.Name), Enabled: k.Enabled,
		Permissions: sh.permissions(k.Permissions), Stores: sh.storeAccess(k.Stores), RateLimit: k.RateLimit,
	}}
	sp := service.KeySpec(k, t.storeCode)
	sp.Permissions = a.cred.Permissions
	if err := sh.setPolicy(r.cat, a, sp); err != nil {
		r.log.Warn("key does not compile against the catalog; refusing it", "key", k.ID, "err", err)
		return nil
	}
	a.secrets = a.inline[:0]
	if len(k.Secrets) > len(a.inline) {
		a.secrets = make([]keySecret, 0, len(k.Secrets))
	}
	for _, s := range k.Secrets {
		ks := keySecret{id: sh.copyText(s.ID), slot: int8(s.Slot)}
		copy(ks.digest[:], s.Digest)
		if s.ExpiresAt != nil {
			ks.expires = s.ExpiresAt.UnixNano()
		}
		a.secrets = append(a.secrets, ks)
	}
	return a
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
		var a *apiKey
		if k != nil && t != nil {
			a = r.compile(r.share, t, k)
		}
		r.mu.Lock()
		if old := r.idx.byID[c.ObjectID]; old != nil {
			r.idx.remove(old)
		}
		if a != nil && len(a.secrets) > 0 {
			r.idx.add(a)
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
	return r.idx.secrets + len(r.secrets)
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
	var (
		cred     *Credential
		t        *Tenant
		secretID string
		slot     int8
		expires  int64
	)
	r.mu.RLock()
	if k, s := r.idx.find(&d); s != nil {
		cred, secretID, slot, expires = &k.cred, s.id, s.slot, s.expires
	} else if len(r.secrets) > 0 {
		if e, ok := r.secrets[d]; ok {
			cred, secretID, slot, expires = e.cred, e.secretID, e.slot, e.expires
		}
	}
	if cred != nil {
		t = r.tenants[cred.TenantID]
	}
	r.mu.RUnlock()
	r.lookups.Add(1)
	if cred == nil || t == nil {
		return Result{Code: keyward.CodeNotFound}
	}
	now := r.now()
	res := Result{Cred: cred, Tenant: t, Slot: int(slot)}
	switch {
	case expires != 0 && now.UnixNano() >= expires:
		res.Code = keyward.CodeExpired
	case !cred.Enabled:
		res.Code = keyward.CodeDisabled
	case !t.Licence.Active(now):
		res.Code = keyward.CodeLicenceInactive
	case m == nil:
		res.Code = keyward.CodeUnknownMethod
	default:
		res.Decision = cred.Policy.Decide(m, store, now)
		res.Code = res.Decision.Code
	}
	if res.Code == keyward.CodeValid && r.OnUse != nil {
		r.OnUse(cred.KeyID, secretID)
	}
	return res
}

// Lookups counts secret lookups that reached the map (tests use it to show
// malformed keys stop before it).
func (r *Replica) Lookups() int64 { return r.lookups.Load() }
