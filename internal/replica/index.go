package replica

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/keyward/keyward"
)

// apiKey is an API key as the replica holds it. Records live in chunks of
// a slab and are referred to by number, so a million keys cost a million
// fixed-size records and two tables of numbers, not a million allocations
// and the maps that point at them. A record is 104 bytes: what keys share
// is reached through grant, the tenant is a number, and what few keys
// need is kept aside (rareSecrets).
type apiKey struct {
	text    string // the key id followed by the key's name
	grant   *grant
	rate    int32
	tenant  uint32 // in keyIndex.tenantIDs
	idLen   uint16
	enabled bool
	rare    bool  // keyIndex.rare holds more of its secrets
	quota   bool  // keyIndex.quotas holds its quota
	n       uint8 // secrets held in the arrays below
	slots   [2]int8
	digests [2][32]byte
}

// rareSecrets is what few keys need: an expiry for one of their first two
// secrets, or a third secret, as a slot rolled with grace has.
type rareSecrets struct {
	expires [2]int64 // of the record's secrets; 0 = no expiry
	extra   []keySecret
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
// records. An entry's home slot is those 32 bits scaled to the table's
// size, which need not be a power of two: a table grows when it would be
// more than three quarters full, to about two thirds full or less.
type table struct {
	slots []uint64
	n     int
}

func entry64(h uint64, ref uint32) uint64 { return h<<32 | (uint64(ref) + 1) }

// home returns the home slot of hash h in a table of size slots.
func home(h uint64, size int) int { return int((h & math.MaxUint32) * uint64(size) >> 32) }

// reserve makes room for n entries in all.
func (t *table) reserve(n int) {
	if 4*n <= 3*len(t.slots) {
		return
	}
	t.resize(max(64, 2*len(t.slots), n+n/2))
}

// fit shrinks t to about two thirds full, if it is much emptier.
func (t *table) fit() {
	if size := max(64, t.n+t.n/2); size < len(t.slots)*7/8 {
		t.resize(size)
	}
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := home(e>>32, size)
		for t.slots[i] != 0 {
			if i++; i == size {
				i = 0
			}
		}
		t.slots[i] = e
	}
}

func (t *table) insert(h uint64, ref uint32) {
	t.reserve(t.n + 1)
	size := len(t.slots)
	i := home(h, size)
	for t.slots[i] != 0 {
		if i++; i == size {
			i = 0
		}
	}
	t.slots[i] = entry64(h, ref)
	t.n++
}

// remove deletes the entry for ref under hash h, moving back the entries
// after it that would no longer be found.
func (t *table) remove(h uint64, ref uint32) {
	size := len(t.slots)
	if size == 0 {
		return
	}
	want := entry64(h, ref)
	i := home(h, size)
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			return
		}
		if i++; i == size {
			i = 0
		}
	}
	t.slots[i] = 0
	t.n--
	for j := i + 1; ; j++ {
		if j == size {
			j = 0
		}
		if t.slots[j] == 0 {
			break
		}
		home := home(t.slots[j]>>32, size)
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
	rare      map[uint32]*rareSecrets // by record number
	// quotas holds the quotas of the few keys that have one, by key id.
	quotas map[string]*keyward.Quota
}

func newKeyIndex() *keyIndex {
	return &keyIndex{seed: maphash.MakeSeed(), tenantNum: map[string]uint32{}, rare: map[uint32]*rareSecrets{},
		quotas: map[string]*keyward.Quota{}}
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
	for i := home(h, len(slots)); slots[i] != 0; {
		if e := slots[i]; e>>32 == h&math.MaxUint32 {
			ref := uint32(e) - 1
			k := x.recs.at(ref)
			if slot, expires, ok := x.secret(ref, k, d); ok {
				return k, slot, expires
			}
		}
		if i++; i == len(slots) {
			i = 0
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
	for i := home(h, len(slots)); slots[i] != 0; {
		if e := slots[i]; e>>32 == h&math.MaxUint32 {
			if ref := uint32(e) - 1; x.recs.at(ref).id() == id {
				return ref, true
			}
		}
		if i++; i == len(slots) {
			i = 0
		}
	}
	return 0, false
}

// secret finds the secret of k, record ref, whose digest is d and
// returns its slot and expiry.
func (x *keyIndex) secret(ref uint32, k *apiKey, d *[32]byte) (slot int8, expires int64, ok bool) {
	for i := range k.n {
		if k.digests[i] == *d {
			if k.rare {
				expires = x.rare[ref].expires[i]
			}
			return k.slots[i], expires, true
		}
	}
	if k.rare {
		for _, s := range x.rare[ref].extra {
			if s.digest == *d {
				return s.slot, s.expires, true
			}
		}
	}
	return 0, 0, false
}

// secrets returns the number of secrets of record ref.
func (x *keyIndex) secrets(ref uint32) int {
	k := x.recs.at(ref)
	n := int(k.n)
	if k.rare {
		n += len(x.rare[ref].extra)
	}
	return n
}

// digestAt returns the digest of the i-th secret of record ref.
func (x *keyIndex) digestAt(ref uint32, i int) *[32]byte {
	k := x.recs.at(ref)
	if i < int(k.n) {
		return &k.digests[i]
	}
	return &x.rare[ref].extra[i-int(k.n)].digest
}

// addSecret adds a secret to record ref; indexSecrets indexes it.
func (x *keyIndex) addSecret(ref uint32, s keySecret) {
	k := x.recs.at(ref)
	rare := x.rare[ref]
	if rare == nil && (s.expires != 0 || int(k.n) == len(k.digests)) {
		rare = new(rareSecrets)
		x.rare[ref] = rare
		k.rare = true
	}
	if i := int(k.n); i < len(k.digests) {
		k.digests[i], k.slots[i] = s.digest, s.slot
		if rare != nil {
			rare.expires[i] = s.expires
		}
		k.n++
		return
	}
	rare.extra = append(rare.extra, s)
}

// add stores k, which holds no secrets yet, with the given secrets and
// indexes it by id and by its secrets' digests.
func (x *keyIndex) add(k *apiKey, secrets []keySecret) uint32 {
	ref := x.recs.alloc()
	*x.recs.at(ref) = *k
	for _, s := range secrets {
		x.addSecret(ref, s)
	}
	x.ids.insert(x.idHash(k.id()), ref)
	x.indexSecrets(ref)
	return ref
}

// indexSecrets indexes the secrets of the record ref by digest.
func (x *keyIndex) indexSecrets(ref uint32) {
	for i := range x.secrets(ref) {
		x.digests.insert(digestHash(x.digestAt(ref, i)), ref)
	}
}

// remove takes the record ref out of the index and releases it.
func (x *keyIndex) remove(ref uint32) {
	k := x.recs.at(ref)
	x.ids.remove(x.idHash(k.id()), ref)
	for i := range x.secrets(ref) {
		x.digests.remove(digestHash(x.digestAt(ref, i)), ref)
	}
	delete(x.rare, ref)
	if k.quota {
		delete(x.quotas, k.id())
	}
	x.recs.release(ref)
}

// setQuota keeps the quota of the key in record k, whose id is copied
// already; nil is none.
func (x *keyIndex) setQuota(k *apiKey, q *keyward.Quota) {
	if q == nil {
		return
	}
	qc := *q
	x.quotas[k.id()] = &qc
	k.quota = true
}
