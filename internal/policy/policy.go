package policy

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

// Spec is what a credential may do, as stored.
type Spec struct {
	Permissions keyward.Permissions
	// AllStores grants every store of the tenant, including later ones.
	AllStores bool
	// Stores lists the store ids and/or codes the key may use when AllStores
	// is false; a request's store must equal one of them exactly.
	Stores []string
	// Methods lists method ids or block names; nil allows every method the
	// permissions allow, and an empty non-nil list allows none.
	Methods   []string
	ExpiresAt *time.Time
	// Merchant marks a merchant credential: it may call only catalog methods
	// open to merchants, and never admin-only ones.
	Merchant bool
	// Addresses lists the client addresses and CIDR ranges the credential
	// may be used from; empty allows any address.
	Addresses []string
}

// Policy is a compiled Spec, immutable and safe for concurrent use.
type Policy struct {
	cat       *catalog.Catalog // the catalog compiled against, to recognise its methods by index
	allowlist []uint64         // bit i: method i is in the allowlist
	permitted []uint64         // bit i: the permissions grant method i
	allStores bool
	stores    []string // sorted
	expires   int64    // unix nanoseconds
	hasExpiry bool
	expiresAt time.Time
	merchant  bool
	// addrs is the address allowlist, sorted; empty allows any address.
	addrs []netip.Prefix
}

// Compile validates s against the catalog and compiles it.
func Compile(cat *catalog.Catalog, s Spec) (*Policy, error) {
	for res, lvl := range s.Permissions {
		if !cat.HasResource(res) {
			return nil, keyward.Invalid("permissions", "unknown resource %q; known resources are %s",
				res, strings.Join(cat.Resources(), ", "))
		}
		if lvl != keyward.LevelNone && lvl != keyward.LevelRead && lvl != keyward.LevelWrite {
			return nil, keyward.Invalid("permissions", "unknown level %q for %s; use read or write", string(lvl), res)
		}
	}
	methods := cat.Methods()
	words := (len(methods) + 63) / 64
	p := &Policy{
		cat:       cat,
		allowlist: make([]uint64, words),
		permitted: make([]uint64, words),
		allStores: s.AllStores,
		merchant:  s.Merchant,
	}
	if s.Methods == nil {
		for _, m := range methods {
			set(p.allowlist, m.Index)
		}
	} else {
		list, err := cat.Expand(s.Methods)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			set(p.allowlist, m.Index)
		}
	}
	for _, m := range methods {
		if s.Permissions[m.Resource].Allows(m.Access) {
			set(p.permitted, m.Index)
		}
	}
	if !s.AllStores {
		for _, id := range s.Stores {
			if id == "" {
				return nil, keyward.Invalid("stores", "a store id is empty")
			}
		}
		p.stores = slices.Clone(s.Stores)
		slices.Sort(p.stores)
		p.stores = slices.Compact(p.stores)
	}
	if len(s.Addresses) > 0 {
		var err error
		if _, p.addrs, err = ParseAddresses("allowed_addresses", s.Addresses); err != nil {
			return nil, err
		}
	}
	if s.ExpiresAt != nil {
		p.hasExpiry = true
		p.expiresAt = *s.ExpiresAt
		p.expires = unixNano(*s.ExpiresAt)
	}
	return p, nil
}

// unixNano is t.UnixNano, clamped where it would overflow.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}

func set(bits []uint64, i int) { bits[i>>6] |= 1 << (i & 63) }

func has(bits []uint64, i int) bool { return bits[i>>6]&(1<<(i&63)) != 0 }

// Decide tells whether the key may call m on store at time now. store is
// what the request names at the method's store location ("" for none).
func (p *Policy) Decide(m *catalog.Method, store string, now time.Time) Decision {
	if m == nil || p.cat.At(m.Index) != m {
		return Decision{Code: keyward.CodeUnknownMethod, Method: m}
	}
	if p.hasExpiry && now.UnixNano() >= p.expires {
		return Decision{Code: keyward.CodeExpired, Method: m}
	}
	if p.merchant && (!m.Merchant || m.AdminOnly) {
		return Decision{Code: keyward.CodeMerchantMethodNotAllowed, Method: m, Merchant: true}
	}
	if !has(p.allowlist, m.Index) {
		return Decision{Code: keyward.CodeMethodNotAllowed, Method: m}
	}
	if !has(p.permitted, m.Index) {
		return Decision{Code: keyward.CodeInsufficientPermission, Method: m, Resource: m.Resource, Level: m.Access}
	}
	if m.Store.In != catalog.StoreNone && !p.allStores {
		if store == "" {
			return Decision{Code: keyward.CodeStoreRequired, Method: m}
		}
		if !p.hasStore(store) {
			return Decision{Code: keyward.CodeStoreNotAllowed, Method: m, Store: store}
		}
	}
	return Decision{Code: keyward.CodeValid, Method: m, Store: store}
}

// hasStore looks store up in the sorted set. Most keys hold a handful of
// stores, where a linear scan beats both a binary search and a map.
func (p *Policy) hasStore(store string) bool {
	if len(p.stores) <= 8 {
		for _, s := range p.stores {
			if s == store {
				return true
			}
		}
		return false
	}
	_, ok := slices.BinarySearch(p.stores, store)
	return ok
}

// AllowedMethods returns the methods of cat that the merchant restriction,
// the allowlist and the permissions let the key call, in catalog order;
// expiry and stores are left aside. cat should be the catalog the policy was
// compiled against: methods of another catalog are left out.
func (p *Policy) AllowedMethods(cat *catalog.Catalog) []*catalog.Method {
	var out []*catalog.Method
	for _, m := range cat.Methods() {
		if p.cat.At(m.Index) != m {
			continue
		}
		if p.merchant && (!m.Merchant || m.AdminOnly) {
			continue
		}
		if has(p.allowlist, m.Index) && has(p.permitted, m.Index) {
			out = append(out, m)
		}
	}
	return out
}

// ExpiresAt returns the expiry time, and false when the key never expires.
func (p *Policy) ExpiresAt() (time.Time, bool) { return p.expiresAt, p.hasExpiry }
