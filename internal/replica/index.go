package replica

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/policy"
)

// apiKey is an API key as the replica holds it. Records live in chunks of
// a slab and are referred to by number, so a million keys cost a million
// fixed-size records and two tables of numbers, not a million allocations
// and the maps that point at them.
type apiKey struct {
	text    string // the key id followed by the key's name
	tenant  string // tenant id
	policy  *policy.Policy
	perms   keyward.Permissions
	stores  *keyward.StoreAccess
	rate    int32
	idLen   uint16
	enabled bool
	n       uint8 // secrets held in inline
	inline  [2]keySecret
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

// secretAt returns k's i-th secret.
func (k *apiKey) secretAt(i int) *keySecret {
	if i < int(k.n) {
		return &k.inline[i]
	}
	return &(*k.extra)[i-int(k.n)]
}

// addSecret adds a secret to k.
func (k *apiKey) addSecret(s keySecret) {
	if int(k.n) < len(k.inline) {
		k.inline[k.n] = s
		k.n++
		return
	}
	if k.extra == nil {
		k.extra = new([]keySecret)
	}
	*k.extra = append(*k.extra, s)
}

// secret returns k's secret whose digest is d, or nil.
func (k *apiKey) secret(d *[32]byte) *keySecret {
	for i := range k.n {
		if k.inline[i].digest == *d {
			return &k.inline[i]
		}
	}
	if k.extra != nil {
		for i := range *k.extra {
			if (*k.extra)[i].digest == *d {
				return &(*k.extra)[i]
			}
		}
	}
	return nil
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
}

func newKeyIndex() *keyIndex { return &keyIndex{seed: maphash.MakeSeed()} }

func digestHash(d *[32]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

func (x *keyIndex) idHash(id string) uint64 { return maphash.String(x.seed, id) }

// find returns the key holding the secret whose digest is d.
func (x *keyIndex) find(d *[32]byte) (*apiKey, *keySecret) {
	slots := x.digests.slots
	if len(slots) == 0 {
		return nil, nil
	}
	h := digestHash(d)
	mask := uint64(len(slots) - 1)
	for i := h & mask; slots[i] != 0; i = (i + 1) & mask {
		if e := slots[i]; e>>32 == h&math.MaxUint32 {
			k := x.recs.at(uint32(e) - 1)
			if s := k.secret(d); s != nil {
				return k, s
			}
		}
	}
	return nil, nil
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
		x.digests.insert(digestHash(&k.secretAt(i).digest), ref)
	}
}

// remove takes the record ref out of the index and releases it.
func (x *keyIndex) remove(ref uint32) {
	k := x.recs.at(ref)
	x.ids.remove(x.idHash(k.id()), ref)
	for i := range k.secrets() {
		x.digests.remove(digestHash(&k.secretAt(i).digest), ref)
	}
	x.recs.release(ref)
}
