package replica

import (
	"encoding/binary"
	"hash/maphash"
	"math"
)

// apiKey is an API key as the replica holds it. Records live in chunks of
// a slab and are referred to by number, so a million keys cost a million
// fixed-size records and two tables of numbers, not a million allocations
// and the maps that point at them. A record is 128 bytes: what keys share
// is reached through grant, and the tenant is a number.
type apiKey struct {
	text    string // the key id followed by the key's name
	grant   *grant
	rate    int32
	tenant  uint32 // in keyIndex.tenantIDs
	idLen   uint16
	enabled bool
	n       uint8 // secrets held in the arrays below
	// The first two secrets, field by field: as two keySecrets, padding
	// would take each from 41 bytes to 48.
	slots   [2]int8
	digests [2][32]byte
	expires [2]int64     // unix nanoseconds; 0 = no expiry
	extra   *[]keySecret // secrets beyond the first two, rare: a slot rolled with grace
}

// keySecret is one secret of an API key. Its id is not kept: the digest
// names it too, and usage is recorded by digest.
type keySecret struct {
	digest  [32]byte
	expires int64 // unix nanoseconds; 0 = no expiry
	slot    int8
}

func (k *apiKey) id() string   { return k.text[:k.idLen] }
func (k *apiKey) name() string { return k.text[k.idLen:] }

// secrets returns the number of secrets k holds.
func (k *apiKey) secrets() int {
	n := int(k.n)
	if k.extra != nil {
		n += len(*k.extra)
	}
	return n
}

// digestAt returns the digest of k's i-th secret.
func (k *apiKey) digestAt(i int) *[32]byte {
	if i < int(k.n) {
		return &k.digests[i]
	}
	return &(*k.extra)[i-int(k.n)].digest
}

// addSecret adds a secret to k.
func (k *apiKey) addSecret(s keySecret) {
	if i := int(k.n); i < len(k.digests) {
		k.digests[i], k.expires[i], k.slots[i] = s.digest, s.expires, s.slot
		k.n++
		return
	}
	if k.extra == nil {
		k.extra = new([]keySecret)
	}
	*k.extra = append(*k.extra, s)
}

// secret finds k's secret whose digest is d and returns its slot and
// expiry.
func (k *apiKey) secret(d *[32]byte) (slot int8, expires int64, ok bool) {
	for i := range k.n {
		if k.digests[i] == *d {
			return k.slots[i], k.expires[i], true
		}
	}
	if k.extra != nil {
		for i := range *k.extra {
			if s := &(*k.extra)[i]; s.digest == *d {
				return s.slot, s.expires, true
			}
		}
	}
	return 0, 0, false
}

// setRate stores a rate limit, which the service keeps far below the
// limit of the record's field.
func (k *apiKey) setRate(n int) { k.rate = int32(min(n, math.MaxInt32)) }

const chunkBits = 10

// records is a slab of API key records, numbered from 0. Numbers of
// removed records are reused.
type records struct {
	chunks [][]apiKey
	n      uint32 // numbers handed out so far
	free   []uint32
}

func (rs *records) at(ref uint32) *apiKey {
	return &rs.chunks[ref>>chunkBits][ref&(1<<chunkBits-1)]
}

// alloc returns the number of an empty record.
func (rs *records) alloc() uint32 {
	if n := len(rs.free); n > 0 {
		ref := rs.free[n-1]
		rs.free = rs.free[:n-1]
		return ref
	}
	if int(rs.n>>chunkBits) == len(rs.chunks) {
		rs.chunks = append(rs.chunks, make([]apiKey, 1<<chunkBits))
	}
	rs.n++
	return rs.n - 1
}

// release empties a record and makes its number available again.
func (rs *records) release(ref uint32) {
	*rs.at(ref) = apiKey{}
	rs.free = append(rs.free, ref)
}

// table is an open-addressing hash table of record numbers with linear
// probing. A slot holds the low 32 bits of the entry's hash above the
// record number plus one, 0 meaning empty: lookups compare those bits
// before they read a record, and growing or deleting never needs the
// records. It stays at most half full.
type table struct {
	slots []uint64
	n     int
}

func entry64(h uint64, ref uint32) uint64 { return h<<32 | (uint64(ref) + 1) }

// reserve makes room for n entries in all.
func (t *table) reserve(n int) {
	size := max(len(t.slots), 64)
	for size < 2*n {
		size *= 2
	}
	if size == len(t.slots) {
		return
	}
	old := t.slots
	t.slots = make([]uint64, size)
	mask := uint64(size - 1)
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := e >> 32 & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = e
	}
}

func (t *table) insert(h uint64, ref uint32) {
	t.reserve(t.n + 1)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = entry64(h, ref)
	t.n++
}

// remove deletes the entry for ref under hash h, moving back the entries
// after it that would no longer be found.
func (t *table) remove(h uint64, ref uint32) {
	if len(t.slots) == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	want := entry64(h, ref)
	i := h & mask
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	t.slots[i] = 0
	t.n--
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := t.slots[j] >> 32 & mask
		// The entry at j stays if its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		t.slots[i], t.slots[j] = t.slots[j], 0
		i = j
	}
}

// keyIndex holds the API keys and finds them by the digest of one of
// their secrets and by key id. Digests are SHA-256 of random secrets, so
// their first eight bytes serve as the hash.
type keyIndex struct {
	recs    records
	digests table
	ids     table
	seed    maphash.Seed
	// Tenants are numbered in the order keys of theirs arrive; a number
	// is not reused, and tenants are few.
	tenantIDs []string
	tenantNum map[string]uint32
}

func newKeyIndex() *keyIndex {
	return &keyIndex{seed: maphash.MakeSeed(), tenantNum: map[string]uint32{}}
}

// tenant returns the number of the tenant with the given id.
func (x *keyIndex) tenant(id string) uint32 {
	n, ok := x.tenantNum[id]
	if !ok {
		n = uint32(len(x.tenantIDs))
		x.tenantIDs = append(x.tenantIDs, id)
		x.tenantNum[id] = n
	}
	return n
}

func digestHash(d *[32]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

func (x *keyIndex) idHash(id string) uint64 { return maphash.String(x.seed, id) }

// find returns the key holding the secret whose digest is d, with the
// secret's slot and expiry; nil when there is none.
func (x *keyIndex) find(d *[32]byte) (k *apiKey, slot int8, expires int64) {
	slots := x.digests.slots
	if len(slots) == 0 {
		return nil, 0, 0
	}
	h := digestHash(d)
	mask := uint64(len(slots) - 1)
	for i := h & mask; slots[i] != 0; i = (i + 1) & mask {
		if e := slots[i]; e>>32 == h&math.MaxUint32 {
			k := x.recs.at(uint32(e) - 1)
			if slot, expires, ok := k.secret(d); ok {
				return k, slot, expires
			}
		}
	}
	return nil, 0, 0
}

// byID returns the number of the key with the given id.
func (x *keyIndex) byID(id string) (uint32, bool) {
	slots := x.ids.slots
	if len(slots) == 0 {
		return 0, false
	}
	h := x.idHash(id)
	mask := uint64(len(slots) - 1)
	for i := h & mask; slots[i] != 0; i = (i + 1) & mask {
		if e := slots[i]; e>>32 == h&math.MaxUint32 {
			if ref := uint32(e) - 1; x.recs.at(ref).id() == id {
				return ref, true
			}
		}
	}
	return 0, false
}

// add stores k and indexes it by id and by its secrets' digests.
func (x *keyIndex) add(k *apiKey) uint32 {
	ref := x.recs.alloc()
	*x.recs.at(ref) = *k
	x.ids.insert(x.idHash(k.id()), ref)
	x.indexSecrets(ref)
	return ref
}

// indexSecrets indexes the secrets of the record ref by digest.
func (x *keyIndex) indexSecrets(ref uint32) {
	k := x.recs.at(ref)
	for i := range k.secrets() {
		x.digests.insert(digestHash(k.digestAt(i)), ref)
	}
}

// remove takes the record ref out of the index and releases it.
func (x *keyIndex) remove(ref uint32) {
	k := x.recs.at(ref)
	x.ids.remove(x.idHash(k.id()), ref)
	for i := range k.secrets() {
		x.digests.remove(digestHash(k.digestAt(i)), ref)
	}
	x.recs.release(ref)
}
