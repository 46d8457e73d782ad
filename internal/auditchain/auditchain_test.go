package auditchain

import (
	"fmt"
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := chain(5)
			head := l[4]
			r := Walk("ten_1", tc.edit(l), 0, "", head.Seq, head.Hash, nil)
			if tc.kind == "" {
				if len(r.Problems) != 0 {
					t.Fatalf("an intact chain: %v", r.Problems)
				}
				return
			}
			if len(r.Problems) == 0 || r.Problems[0].Kind != tc.kind || !strings.Contains(r.Problems[0].Message, tc.inText) {
				t.Fatalf("got %+v, want %s naming %q", r.Problems, tc.kind, tc.inText)
			}
		})
	}
}

// Entries written before the chain existed may only come first; a trim
// anchors the rest; a checkpoint pins an entry.
func TestWalkLegacyTrimAndCheckpoints(t *testing.T) {
	l := chain(4)
	legacy := append([]Link{{Seq: 1}, {Seq: 2}}, l...)
	if r := Walk("c", legacy, 0, "", l[3].Seq, l[3].Hash, nil); len(r.Problems) != 0 || r.Legacy != 2 {
		t.Fatalf("a legacy prefix: %+v", r)
	}
	// Trimmed through entry 11: the rest starts from its hash.
	if r := Walk("c", l[2:], 11, l[1].Hash, l[3].Seq, l[3].Hash, nil); len(r.Problems) != 0 {
		t.Fatalf("after a trim: %v", r.Problems)
	}
	if r := Walk("c", l[3:], 11, l[1].Hash, l[3].Seq, l[3].Hash, nil); len(r.Problems) == 0 {
		t.Fatal("the first kept entry removed after a trim went unnoticed")
	}
	// Everything trimmed: the head is the last trimmed entry.
	if r := Walk("c", nil, 13, l[3].Hash, l[3].Seq, l[3].Hash, nil); len(r.Problems) != 0 {
		t.Fatalf("all trimmed: %v", r.Problems)
	}
	cp := Checkpoint{ID: "ckp_1", Chain: "c", Seq: l[3].Seq, Hash: l[3].Hash}
	if r := Walk("c", l[:3], 0, "", l[2].Seq, l[2].Hash, []Checkpoint{cp}); len(r.Problems) != 1 || r.Problems[0].Kind != "checkpoint" {
		t.Fatalf("an entry pinned by a checkpoint cut off with its head moved back: %+v", r.Problems)
	}
	other := cp
	other.Hash = "forged"
	if r := Walk("c", l, 0, "", l[3].Seq, l[3].Hash, []Checkpoint{other}); len(r.Problems) != 1 {
		t.Fatalf("a checkpoint with another hash: %+v", r.Problems)
	}
	if cp.Digest() == nil || string(cp.Digest()) == string(other.Digest()) {
		t.Fatal("a checkpoint's digest does not cover its hash")
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
