package replica

import (
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/policy"
)

// sharing lets credentials with equal inputs share one compiled policy,
// permission set and store list: most keys follow a few patterns, so a
// replica of many keys holds few of each. Shared values are never
// modified. It is used under syncMu.
type sharing struct {
	grants map[string]*grant // by canonical policy input and store selection
	perms  map[string]keyward.Permissions
	stores map[string]*keyward.StoreAccess
	// pending, when not nil, collects the grants not compiled yet and the
	// keys waiting for each, for settle.
	pending map[string]*pendingGrant
	buf     []byte
	names   []string
	text    texts
}

// grant is what keys of equal policy input and store selection share.
// The policy is held in it, not pointed to: Verify then reaches the
// policy's fields through one pointer from the record, as it did when the
// record held the policy's pointer, rather than a chain of two.
type grant struct {
	policy policy.Policy
	perms  keyward.Permissions
	stores *keyward.StoreAccess
}

// textBlock is the size of the blocks texts stores strings in.
const textBlock = 64 << 10

// texts copies strings together into blocks of textBlock bytes. The
// strings a credential keeps arrive from the database among many
// short-lived ones of the same size; kept in place, a few of them would
// hold on to each page of those, so they are copied together instead.
type texts struct {
	b strings.Builder // the current block
}

// copy returns the concatenation of parts, stored in the current block.
func (t *texts) copy(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > textBlock/8 {
		return strings.Join(parts, "")
	}
	if t.b.Cap()-t.b.Len() < n {
		t.b = strings.Builder{}
		t.b.Grow(textBlock)
	}
	start := t.b.Len()
	for _, p := range parts {
		t.b.WriteString(p)
	}
	return t.b.String()[start:]
}

// copyText returns the concatenation of parts, copied with the other
// strings sh keeps.
func (sh *sharing) copyText(parts ...string) string { return sh.text.copy(parts...) }

func newSharing() *sharing {
	return &sharing{grants: map[string]*grant{}, perms: map[string]keyward.Permissions{}, stores: map[string]*keyward.StoreAccess{}}
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
	if len(sp.Addresses) > 0 {
		b = append(b, 1, 'a')
		for _, a := range sp.Addresses {
			b = append(b, a...)
			b = append(b, 0)
		}
	}
	return b
}

// pendingGrant is a grant's policy input and store selection, and the
// keys waiting for it.
type pendingGrant struct {
	spec   policy.Spec
	stores *keyward.StoreAccess
	refs   []uint32
}

// setGrant gives a, record ref, the grant of policy input sp and store
// selection st, shared with keys of equal ones. When sh collects pending
// grants, it leaves the record waiting for settle instead.
func (sh *sharing) setGrant(cat *catalog.Catalog, a *apiKey, ref uint32, sp policy.Spec, st keyward.StoreAccess) error {
	b := sh.appendSpec(sh.buf[:0], sp)
	b = appendStoreAccess(append(b, 2), st)
	sh.buf = b
	if g, ok := sh.grants[string(b)]; ok {
		a.grant = g
		return nil
	}
	if sh.pending != nil {
		g := sh.pending[string(b)]
		if g == nil {
			// What sp points to may be reused for the next key.
			if sp.ExpiresAt != nil {
				exp := *sp.ExpiresAt
				sp.ExpiresAt = &exp
			}
			g = &pendingGrant{spec: sp}
			sh.pending[string(b)] = g
			g.stores = sh.storeAccess(st) // reuses sh.buf
		}
		g.refs = append(g.refs, ref)
		return nil
	}
	p, err := policy.Compile(cat, sp)
	if err != nil {
		return err
	}
	g := &grant{policy: *p}
	sh.grants[string(b)] = g
	g.perms, g.stores = sh.permissions(sp.Permissions), sh.storeAccess(st) // reuse sh.buf
	a.grant = g
	return nil
}

// settle compiles the pending grants and gives each waiting record its
// own, with a fresh copy of its shared permission set; records whose
// policy does not compile are taken out of idx. Load defers this until it
// has read every key and, for a large replica, collects the garbage of
// reading first: what the replica keeps is then allocated together,
// instead of scattered among short-lived objects of the same size, where
// it would keep their memory from being reused. For the same reason, and
// because Load does not keep sh, nothing is added to sh's maps: their
// keys would be short-lived objects among the policies.
func (sh *sharing) settle(cat *catalog.Catalog, idx *keyIndex, log *slog.Logger, keys int) {
	pending := sh.pending
	sh.pending = nil
	if keys >= 10_000 {
		runtime.GC()
	}
	// The policies are compiled on every processor: nothing else runs now.
	groups := make([]*pendingGrant, 0, len(pending))
	for _, g := range pending {
		groups = append(groups, g)
	}
	policies := make([]*policy.Policy, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(groups); i += workers {
				policies[i], errs[i] = policy.Compile(cat, groups[i].spec)
			}
		})
	}
	wg.Wait()
	perms := make(map[string]keyward.Permissions, len(sh.perms))
	for i, g := range groups {
		p, err := policies[i], errs[i]
		if err != nil {
			for _, ref := range g.refs {
				log.Warn("key does not compile against the catalog; refusing it", "key", idx.recs.at(ref).id(), "err", err)
				idx.remove(ref)
			}
			continue
		}
		var pm keyward.Permissions
		if old := g.spec.Permissions; old != nil {
			b := sh.appendPermissions(sh.buf[:0], old)
			sh.buf = b
			if pm = perms[string(b)]; pm == nil {
				pm = maps.Clone(old)
				perms[string(b)] = pm
			}
		}
		gr := &grant{policy: *p, perms: pm, stores: g.stores}
		for _, ref := range g.refs {
			idx.recs.at(ref).grant = gr
		}
	}
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

// allStores is the store selection of every key granted all stores.
var allStores = &keyward.StoreAccess{Access: keyward.StoresAll}

// storeAccess returns a store selection equal to s, shared.
func (sh *sharing) storeAccess(s keyward.StoreAccess) *keyward.StoreAccess {
	if s.Access == keyward.StoresAll && len(s.IDs) == 0 {
		return allStores
	}
	b := appendStoreAccess(sh.buf[:0], s)
	sh.buf = b
	if p, ok := sh.stores[string(b)]; ok {
		return p
	}
	p := &keyward.StoreAccess{Access: sh.copyText(s.Access), IDs: make([]string, len(s.IDs))}
	for i, id := range s.IDs {
		p.IDs[i] = sh.copyText(id)
	}
	sh.stores[string(b)] = p
	return p
}

// appendStoreAccess appends a canonical text of s.
func appendStoreAccess(b []byte, s keyward.StoreAccess) []byte {
	b = append(b, s.Access...)
	for _, id := range s.IDs {
		b = append(b, 0)
		b = append(b, id...)
	}
	return b
}
