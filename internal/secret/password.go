package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Errors returned by the password functions. They never contain the
// password or the stored hash.
var (
	ErrPasswordTooLong = errors.New("secret: password longer than 256 bytes")
	ErrBadHash         = errors.New("secret: malformed or unsupported password hash")
)

// MaxPasswordLength is the longest password, in bytes, that is hashed.
const MaxPasswordLength = 256

// argonParams are the parameters of one argon2id hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  int
}

// policy is the cost of new hashes (OWASP's first argon2id choice).
var policy = argonParams{memory: 19456, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// Bounds on stored parameters, so a hostile hash cannot exhaust the host.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 10
	maxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxEncoded = 256
)

// hashSlots bounds concurrent argon2 hashes; each holds its memory cost
// (19 MiB under the current policy) until done.
var hashSlots = make(chan struct{}, 4)

var b64 = base64.RawStdEncoding.Strict()

func idKey(pw, salt []byte, p argonParams) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(pw, salt, p.time, p.memory, p.threads, uint32(p.keyLen))
}

// HashPassword returns the PHC-encoded argon2id hash of pw under the current
// policy. Passwords over MaxPasswordLength bytes are refused.
func HashPassword(pw string) (string, error) {
	return hashWith(pw, policy)
}

// A Hasher hashes and checks passwords under one set of argon2id
// parameters, taken as its policy.
type Hasher struct {
	p     argonParams
	dummy func() string
}

func newHasher(p argonParams) *Hasher {
	h := &Hasher{p: p}
	h.dummy = sync.OnceValue(func() string {
		d, err := h.Hash(GeneratePassword())
		if err != nil {
			panic("secret: hash a dummy password: " + err.Error())
		}
		return d
	})
	return h
}

var (
	defaultHasher = newHasher(policy)
	// testHasher uses the least work argon2id allows: 8 KiB, one pass.
	testHasher = newHasher(argonParams{memory: 8, time: 1, threads: 1, saltLen: 16, keyLen: 32})
)

// DefaultHasher returns the hasher of HashPassword and CheckPassword.
func DefaultHasher() *Hasher { return defaultHasher }

// TestHasher returns a hasher whose hashes cost almost nothing to compute
// or to guess, so that tests signing in many times run fast. Never use it
// for passwords anyone relies on.
func TestHasher() *Hasher { return testHasher }

// Hash is HashPassword under h's parameters.
func (h *Hasher) Hash(pw string) (string, error) { return hashWith(pw, h.p) }

// Check is CheckPassword, with needsRehash set for hashes made with
// parameters below h's.
func (h *Hasher) Check(encoded, pw string) (ok bool, needsRehash bool, err error) {
	return checkWith(encoded, pw, h.p)
}

// DummyHash returns a hash of a random password under h's parameters, made
// once, to check a password against when there is no account, so that a
// sign-in costs the same whether or not the account exists.
func (h *Hasher) DummyHash() string { return h.dummy() }

func hashWith(pw string, p argonParams) (string, error) {
	if len(pw) > MaxPasswordLength {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return encodeHash(p, salt, idKey([]byte(pw), salt, p)), nil
}

func encodeHash(p argonParams, salt, key []byte) string {
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) +
		"$m=" + strconv.FormatUint(uint64(p.memory), 10) +
		",t=" + strconv.FormatUint(uint64(p.time), 10) +
		",p=" + strconv.FormatUint(uint64(p.threads), 10) +
		"$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

// CheckPassword reports whether pw matches the PHC-encoded hash, and, if it
// does, whether the hash was made with parameters below the current policy
// and should be replaced by HashPassword(pw). A malformed hash, one with
// parameters out of bounds, or a password over MaxPasswordLength bytes is
// an error.
func CheckPassword(encoded, pw string) (ok bool, needsRehash bool, err error) {
	return checkWith(encoded, pw, policy)
}

func checkWith(encoded, pw string, policy argonParams) (ok bool, needsRehash bool, err error) {
	if len(pw) > MaxPasswordLength {
		return false, false, ErrPasswordTooLong
	}
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := idKey([]byte(pw), salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	weak := p.memory < policy.memory || p.time < policy.time ||
		p.saltLen < policy.saltLen || p.keyLen < policy.keyLen
	return true, weak, nil
}

// decodeHash parses exactly the form encodeHash writes; anything else,
// including non-canonical numbers and base64, is rejected.
func decodeHash(s string) (p argonParams, salt, key []byte, err error) {
	if len(s) > maxEncoded {
		return p, nil, nil, ErrBadHash
	}
	rest, ok := strings.CutPrefix(s, "$argon2id$v=19$m=")
	if !ok {
		return p, nil, nil, ErrBadHash
	}
	var m, t, th uint64
	if m, rest, ok = number(rest, ",t=", maxMemory); !ok {
		return p, nil, nil, ErrBadHash
	}
	if t, rest, ok = number(rest, ",p=", maxTime); !ok {
		return p, nil, nil, ErrBadHash
	}
	if th, rest, ok = number(rest, "$", maxThreads); !ok {
		return p, nil, nil, ErrBadHash
	}
	// argon2 silently raises memory below 8 KiB per lane; refuse instead.
	if m < 8*th {
		return p, nil, nil, ErrBadHash
	}
	saltText, keyText, ok := strings.Cut(rest, "$")
	if !ok {
		return p, nil, nil, ErrBadHash
	}
	if salt, ok = decode64(saltText); !ok || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, ErrBadHash
	}
	if key, ok = decode64(keyText); !ok || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, ErrBadHash
	}
	p = argonParams{memory: uint32(m), time: uint32(t), threads: uint8(th), saltLen: len(salt), keyLen: len(key)}
	return p, salt, key, nil
}

// decode64 decodes canonical unpadded base64. The length check rejects the
// CR and LF characters that encoding/base64 skips even in strict mode.
func decode64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodedLen(len(b)) != len(s) {
		return nil, false
	}
	return b, true
}

// number reads a decimal in 1..limit without leading zeros, followed by sep.
func number(s, sep string, limit uint64) (v uint64, rest string, ok bool) {
	i := 0
	for i < len(s) && i < 8 && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + uint64(s[i]-'0')
		i++
	}
	if i == 0 || s[0] == '0' || v > limit {
		return 0, "", false
	}
	rest, ok = strings.CutPrefix(s[i:], sep)
	return v, rest, ok
}

// passwordAlphabet is letters and digits without the look-alikes 0 O o 1 l I.
const passwordAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"

// GeneratePassword returns a random 20-character password of letters and
// digits, leaving out characters that are easily confused (about 116 bits).
func GeneratePassword() string {
	var b [20]byte
	fillRandom(b[:], passwordAlphabet)
	return string(b[:])
}
