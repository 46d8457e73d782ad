// Package auditchain makes the audit log tamper-evident. Each entry holds
// the hash of the entry before it in its chain (one chain per tenant, and
// one for the operator's entries), and its own hash covers that link and
// every field of the entry. Editing an entry breaks its hash; removing or
// reordering entries breaks a link. Signed checkpoints (see Checkpoint)
// pin a chain's head, so cutting entries off its end is found too, and
// record what retention trimmed, so the rest still verifies.
//
// The package is pure: it computes hashes and walks links; the store
// reads and writes rows.
package auditchain

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// version starts every hashed encoding, so a later format cannot collide.
const version = "kwa1"

// Fields are an entry's fields as stored: Changes is the stored JSON text.
type Fields struct {
	Chain      string
	Actor      string
	ActorID    string
	Action     string
	ObjectType string
	ObjectID   string
	Address    string
	Changes    string
	At         time.Time
}

// Precision is the precision timestamps are stored and hashed at; both
// engines keep microseconds.
const Precision = time.Microsecond

// encode appends each part length-prefixed, so no two lists of parts
// share an encoding.
func encode(parts ...string) []byte {
	var b []byte
	for _, s := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Hash returns the hash of an entry whose chain's previous entry has hash
// prev ("" for the first entry of a chain), in hex.
func Hash(prev string, f Fields) string {
	at := f.At.UTC().Truncate(Precision).Format(time.RFC3339Nano)
	sum := sha256.Sum256(encode(version, prev, f.Chain, f.Actor, f.ActorID, f.Action, f.ObjectType, f.ObjectID, f.Address, f.Changes, at))
	return hex.EncodeToString(sum[:])
}

// Checkpoint pins a chain's head at a moment: the entry Seq with hash
// Hash. When entries were trimmed, TrimmedThrough is the last trimmed
// entry, TrimmedHash its hash (the link of the first entry kept) and
// TrimmedCount how many entries that trim removed.
//
// Checkpoints are chained too: Number is a checkpoint's place among its
// chain's checkpoints (1, 2, …; 0 for one written before checkpoints were
// chained) and PrevDigest the hex digest of the one before it ("" for
// number 1), so one removed from the middle breaks the next.
// LegacyThrough and LegacyCount record the entries written before the
// chain was introduced, which hold no hash.
type Checkpoint struct {
	ID             string
	Chain          string
	Number         int64
	PrevDigest     string
	Seq            int64
	Hash           string
	TrimmedThrough int64
	TrimmedHash    string
	TrimmedCount   int64
	LegacyThrough  int64
	LegacyCount    int64
	CreatedAt      time.Time
}

// Digest is what a checkpoint's signature covers.
func (c Checkpoint) Digest() []byte {
	at := c.CreatedAt.UTC().Truncate(Precision).Format(time.RFC3339Nano)
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	var sum [32]byte
	if c.Number == 0 {
		// The encoding of checkpoints written before they were chained.
		sum = sha256.Sum256(encode(version+"-checkpoint", c.ID, c.Chain, n(c.Seq), c.Hash,
			n(c.TrimmedThrough), c.TrimmedHash, n(c.TrimmedCount), at))
	} else {
		sum = sha256.Sum256(encode("kwa2-checkpoint", c.ID, c.Chain, n(c.Number), c.PrevDigest, n(c.Seq), c.Hash,
			n(c.TrimmedThrough), c.TrimmedHash, n(c.TrimmedCount), n(c.LegacyThrough), n(c.LegacyCount), at))
	}
	return sum[:]
}

// DigestHex is Digest in hex, as PrevDigest and the witness hold it.
func (c Checkpoint) DigestHex() string { return hex.EncodeToString(c.Digest()) }

// Link is one stored entry as the walk sees it: its sequence number, the
// link and hash it holds, and the hash its fields give now.
type Link struct {
	Seq      int64
	PrevHash string
	Hash     string
	// Computed is Hash(PrevHash, fields) recomputed from the stored fields.
	Computed string
}

// Problem is one break found in a chain, named by the entry where it shows.
type Problem struct {
	Chain string
	Seq   int64
	// Kind is one of "changed", "missing", "reordered", "unchained",
	// "after-head", "truncated", "checkpoint".
	Kind    string
	Message string
}

func (p Problem) String() string { return p.Message }

// Report is the outcome of walking one chain.
type Report struct {
	Chain string
	// Entries is how many entries were walked; Legacy how many of them
	// predate the chain (written before entries were hashed, and recorded
	// as such by a signed checkpoint) and so are covered by nothing.
	Entries, Legacy int
	// LastLegacy is the last of those legacy entries (0 for none).
	LastLegacy int64
	// Problems lists the first broken link, then any checkpoint or head
	// that does not match; empty when the chain verifies.
	Problems []Problem
	// BrokenAt is the first entry that does not verify: every entry from
	// it on is suspect. It is 0 when the links hold; when only a
	// checkpoint or the head does not match, it is the chain's first
	// entry, as nothing in it can then be vouched for.
	BrokenAt int64
}

// Bounds are what a chain's entries are walked against.
type Bounds struct {
	// AnchorSeq is the last entry the latest trim removed (0 for none)
	// and Anchor its hash, the link the first kept entry must hold.
	AnchorSeq int64
	Anchor    string
	// LegacyThrough is the last entry that may hold no hash, as a prefix
	// of the chain written before entries were hashed (0 for none).
	LegacyThrough int64
	// HeadSeq and HeadHash are the chain's recorded head; HasHead is false
	// when the chain has none, and then no entry may hold a hash.
	HasHead  bool
	HeadSeq  int64
	HeadHash string
	// Checkpoints are the chain's trusted checkpoints not covered by a
	// trim; each pins an entry.
	Checkpoints []Checkpoint
}

// Walk checks every one of a chain's stored entries, in stored order,
// against its links and b.
func Walk(chain string, links []Link, b Bounds) Report {
	r := Report{Chain: chain, Entries: len(links)}
	pos := make(map[string]int, len(links))
	bySeq := make(map[int64]Link, len(links))
	for i, l := range links {
		if l.Hash != "" {
			pos[l.Hash] = i
		}
		bySeq[l.Seq] = l
	}
	expected := b.Anchor
	chained := false
	var first *Problem
	for i, l := range links {
		if l.Hash == "" && l.PrevHash == "" {
			if !chained && l.Seq <= b.LegacyThrough {
				// Written before entries were hashed: only a prefix may be.
				r.Legacy++
				r.LastLegacy = l.Seq
				continue
			}
			first = &Problem{chain, l.Seq, "unchained", fmt.Sprintf("entry %d holds no hash: it was written outside the chain (by hand, or by an older keyward after the upgrade)", l.Seq)}
			break
		}
		chained = true
		if !b.HasHead {
			first = &Problem{chain, l.Seq, "after-head", fmt.Sprintf("entry %d holds a hash but its chain has no head: the head was removed, or the entry added outside keyward", l.Seq)}
			break
		}
		if l.Seq > b.HeadSeq {
			first = &Problem{chain, l.Seq, "after-head", fmt.Sprintf("entry %d comes after the chain's head (entry %d): it was added outside keyward", l.Seq, b.HeadSeq)}
			break
		}
		if l.Computed != l.Hash {
			first = &Problem{chain, l.Seq, "changed", fmt.Sprintf("entry %d was changed after it was written: its fields no longer give its hash", l.Seq)}
			break
		}
		if l.PrevHash != expected {
			if p, ok := pos[l.PrevHash]; ok && p > i {
				first = &Problem{chain, l.Seq, "reordered", fmt.Sprintf("entry %d is out of order: it follows entry %d in the chain but is stored before it", l.Seq, links[p].Seq)}
			} else if ok {
				first = &Problem{chain, l.Seq, "reordered", fmt.Sprintf("entry %d is out of order: it follows entry %d in the chain, not the entry stored before it", l.Seq, links[p].Seq)}
			} else {
				first = &Problem{chain, l.Seq, "missing", fmt.Sprintf("the entry before entry %d is missing: it was removed or replaced", l.Seq)}
			}
			break
		}
		expected = l.Hash
	}
	if first != nil {
		r.Problems = append(r.Problems, *first)
		r.BrokenAt = first.Seq
	}
	if first == nil && b.HasHead && b.HeadSeq != 0 {
		lastSeq := b.AnchorSeq
		if len(links) > 0 {
			lastSeq = links[len(links)-1].Seq
		}
		if lastSeq != b.HeadSeq || expected != b.HeadHash {
			r.Problems = append(r.Problems, Problem{chain, b.HeadSeq, "truncated",
				fmt.Sprintf("the chain ends at entry %d but its head is entry %d: entries at its end were removed", lastSeq, b.HeadSeq)})
		}
	}
	for _, c := range b.Checkpoints {
		if c.Seq == 0 {
			continue
		}
		l, ok := bySeq[c.Seq]
		switch {
		case !ok:
			r.Problems = append(r.Problems, Problem{chain, c.Seq, "checkpoint",
				fmt.Sprintf("checkpoint %s pins entry %d, which is missing", c.ID, c.Seq)})
		case l.Hash != c.Hash:
			r.Problems = append(r.Problems, Problem{chain, c.Seq, "checkpoint",
				fmt.Sprintf("checkpoint %s pins entry %d with another hash: the entry was replaced", c.ID, c.Seq)})
		}
	}
	r.Suspect(links)
	return r
}

// Suspect sets BrokenAt to the first entry when the report has problems
// but its links held, so that no entry of a chain with problems passes as
// verified.
func (r *Report) Suspect(links []Link) {
	if len(r.Problems) == 0 || r.BrokenAt != 0 {
		return
	}
	r.BrokenAt = 1
	if len(links) > 0 {
		r.BrokenAt = links[0].Seq
	}
}

// Sequence checks a chain's trusted chained checkpoints (Number > 0, in
// any order): their numbers must run 1, 2, … with none missing and each
// must hold the digest of the one before it. With a witness (the newest
// checkpoint this node wrote, kept outside the database), the checkpoint
// it names must still be there, unchanged: so the newest checkpoints
// cannot be removed together with the entries after them.
func Sequence(chain string, cps []Checkpoint, w *WitnessHead) []Problem {
	var out []Problem
	bad := func(seq int64, format string, args ...any) {
		out = append(out, Problem{chain, seq, "checkpoint", fmt.Sprintf(format, args...)})
	}
	sorted := slices.Clone(cps)
	slices.SortFunc(sorted, func(a, b Checkpoint) int { return cmp.Compare(a.Number, b.Number) })
	prev := ""
	for i, c := range sorted {
		want := int64(i + 1)
		switch {
		case c.Number > want:
			bad(c.Seq, "checkpoint number %d is missing (the next one found is number %d): checkpoints were removed", want, c.Number)
			return out
		case c.Number < want:
			bad(c.Seq, "checkpoint number %d appears twice: a checkpoint was forged", c.Number)
			return out
		case c.PrevDigest != prev:
			bad(c.Seq, "checkpoint number %d does not follow checkpoint number %d: a checkpoint was replaced", c.Number, c.Number-1)
			return out
		}
		prev = c.DigestHex()
	}
	if w == nil {
		return out
	}
	if len(sorted) < int(w.Number) {
		bad(w.Seq, "the newest checkpoint is number %d, but this node wrote number %d (at entry %d, %s): checkpoints were removed, and with them perhaps the entries after them",
			len(sorted), w.Number, w.Seq, w.At.UTC().Format(time.RFC3339))
	} else if w.Number > 0 && sorted[w.Number-1].DigestHex() != w.Digest {
		bad(w.Seq, "checkpoint number %d is not the one this node wrote: checkpoints were rewritten", w.Number)
	}
	return out
}
