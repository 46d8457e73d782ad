package auditchain

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// chain builds n linked entries of one chain.
func chain(n int) []Link {
	var out []Link
	prev := ""
	for i := range n {
		f := Fields{Chain: "ten_1", Actor: "ana", Action: "store.create", ObjectID: fmt.Sprint(i), Changes: "{}",
			At: time.Date(2026, 6, 1, 12, 0, i, 0, time.UTC)}
		h := Hash(prev, f)
		out = append(out, Link{Seq: int64(10 + i), PrevHash: prev, Hash: h, Computed: h})
		prev = h
	}
	return out
}

func TestWalkNamesEachBreak(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func([]Link) []Link
		kind   string
		inText string
	}{
		{"intact", func(l []Link) []Link { return l }, "", ""},
		{"edited", func(l []Link) []Link { l[2].Computed = "x"; return l }, "changed", "entry 12 was changed"},
		{"deleted", func(l []Link) []Link { return append(l[:2], l[3:]...) }, "missing", "the entry before entry 13 is missing"},
		{"first deleted", func(l []Link) []Link { return l[1:] }, "missing", "the entry before entry 11 is missing"},
		{"swapped", func(l []Link) []Link {
			l[1], l[2] = l[2], l[1]
			l[1].Seq, l[2].Seq = 11, 12
			return l
		}, "reordered", "entry 11 is out of order"},
		{"tail cut", func(l []Link) []Link { return l[:4] }, "truncated", "the chain ends at entry 13 but its head is entry 14"},
		{"unhashed in the middle", func(l []Link) []Link { l[3].Hash, l[3].PrevHash = "", ""; return l }, "unchained", "entry 13 holds no hash"},
		{"unhashed after the head", func(l []Link) []Link { return append(l, Link{Seq: 20}) }, "unchained", "entry 20 holds no hash"},
		{"rehashed after the head", func(l []Link) []Link {
			h := Hash(l[4].Hash, Fields{Chain: "ten_1", Action: "forged"})
			return append(l, Link{Seq: 20, PrevHash: l[4].Hash, Hash: h, Computed: h})
		}, "after-head", "entry 20 comes after the chain's head (entry 14)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := chain(5)
			head := l[4]
			r := Walk("ten_1", tc.edit(l), Bounds{HasHead: true, HeadSeq: head.Seq, HeadHash: head.Hash})
			if tc.kind == "" {
				if len(r.Problems) != 0 {
					t.Fatalf("an intact chain: %v", r.Problems)
				}
				return
			}
			if len(r.Problems) == 0 || r.Problems[0].Kind != tc.kind || !strings.Contains(r.Problems[0].Message, tc.inText) {
				t.Fatalf("got %+v, want %s naming %q", r.Problems, tc.kind, tc.inText)
			}
			if r.BrokenAt == 0 {
				t.Fatal("a broken chain names no entry from which it is suspect")
			}
		})
	}
}

// Entries written before the chain existed may only come first, and only
// as far as recorded; a trim anchors the rest; a checkpoint pins an entry.
func TestWalkLegacyTrimAndCheckpoints(t *testing.T) {
	l := chain(4)
	head := func(n int) Bounds { return Bounds{HasHead: true, HeadSeq: l[n].Seq, HeadHash: l[n].Hash} }
	legacy := append([]Link{{Seq: 1}, {Seq: 2}}, l...)
	b := head(3)
	b.LegacyThrough = 2
	if r := Walk("c", legacy, b); len(r.Problems) != 0 || r.Legacy != 2 {
		t.Fatalf("a legacy prefix: %+v", r)
	}
	b.LegacyThrough = 1
	if r := Walk("c", legacy, b); len(r.Problems) == 0 || r.Problems[0].Kind != "unchained" {
		t.Fatalf("an unhashed entry past the recorded legacy: %+v", r)
	}
	// A chain with no head holds only legacy entries.
	if r := Walk("c", []Link{{Seq: 1}, {Seq: 2}}, Bounds{LegacyThrough: 2}); len(r.Problems) != 0 {
		t.Fatalf("a legacy chain: %+v", r.Problems)
	}
	if r := Walk("c", l, Bounds{}); len(r.Problems) == 0 || !strings.Contains(r.Problems[0].Message, "no head") {
		t.Fatalf("hashed entries without a head: %+v", r.Problems)
	}
	// Trimmed through entry 11: the rest starts from its hash.
	b = head(3)
	b.AnchorSeq, b.Anchor = 11, l[1].Hash
	if r := Walk("c", l[2:], b); len(r.Problems) != 0 {
		t.Fatalf("after a trim: %v", r.Problems)
	}
	if r := Walk("c", l[3:], b); len(r.Problems) == 0 {
		t.Fatal("the first kept entry removed after a trim went unnoticed")
	}
	// Everything trimmed: the head is the last trimmed entry.
	b.AnchorSeq, b.Anchor = 13, l[3].Hash
	if r := Walk("c", nil, b); len(r.Problems) != 0 {
		t.Fatalf("all trimmed: %v", r.Problems)
	}
	cp := Checkpoint{ID: "ckp_1", Chain: "c", Seq: l[3].Seq, Hash: l[3].Hash}
	b = head(2)
	b.Checkpoints = []Checkpoint{cp}
	if r := Walk("c", l[:3], b); len(r.Problems) != 1 || r.Problems[0].Kind != "checkpoint" || r.BrokenAt != l[0].Seq {
		t.Fatalf("an entry pinned by a checkpoint cut off with its head moved back: %+v", r)
	}
	other := cp
	other.Hash = "forged"
	b = head(3)
	b.Checkpoints = []Checkpoint{other}
	if r := Walk("c", l, b); len(r.Problems) != 1 {
		t.Fatalf("a checkpoint with another hash: %+v", r.Problems)
	}
	if cp.Digest() == nil || string(cp.Digest()) == string(other.Digest()) {
		t.Fatal("a checkpoint's digest does not cover its hash")
	}
}

// Chained checkpoints must run without a gap, each holding the digest of
// the one before, up to the newest one the witness recorded.
func TestSequenceFindsRemovedCheckpoints(t *testing.T) {
	var cps []Checkpoint
	prev := ""
	for i := range 4 {
		c := Checkpoint{ID: fmt.Sprintf("ckp_%d", i), Chain: "c", Number: int64(i + 1), PrevDigest: prev, Seq: int64(10 * (i + 1)), Hash: fmt.Sprint(i)}
		prev = c.DigestHex()
		cps = append(cps, c)
	}
	newest := &WitnessHead{Number: 4, Seq: 40, Digest: cps[3].DigestHex()}
	for _, tc := range []struct {
		name   string
		cps    []Checkpoint
		w      *WitnessHead
		inText string
	}{
		{"intact", cps, newest, ""},
		{"intact without a witness", cps, nil, ""},
		{"one removed from the middle", append(slices.Clone(cps[:1]), cps[2:]...), newest, "checkpoint number 2 is missing"},
		{"the first removed", cps[1:], newest, "checkpoint number 1 is missing"},
		{"the newest removed", cps[:3], newest, "the newest checkpoint is number 3, but this node wrote number 4"},
		{"all removed", nil, newest, "the newest checkpoint is number 0, but this node wrote number 4"},
		{"the newest replaced", append(slices.Clone(cps[:3]), Checkpoint{ID: "ckp_x", Chain: "c", Number: 4, PrevDigest: cps[2].DigestHex(), Seq: 30}), newest, "checkpoint number 4 is not the one this node wrote"},
		{"one replaced", func() []Checkpoint { c := slices.Clone(cps); c[1].Seq = 11; return c }(), nil, "checkpoint number 3 does not follow checkpoint number 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Sequence("c", tc.cps, tc.w)
			if tc.inText == "" {
				if len(got) != 0 {
					t.Fatalf("intact: %v", got)
				}
				return
			}
			if len(got) == 0 || !strings.Contains(got[0].Message, tc.inText) {
				t.Fatalf("got %v, want %q", got, tc.inText)
			}
		})
	}
}

// The witness keeps the highest checkpoint number of each chain, and
// never moves back.
func TestFileWitnessOnlyMovesForward(t *testing.T) {
	w := &FileWitness{Path: filepath.Join(t.TempDir(), "audit-head.json")}
	if heads, err := w.Heads(); err != nil || heads != nil {
		t.Fatalf("no file yet: %v, %v", heads, err)
	}
	if err := w.Record(map[string]WitnessHead{"a": {Number: 3, Digest: "d3"}, "": {Number: 1, Digest: "o1"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(map[string]WitnessHead{"a": {Number: 2, Digest: "d2"}}); err != nil {
		t.Fatal(err)
	}
	heads, err := w.Heads()
	if err != nil || heads["a"].Digest != "d3" || heads[""].Digest != "o1" {
		t.Fatalf("heads %v, %v", heads, err)
	}
	if fi, err := os.Stat(w.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness file: %v, %v", fi, err)
	}
	os.WriteFile(w.Path, []byte("{"), 0o600)
	if _, err := w.Heads(); err == nil {
		t.Fatal("an unreadable witness was taken as empty")
	}
}

// Every field is covered by the hash, and the encoding is unambiguous.
func TestHashCoversEveryField(t *testing.T) {
	base := Fields{Chain: "c", Actor: "a", ActorID: "i", Action: "x", ObjectType: "t", ObjectID: "o", Address: "ad", Changes: "{}", At: time.Unix(1, 0)}
	h := Hash("p", base)
	variants := []Fields{base, base, base, base, base, base, base, base, base}
	variants[0].Chain = "d"
	variants[1].Actor = "b"
	variants[2].ActorID = "j"
	variants[3].Action = "y"
	variants[4].ObjectType = "u"
	variants[5].ObjectID = "p"
	variants[6].Address = "ae"
	variants[7].Changes = `{"a":1}`
	variants[8].At = time.Unix(1, 1000)
	for i, v := range variants {
		if Hash("p", v) == h {
			t.Fatalf("variant %d gives the same hash", i)
		}
	}
	if Hash("q", base) == h {
		t.Fatal("the link is not covered")
	}
	shifted := base
	shifted.Actor, shifted.ActorID = "ai", ""
	if Hash("p", shifted) == h {
		t.Fatal("moving text between fields keeps the hash")
	}
}
