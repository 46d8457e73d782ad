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
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
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
type Checkpoint struct {
	ID             string
	Chain          string
	Seq            int64
	Hash           string
	TrimmedThrough int64
	TrimmedHash    string
	TrimmedCount   int64
	CreatedAt      time.Time
}

// Digest is what a checkpoint's signature covers.
func (c Checkpoint) Digest() []byte {
	sum := sha256.Sum256(encode(version+"-checkpoint", c.ID, c.Chain, strconv.FormatInt(c.Seq, 10), c.Hash,
		strconv.FormatInt(c.TrimmedThrough, 10), c.TrimmedHash, strconv.FormatInt(c.TrimmedCount, 10),
		c.CreatedAt.UTC().Truncate(Precision).Format(time.RFC3339Nano)))
	return sum[:]
}

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
	// "truncated", "checkpoint".
	Kind    string
	Message string
}

func (p Problem) String() string { return p.Message }

// Report is the outcome of walking one chain.
type Report struct {
	Chain string
	// Entries is how many entries were walked; Legacy how many of them
	// predate the chain (written before entries were hashed) and so are
	// covered by nothing.
	Entries, Legacy int
	// Problems lists the first broken link, then any checkpoint or head
	// that does not match; empty when the chain verifies.
	Problems []Problem
}

// Walk checks one chain's links in stored order. anchor is the hash the
// first kept entry must link to: "" for a chain never trimmed, else the
// latest trim's TrimmedHash, and anchorSeq the last entry that trim
// removed (0 for none). headSeq and headHash are the chain's
// recorded head (0 and "" for none); checkpoints are the chain's
// checkpoints not covered by a trim, whose signatures the caller has
// already checked.
func Walk(chain string, links []Link, anchorSeq int64, anchor string, headSeq int64, headHash string, checkpoints []Checkpoint) Report {
	r := Report{Chain: chain, Entries: len(links)}
	pos := make(map[string]int, len(links))
	bySeq := make(map[int64]Link, len(links))
	for i, l := range links {
		if l.Hash != "" {
			pos[l.Hash] = i
		}
		bySeq[l.Seq] = l
	}
	expected := anchor
	chained := false
	var first *Problem
	for i, l := range links {
		if l.Hash == "" && l.PrevHash == "" {
			if !chained && anchor == "" {
				// Written before entries were hashed: only a prefix may be.
				r.Legacy++
				continue
			}
			first = &Problem{chain, l.Seq, "unchained", fmt.Sprintf("entry %d holds no hash, though entries before it do: it was added or altered outside keyward", l.Seq)}
			break
		}
		chained = true
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
	}
	if first == nil && headSeq != 0 {
		lastSeq := anchorSeq
		if len(links) > 0 {
			lastSeq = links[len(links)-1].Seq
		}
		if lastSeq != headSeq || expected != headHash {
			r.Problems = append(r.Problems, Problem{chain, headSeq, "truncated",
				fmt.Sprintf("the chain ends at entry %d but its head is entry %d: entries at its end were removed", lastSeq, headSeq)})
		}
	}
	for _, c := range checkpoints {
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
	return r
}
