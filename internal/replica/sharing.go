package replica

import (
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/policy"
)

// sharing lets credentials with equal inputs share one compiled policy,
// permission set and store list: most keys follow a few patterns, so a
// replica of many keys holds few of each. Shared values are never
// modified. It is used under syncMu.
type sharing struct {
	policies map[string]*policy.Policy // by canonical policy input
	perms    map[string]keyward.Permissions
	stores   map[string]*keyward.StoreAccess
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
	return &sharing{policies: map[string]*policy.Policy{}, perms: map[string]keyward.Permissions{}, stores: map[string]*keyward.StoreAccess{}}
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
	refs []uint32
}

// setPolicy gives a, record ref, the policy compiled from sp, shared with
// keys of an equal input. When sh collects pending policies, it leaves the
// record waiting for settle instead.
func (sh *sharing) setPolicy(cat *catalog.Catalog, a *apiKey, ref uint32, sp policy.Spec) error {
	b := sh.appendSpec(sh.buf[:0], sp)
	sh.buf = b
	if p, ok := sh.policies[string(b)]; ok {
		a.policy = p
		return nil
	}
	if sh.pending != nil {
		g := sh.pending[string(b)]
		if g == nil {
			g = &pendingPolicy{spec: sp}
			sh.pending[string(b)] = g
		}
		g.refs = append(g.refs, ref)
		return nil
	}
	p, err := policy.Compile(cat, sp)
	if err != nil {
		return err
	}
	sh.policies[string(b)] = p
	a.policy = p
	return nil
}

// settle compiles the pending policies and gives each waiting record its
// own, together with a fresh copy of its shared permission set; records
// whose policy does not compile are taken out of idx. Load defers this
// until it has read every key and, for a large replica, collects the
// garbage of reading first: what the replica keeps is then allocated
// together, instead of scattered among short-lived objects of the same
// size, where it would keep their memory from being reused.
func (sh *sharing) settle(cat *catalog.Catalog, idx *keyIndex, log *slog.Logger, keys int) {
	pending := sh.pending
	sh.pending = nil
	if keys >= 10_000 {
		runtime.GC()
	}
	perms := make(map[string]keyward.Permissions, len(sh.perms))
	for _, g := range pending {
		p, err := policy.Compile(cat, g.spec)
		if err != nil {
			for _, ref := range g.refs {
				log.Warn("key does not compile against the catalog; refusing it", "key", idx.recs.at(ref).id(), "err", err)
				idx.remove(ref)
			}
			continue
		}
		// Keys of one policy input have equal permissions: the input's
		// canonical text starts with theirs.
		var pm keyward.Permissions
		if old := idx.recs.at(g.refs[0]).perms; old != nil {
			b := sh.appendPermissions(sh.buf[:0], old)
			sh.buf = b
			if pm = perms[string(b)]; pm == nil {
				pm = maps.Clone(old)
				perms[string(b)] = pm
			}
		}
		for _, ref := range g.refs {
			a := idx.recs.at(ref)
			a.policy, a.perms = p, pm
		}
		b := sh.appendSpec(sh.buf[:0], g.spec)
		sh.buf = b
		sh.policies[string(b)] = p
	}
	sh.perms = perms
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
	b := append(sh.buf[:0], s.Access...)
	for _, id := range s.IDs {
		b = append(b, 0)
		b = append(b, id...)
	}
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
