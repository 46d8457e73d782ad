package secret

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

var phcShape = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashAndCheckPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phcShape.MatchString(h) {
		t.Fatalf("hash %q is not the documented PHC form", h)
	}
	if strings.Contains(h, pw) {
		t.Fatal("hash contains the password")
	}
	if h2, _ := HashPassword(pw); h2 == h {
		t.Fatal("two hashes of one password are equal; salt is not random")
	}
	tests := []struct {
		name     string
		pw       string
		ok       bool
		needsNew bool
	}{
		{"right password", pw, true, false},
		{"wrong password", "correct horse battery stapler", false, false},
		{"prefix", pw[:len(pw)-1], false, false},
		{"empty", "", false, false},
		{"case", strings.ToUpper(pw), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := CheckPassword(h, tt.pw)
			if err != nil || ok != tt.ok || rehash != tt.needsNew {
				t.Fatalf("CheckPassword = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.needsNew)
			}
		})
	}
}

func TestPasswordLength(t *testing.T) {
	tests := []struct {
		name string
		n    int
		err  error
	}{
		{"empty", 0, nil},
		{"256 bytes", 256, nil},
		{"257 bytes", 257, ErrPasswordTooLong},
		{"1 MiB", 1 << 20, ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw := strings.Repeat("p", tt.n)
			h, err := HashPassword(pw)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("HashPassword error %v, want %v", err, tt.err)
			}
			if err != nil {
				if h != "" {
					t.Fatal("hash returned with error")
				}
				h, _ = HashPassword("x")
			}
			ok, _, err := CheckPassword(h, pw)
			if !errors.Is(err, tt.err) || ok != (tt.err == nil) {
				t.Fatalf("CheckPassword = %v, %v; want ok %v, error %v", ok, err, tt.err == nil, tt.err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	const pw = "hunter2hunter2"
	tests := []struct {
		name   string
		p      argonParams
		rehash bool
	}{
		{"policy", policy, false},
		{"t=1", argonParams{memory: 19456, time: 1, threads: 1, saltLen: 16, keyLen: 32}, true},
		{"less memory", argonParams{memory: 8192, time: 2, threads: 1, saltLen: 16, keyLen: 32}, true},
		{"short salt", argonParams{memory: 19456, time: 2, threads: 1, saltLen: 8, keyLen: 32}, true},
		{"short key", argonParams{memory: 19456, time: 2, threads: 1, saltLen: 16, keyLen: 16}, true},
		{"stronger", argonParams{memory: 19456, time: 3, threads: 2, saltLen: 16, keyLen: 32}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := hashWith(pw, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := CheckPassword(h, pw)
			if err != nil || !ok || rehash != tt.rehash {
				t.Fatalf("CheckPassword = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			if ok, rehash, _ := CheckPassword(h, "wrong"); ok || rehash {
				t.Fatalf("wrong password: ok %v, rehash %v", ok, rehash)
			}
		})
	}
}

// validHash is a small-cost hash with fixed salt, for tampering.
func validHash(p argonParams, pw string) string {
	salt := []byte("0123456789abcdef")[:p.saltLen]
	return encodeHash(p, salt, argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(p.keyLen)))
}

func TestTamperedHash(t *testing.T) {
	small := argonParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}
	good := validHash(small, "pw")
	if ok, _, err := CheckPassword(good, "pw"); !ok || err != nil {
		t.Fatalf("untampered hash: %v, %v", ok, err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	join := func(p ...string) string { return strings.Join(p, "$") }
	salt, key := parts[4], parts[5]
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"dollar", "$"},
		{"bad version", join("", "argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", join("", "argon2id", "m=64,t=1,p=1", salt, key)},
		{"argon2i", join("", "argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", join("", "argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"huge m", join("", "argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"m just over 1 GiB", join("", "argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"m overflow", join("", "argon2id", "v=19", "m=99999999999999999999999,t=1,p=1", salt, key)},
		{"m below 8 per lane", join("", "argon2id", "v=19", "m=15,t=1,p=2", salt, key)},
		{"m zero", join("", "argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"m leading zero", join("", "argon2id", "v=19", "m=064,t=1,p=1", salt, key)},
		{"m negative", join("", "argon2id", "v=19", "m=-64,t=1,p=1", salt, key)},
		{"m plus", join("", "argon2id", "v=19", "m=+64,t=1,p=1", salt, key)},
		{"t zero", join("", "argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"t 11", join("", "argon2id", "v=19", "m=64,t=11,p=1", salt, key)},
		{"p zero", join("", "argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"p 17", join("", "argon2id", "v=19", "m=256,t=1,p=17", salt, key)},
		{"p 256", join("", "argon2id", "v=19", "m=4096,t=1,p=256", salt, key)},
		{"params reordered", join("", "argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params spaced", join("", "argon2id", "v=19", "m=64, t=1,p=1", salt, key)},
		{"extra param", join("", "argon2id", "v=19", "m=64,t=1,p=1,k=1", salt, key)},
		{"no salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", key)},
		{"empty salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", "", key)},
		{"short salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", "AAAAAA", key)},
		{"long salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", strings.Repeat("A", 88), key)},
		{"bad base64 salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", "!!"+salt[2:], key)},
		{"padded salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"url base64 key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("-", 43))},
		{"non-canonical key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key[:42]+"B")},
		{"short key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key[:20])},
		{"long key", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("A", 88))},
		{"extra field", good + "$AAAA"},
		{"trailing newline", good + "\n"},
		{"newline in salt", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt[:4]+"\r\n"+salt[4:], key)},
		{"leading space", " " + good},
		{"over-long", good + strings.Repeat("A", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := CheckPassword(tt.in, "pw")
			if !errors.Is(err, ErrBadHash) || ok || rehash {
				t.Fatalf("CheckPassword = %v, %v, %v; want false, false, %v", ok, rehash, err, ErrBadHash)
			}
			if len(tt.in) > 0 && strings.Contains(err.Error(), tt.in) {
				t.Fatal("error contains the stored hash")
			}
		})
	}
	// Cutting the string inside the header or salt leaves it malformed;
	// cutting inside the key may leave a shorter well-formed key, which
	// must then simply not match.
	keyStart := len(good) - len(key)
	for i := range len(good) {
		ok, _, err := CheckPassword(good[:i], "pw")
		if ok {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
		if i < keyStart && !errors.Is(err, ErrBadHash) {
			t.Fatalf("truncated to %d bytes: error %v", i, err)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := decodeHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != policy {
		t.Fatalf("decoded params %+v, want %+v", p, policy)
	}
	if got := encodeHash(p, salt, key); got != h {
		t.Fatalf("re-encoded %q, want %q", got, h)
	}
}

func TestHashConcurrencyLimit(t *testing.T) {
	if cap(hashSlots) != 4 {
		t.Fatalf("%d hash slots, want 4", cap(hashSlots))
	}
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		HashPassword("pw")
	}()
	select {
	case <-done:
		t.Fatal("a hash ran while every slot was taken")
	case <-time.After(200 * time.Millisecond):
	}
	<-hashSlots
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("hash did not run after a slot was freed")
	}
	for range cap(hashSlots) - 1 {
		<-hashSlots
	}
}

func TestGeneratePassword(t *testing.T) {
	const n = 20_000
	// Critical value of chi-square with 55 degrees of freedom at p = 0.0001.
	const critical = 102.78
	if len(passwordAlphabet) != 56 || strings.ContainsAny(passwordAlphabet, "0Oo1lI") {
		t.Fatalf("alphabet %q", passwordAlphabet)
	}
	seen := make(map[string]bool, n)
	var counts [256]int
	for range n {
		pw := GeneratePassword()
		if len(pw) != 20 {
			t.Fatalf("length %d, want 20", len(pw))
		}
		if seen[pw] {
			t.Fatal("password repeated")
		}
		seen[pw] = true
		for i := range len(pw) {
			counts[pw[i]]++
		}
	}
	chi2 := chiSquare(t, counts, passwordAlphabet, n*20)
	t.Logf("chi-square over %d password characters: %.2f (critical %.2f)", n*20, chi2, critical)
	if chi2 > critical {
		t.Errorf("password characters are not uniform: chi-square %.2f > %.2f", chi2, critical)
	}
}

func FuzzCheckPassword(f *testing.F) {
	small := argonParams{memory: 8, time: 1, threads: 1, saltLen: 8, keyLen: 16}
	f.Add(validHash(small, "pw"), "pw")
	f.Add(validHash(argonParams{memory: 64, time: 2, threads: 2, saltLen: 16, keyLen: 32}, "pw"), "x")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "pw")
	f.Add("$argon2id$v=19$m=1048576,t=10,p=16$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add("$argon2id$v=19$m=,t=,p=$$", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		p, salt, key, err := decodeHash(encoded)
		if err != nil {
			if ok, rehash, err2 := CheckPassword(encoded, pw); ok || rehash || err2 == nil {
				t.Fatalf("decode failed but CheckPassword = %v, %v, %v", ok, rehash, err2)
			}
			return
		}
		if p.memory > maxMemory || p.time < 1 || p.time > maxTime || p.threads < 1 || p.threads > maxThreads ||
			p.memory < 8*uint32(p.threads) || p.keyLen < minKeyLen || p.keyLen > maxKeyLen ||
			p.saltLen < minSaltLen || p.saltLen > maxSaltLen || len(salt) != p.saltLen || len(key) != p.keyLen {
			t.Fatalf("accepted out-of-bounds parameters %+v", p)
		}
		if got := encodeHash(p, salt, key); got != encoded {
			t.Fatalf("decoder is not strict: %q re-encodes as %q", encoded, got)
		}
		if p.memory <= 256 && p.time <= 2 {
			if _, _, err := CheckPassword(encoded, pw); err != nil && !errors.Is(err, ErrPasswordTooLong) {
				t.Fatalf("CheckPassword of a decodable hash: %v", err)
			}
		}
	})
}

func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
