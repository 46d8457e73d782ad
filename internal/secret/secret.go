package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash/crc32"
)

// Kind is the kind of a secret; each kind has its own prefix.
type Kind uint8

// Kinds of secret. The zero Kind is not a kind.
const (
	KindAPIKey        Kind = iota + 1 // API key of an integration
	KindPersonalToken                 // personal access token for the admin REST API
	KindOperatorToken                 // operator token
	KindMerchantKey                   // merchant API auth key
	KindSession                       // web session id
)

// Prefix returns the prefix of the kind's secrets, such as "kwk_", or ""
// for a value that is not a kind.
func (k Kind) Prefix() string {
	switch k {
	case KindAPIKey:
		return "kwk_"
	case KindPersonalToken:
		return "kwp_"
	case KindOperatorToken:
		return "kwo_"
	case KindMerchantKey:
		return "kwm_"
	case KindSession:
		return "kws_"
	}
	return ""
}

// IsPrefix reports whether s is the prefix of a kind of secret, such as
// "kwk_".
func IsPrefix(s string) bool { return kindOf(s) != 0 }

func kindOf(prefix string) Kind {
	switch prefix {
	case "kwk_":
		return KindAPIKey
	case "kwp_":
		return KindPersonalToken
	case "kwo_":
		return KindOperatorToken
	case "kwm_":
		return KindMerchantKey
	case "kws_":
		return KindSession
	}
	return 0
}

const (
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	prefixLen   = 4
	bodyLen     = 43 // 43 × log2(62) ≈ 256.03 bits
	checksumLen = 6  // 62^6 > 2^32

	// Length is the length of a generated secret.
	Length = prefixLen + bodyLen + checksumLen
	// MaxLength is the longest secret Parse accepts.
	MaxLength = 255
)

// Errors returned by Parse. They never contain the input.
var (
	ErrMalformed     = errors.New("secret: malformed")
	ErrUnknownPrefix = errors.New("secret: unknown prefix")
	ErrChecksum      = errors.New("secret: checksum mismatch")
)

// digit maps a byte to its base62 value, or -1.
var digit = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(base62) {
		t[base62[i]] = int8(i)
	}
	return t
}()

// Generate returns a new secret of kind k. It panics if k is not one of the
// Kind constants or if the system random source fails.
func Generate(k Kind) string {
	p := k.Prefix()
	if p == "" {
		panic("secret: Generate of an unknown kind")
	}
	var b [Length]byte
	copy(b[:], p)
	fillRandom(b[prefixLen:prefixLen+bodyLen], base62)
	putChecksum(b[prefixLen+bodyLen:], checksum(b[:prefixLen+bodyLen]))
	return string(b[:])
}

// Parse reports the kind of s, checking length, characters, prefix and
// checksum, in that order. It does not allocate.
func Parse(s string) (Kind, error) {
	if len(s) < Length || len(s) > MaxLength {
		return 0, ErrMalformed
	}
	if s[prefixLen-1] != '_' {
		return 0, ErrMalformed
	}
	for i := 0; i < len(s); i++ {
		if i != prefixLen-1 && digit[s[i]] < 0 {
			return 0, ErrMalformed
		}
	}
	k := kindOf(s[:prefixLen])
	if k == 0 {
		return 0, ErrUnknownPrefix
	}
	n := len(s) - checksumLen
	var got uint64
	for i := n; i < len(s); i++ {
		got = got*62 + uint64(digit[s[i]])
	}
	if got != uint64(checksum(s[:n])) {
		return 0, ErrChecksum
	}
	return k, nil
}

// checksum is CRC-32 (IEEE) over strings and byte slices alike, so Parse
// need not convert its input.
func checksum[T string | []byte](s T) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

func putChecksum(dst []byte, c uint32) {
	v := uint64(c)
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62[v%62]
		v /= 62
	}
}

// fillRandom fills dst with characters of alphabet chosen uniformly. Bytes
// at or above the largest multiple of len(alphabet) are discarded, so the
// remainder carries no bias.
func fillRandom(dst []byte, alphabet string) {
	limit := 256 - 256%len(alphabet)
	var pool [64]byte
	for i := 0; i < len(dst); {
		if _, err := rand.Read(pool[:]); err != nil {
			panic("secret: system random source failed")
		}
		for _, b := range pool {
			if int(b) >= limit {
				continue
			}
			dst[i] = alphabet[int(b)%len(alphabet)]
			if i++; i == len(dst) {
				break
			}
		}
	}
}

// Digest returns the SHA-256 of the whole secret, the form in which it is
// stored and looked up.
func Digest(s string) [32]byte {
	if len(s) <= MaxLength {
		// A stack copy keeps the conversion from allocating.
		var buf [MaxLength]byte
		return sha256.Sum256(buf[:copy(buf[:], s)])
	}
	return sha256.Sum256([]byte(s))
}

// Hint returns the prefix of s, "…" and its last four characters, such as
// "kwk_…a1B2" or "whsec_…Q2E=": the only form of a secret shown after its
// creation. For a string shorter than a secret it returns "…", revealing
// nothing.
func Hint(s string) string {
	if len(s) == webhookLength && s[:6] == "whsec_" {
		return s[:6] + "…" + s[len(s)-4:]
	}
	if len(s) < Length {
		return "…"
	}
	return s[:prefixLen] + "…" + s[len(s)-4:]
}

// Equal reports whether a and b are equal, in time that depends only on
// their lengths. Use it to compare digests.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
