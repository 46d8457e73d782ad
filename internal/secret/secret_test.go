package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"os"
	"regexp"
	"strings"
	"testing"
)

// kinds lists every kind with its prefix and the regular expression the
// package documentation gives for it.
var kinds = []struct {
	name   string
	kind   Kind
	prefix string
	re     string
}{
	{"api key", KindAPIKey, "kwk_", `^kwk_[0-9A-Za-z]{49}$`},
	{"personal token", KindPersonalToken, "kwp_", `^kwp_[0-9A-Za-z]{49}$`},
	{"operator token", KindOperatorToken, "kwo_", `^kwo_[0-9A-Za-z]{49}$`},
	{"merchant key", KindMerchantKey, "kwm_", `^kwm_[0-9A-Za-z]{49}$`},
	{"session", KindSession, "kws_", `^kws_[0-9A-Za-z]{49}$`},
}

// intn returns a uniform integer in [0, n) from crypto/rand.
func intn(t testing.TB, n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Int64())
}

// refChecksum encodes the CRC-32 of s in base62 using hash/crc32 and
// math/big, independently of the package's own code. math/big orders
// lowercase before uppercase, so the case is swapped.
func refChecksum(s string) string {
	txt := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s)))).Text(62)
	swapped := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, txt)
	return strings.Repeat("0", 6-len(swapped)) + swapped
}

var refShape = regexp.MustCompile(`^kw[kpoms]_[0-9A-Za-z]{49,251}$`)

// refValid is a model of Parse built from the documented format.
func refValid(s string) bool {
	if !refShape.MatchString(s) {
		return false
	}
	n := len(s) - 6
	return s[n:] == refChecksum(s[:n])
}

// makeKey returns prefix+body with a correct checksum appended.
func makeKey(prefix, body string) string {
	return prefix + body + refChecksum(prefix+body)
}

func randomBody(n int) string {
	b := make([]byte, n)
	fillRandom(b, base62)
	return string(b)
}

func TestChecksumMatchesReference(t *testing.T) {
	for i := range 2000 {
		s := randomBody(i % 300)
		var want [6]byte
		putChecksum(want[:], checksum(s))
		if got := refChecksum(s); string(want[:]) != got {
			t.Fatalf("len %d: checksum %q, reference %q", len(s), want, got)
		}
		if checksum(s) != checksum([]byte(s)) {
			t.Fatalf("string and byte checksums differ")
		}
	}
}

func TestKindPrefix(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			p := k.kind.Prefix()
			if p != k.prefix {
				t.Fatalf("Prefix() = %q, want %q", p, k.prefix)
			}
			if seen[p] {
				t.Fatalf("prefix %q used twice", p)
			}
			seen[p] = true
			if kindOf(p) != k.kind {
				t.Fatalf("kindOf(%q) = %d, want %d", p, kindOf(p), k.kind)
			}
		})
	}
	for _, k := range []Kind{0, KindSession + 1, 255} {
		if p := k.Prefix(); p != "" {
			t.Errorf("Kind(%d).Prefix() = %q, want empty", k, p)
		}
	}
}

func TestDocumentedRegexps(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if !strings.Contains(string(doc), k.re) {
			t.Errorf("%s: regexp %s is not in doc.go", k.name, k.re)
		}
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			re := regexp.MustCompile(k.re)
			for range 1000 {
				s := Generate(k.kind)
				if len(s) != 53 {
					t.Fatalf("len = %d, want 53", len(s))
				}
				if !re.MatchString(s) {
					t.Fatalf("%q does not match %s", s, k.re)
				}
				if !refValid(s) {
					t.Fatalf("%q fails the reference model", s)
				}
				got, err := Parse(s)
				if err != nil || got != k.kind {
					t.Fatalf("Parse = %d, %v; want %d", got, err, k.kind)
				}
				if h, want := Hint(s), k.prefix+"…"+s[49:]; h != want {
					t.Fatalf("Hint = %q, want %q", h, want)
				}
			}
		})
	}
}

func TestGenerateUnknownKindPanics(t *testing.T) {
	for _, k := range []Kind{0, KindSession + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Generate(%d) did not panic", k)
				}
			}()
			Generate(k)
		}()
	}
}

func TestSingleCharacterChange(t *testing.T) {
	const n = 100_000
	rejected := 0
	for i := range n {
		s := Generate(kinds[i%len(kinds)].kind)
		pos := intn(t, len(s))
		c := base62[intn(t, 62)]
		for c == s[pos] {
			c = base62[intn(t, 62)]
		}
		m := s[:pos] + string(c) + s[pos+1:]
		if _, err := Parse(m); err == nil {
			t.Fatalf("changed character %d of a key and Parse accepted it", pos)
		}
		rejected++
	}
	t.Logf("%d of %d single-character changes rejected", rejected, n)
}

func TestParseBoundaries(t *testing.T) {
	valid := Generate(KindAPIKey)
	tests := []struct {
		name string
		in   string
		kind Kind
		err  error
	}{
		{"empty", "", 0, ErrMalformed},
		{"one byte", "k", 0, ErrMalformed},
		{"prefix only", "kwk_", 0, ErrMalformed},
		{"one short", valid[:52], 0, ErrMalformed},
		{"generated", valid, KindAPIKey, nil},
		{"length 254", makeKey("kwk_", randomBody(244)), KindAPIKey, nil},
		{"length 255", makeKey("kwp_", randomBody(245)), KindPersonalToken, nil},
		{"length 256", makeKey("kwk_", randomBody(246)), 0, ErrMalformed},
		{"64 KiB", makeKey("kwk_", randomBody(64<<10-10)), 0, ErrMalformed},
		{"64 KiB of x", strings.Repeat("x", 64<<10), 0, ErrMalformed},
		{"unknown prefix", makeKey("kwx_", randomBody(43)), 0, ErrUnknownPrefix},
		{"other product", makeKey("ghp_", randomBody(43)), 0, ErrUnknownPrefix},
		{"uppercase prefix", makeKey("KWK_", randomBody(43)), 0, ErrUnknownPrefix},
		{"no underscore", makeKey("kwkk", randomBody(43)), 0, ErrMalformed},
		{"dash for underscore", makeKey("kwk-", randomBody(43)), 0, ErrMalformed},
		{"underscore in body", makeKey("kwk_", randomBody(20)+"_"+randomBody(22)), 0, ErrMalformed},
		{"space", " " + valid[1:], 0, ErrMalformed},
		{"trailing newline", valid + "\n", 0, ErrMalformed},
		{"non-ASCII", valid[:10] + "é" + valid[12:], 0, ErrMalformed},
		{"NUL", valid[:10] + "\x00" + valid[11:], 0, ErrMalformed},
		{"bad checksum", valid[:47] + "000000", 0, ErrChecksum},
		{"checksum too large", valid[:47] + "zzzzzz", 0, ErrChecksum},
		{"body shortened", valid[:46] + valid[47:] + "0", 0, ErrChecksum},
		// Order: length before characters, characters before prefix,
		// prefix before checksum.
		{"long and bad characters", strings.Repeat("!", 300), 0, ErrMalformed},
		{"bad characters and prefix", "xyz_" + strings.Repeat("!", 49), 0, ErrMalformed},
		{"bad prefix and checksum", "xyz_" + strings.Repeat("A", 49), 0, ErrUnknownPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if k != tt.kind || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Parse = %d, %v; want %d, %v", k, err, tt.kind, tt.err)
			}
			if err != nil && len(tt.in) > 4 && strings.Contains(err.Error(), tt.in[4:]) {
				t.Fatalf("error %q contains the input", err)
			}
			if refValid(tt.in) != (err == nil) {
				t.Fatalf("Parse disagrees with the reference model")
			}
		})
	}
}

func TestCrossKind(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := Generate(k.kind)
			for _, other := range kinds {
				got, err := Parse(other.prefix + s[4:])
				if other.kind == k.kind {
					if err != nil || got != k.kind {
						t.Fatalf("own kind: Parse = %d, %v", got, err)
					}
					continue
				}
				if err == nil || got != 0 {
					t.Fatalf("key of kind %s with prefix %s: Parse = %d, %v", k.prefix, other.prefix, got, err)
				}
				if !errors.Is(err, ErrChecksum) {
					t.Fatalf("prefix swap: error %v, want %v", err, ErrChecksum)
				}
			}
		})
	}
}

func TestUniqueAndUniform(t *testing.T) {
	const n = 100_000
	// Critical value of chi-square with 61 degrees of freedom at p = 0.0001.
	const critical = 110.84
	seen := make(map[string]struct{}, n)
	var counts [256]int
	collisions := 0
	for i := range n {
		s := Generate(kinds[i%len(kinds)].kind)
		if _, dup := seen[s[4:]]; dup {
			collisions++
		}
		seen[s[4:]] = struct{}{}
		for j := 4; j < 4+bodyLen; j++ {
			counts[s[j]]++
		}
	}
	if collisions != 0 {
		t.Errorf("%d collisions in %d keys", collisions, n)
	}
	chi2 := chiSquare(t, counts, base62, n*bodyLen)
	t.Logf("chi-square over %d body characters: %.2f (critical %.2f)", n*bodyLen, chi2, critical)
	if chi2 > critical {
		t.Errorf("body characters are not uniform: chi-square %.2f > %.2f", chi2, critical)
	}
}

// chiSquare returns the statistic of counts against a uniform distribution
// over alphabet, failing if any byte outside alphabet was counted.
func chiSquare(t *testing.T, counts [256]int, alphabet string, total int) float64 {
	t.Helper()
	in := 0
	expected := float64(total) / float64(len(alphabet))
	var chi2 float64
	for i := range len(alphabet) {
		c := counts[alphabet[i]]
		in += c
		d := float64(c) - expected
		chi2 += d * d / expected
	}
	if in != total {
		t.Fatalf("%d characters outside the alphabet", total-in)
	}
	return chi2
}

func TestAllocations(t *testing.T) {
	valid := Generate(KindSession)
	long := makeKey("kwk_", randomBody(245))
	inputs := []struct {
		name string
		in   string
	}{
		{"valid", valid},
		{"valid 255", long},
		{"empty", ""},
		{"too long", strings.Repeat("a", 1000)},
		{"bad character", valid[:20] + "!" + valid[21:]},
		{"unknown prefix", "abc_" + valid[4:]},
		{"bad checksum", valid[:47] + "000000"},
	}
	for _, in := range inputs {
		t.Run("Parse "+in.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(1000, func() { Parse(in.in) }); a != 0 {
				t.Fatalf("Parse allocates %.1f times per call", a)
			}
		})
	}
	// A hint is a new string, so one allocation is its own result.
	t.Run("Hint", func(t *testing.T) {
		var sink string
		if a := testing.AllocsPerRun(1000, func() { sink = Hint(valid) }); a > 1 {
			t.Fatalf("Hint allocates %.1f times per call", a)
		}
		_ = sink
	})
	t.Run("Digest", func(t *testing.T) {
		if a := testing.AllocsPerRun(1000, func() { Digest(valid) }); a != 0 {
			t.Fatalf("Digest allocates %.1f times per call", a)
		}
	})
}

func TestHint(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"api key", makeKey("kwk_", strings.Repeat("A", 43)), "kwk_…" + refChecksum("kwk_" + strings.Repeat("A", 43))[2:]},
		{"empty", "", "…"},
		{"short", "kwk_abcdef", "…"},
		{"one short", strings.Repeat("a", 52), "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hint(tt.in); got != tt.want {
				t.Fatalf("Hint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDigestAndEqual(t *testing.T) {
	a, b := Generate(KindAPIKey), Generate(KindAPIKey)
	da, db := Digest(a), Digest(b)
	if da != sha256.Sum256([]byte(a)) {
		t.Fatal("Digest is not SHA-256 of the secret")
	}
	tests := []struct {
		name string
		x, y []byte
		want bool
	}{
		{"same digest", da[:], da[:], true},
		{"same value, other array", func() []byte { d := Digest(a); return d[:] }(), da[:], true},
		{"different digests", da[:], db[:], false},
		{"prefix of other", da[:16], da[:], false},
		{"both empty", nil, []byte{}, true},
		{"empty and digest", nil, da[:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.x, tt.y); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

// fuzzSeeds are fixed valid keys, so the seed corpus is reproducible.
var fuzzSeeds = []string{
	makeKey("kwk_", strings.Repeat("a1B2", 10)+"xyz"),
	makeKey("kwp_", strings.Repeat("0", 43)),
	makeKey("kwo_", strings.Repeat("Zz", 21)+"9"),
	makeKey("kwm_", base62[:43]),
	makeKey("kws_", base62[19:62]),
	makeKey("kwk_", strings.Repeat(base62, 4)[:245]),
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s + "0")
	}
	f.Add("")
	f.Add("kwk_")
	f.Add("kwx_" + strings.Repeat("A", 49))
	f.Add(strings.Repeat("_", 53))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if refValid(s) != (err == nil) {
			t.Fatalf("Parse(%q) = %v, reference model disagrees", s, err)
		}
		if err != nil {
			if k != 0 {
				t.Fatalf("kind %d returned with error", k)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownPrefix) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(s) < Length || len(s) > MaxLength {
			t.Fatalf("accepted length %d", len(s))
		}
		if k.Prefix() == "" || k.Prefix() != s[:4] {
			t.Fatalf("accepted %q as kind %d", s, k)
		}
		if k2, err := Parse(s); k2 != k || err != nil {
			t.Fatalf("second Parse = %d, %v", k2, err)
		}
		// CRC-32 detects every error burst of up to 32 bits, and the
		// checksum digits are a bijection, so a seed changed only in
		// one 4-byte window of its body, or only in its checksum, must
		// be rejected.
		for _, seed := range fuzzSeeds {
			if len(seed) != len(s) || seed == s {
				continue
			}
			n := len(s) - 6
			if s[:n] == seed[:n] {
				t.Fatalf("seed with a changed checksum accepted: %q", s)
			}
			if s[n:] != seed[n:] {
				continue
			}
			first, last := -1, -1
			for i := range n {
				if s[i] != seed[i] {
					if first < 0 {
						first = i
					}
					last = i
				}
			}
			if last-first < 4 {
				t.Fatalf("seed changed in bytes %d..%d accepted: %q", first, last, s)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	s := Generate(KindAPIKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	s := Generate(KindAPIKey)
	b.ReportAllocs()
	for b.Loop() {
		Digest(s)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Generate(KindAPIKey)
	}
}
