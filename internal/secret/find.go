package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"regexp"
)

// KindWebhookSecret is a webhook endpoint's signing secret. Its format is
// Standard Webhooks' (whsec_ and base64), not the kw?_ format of the other
// kinds, so Parse does not accept it; [Find] does.
const KindWebhookSecret Kind = KindSession + 1

// Name returns a short name of the kind, such as "api_key", as scan
// reports and leak records name it.
func (k Kind) Name() string {
	switch k {
	case KindAPIKey:
		return "api_key"
	case KindPersonalToken:
		return "personal_token"
	case KindOperatorToken:
		return "operator_token"
	case KindMerchantKey:
		return "merchant_auth_key"
	case KindSession:
		return "session_id"
	case KindWebhookSecret:
		return "webhook_secret"
	}
	return ""
}

// Kinds lists every kind of secret keyward issues.
var Kinds = []Kind{KindAPIKey, KindPersonalToken, KindOperatorToken, KindMerchantKey, KindSession, KindWebhookSecret}

// Patterns are the regular expressions (RE2 syntax, as Go, gitleaks and
// TruffleHog read them) that find candidates of each kind in text. A
// candidate is a secret only if its checksum holds: see [Find].
const (
	// PatternKeyward matches the kw?_ kinds: a prefix and 49 to 251
	// base62 characters.
	PatternKeyward = `kw[kpoms]_[0-9A-Za-z]{49,251}`
	// PatternWebhook matches webhook signing secrets: whsec_ and the
	// padded base64 of 32 bytes.
	PatternWebhook = `whsec_[0-9A-Za-z+/]{43}=`
)

var candidates = regexp.MustCompile(PatternKeyward + `|` + PatternWebhook)

// webhookRandom is how many of a webhook secret's 32 bytes are random; the
// last four are the CRC-32 (IEEE) of those, big-endian.
const webhookRandom = 28

// webhookLength is the length of a webhook secret: whsec_ and 44 base64
// characters.
const webhookLength = 6 + 44

// GenerateWebhookSecret returns a new webhook signing secret: whsec_ and
// the base64 of 32 bytes, 28 random and 4 of checksum. Receivers use all
// 32 bytes as the HMAC key, as Standard Webhooks has it, so secrets made
// before the checksum (32 random bytes) remain valid.
func GenerateWebhookSecret() string {
	var raw [webhookRandom + 4]byte
	if _, err := rand.Read(raw[:webhookRandom]); err != nil {
		panic("secret: system random source failed")
	}
	binary.BigEndian.PutUint32(raw[webhookRandom:], crc32.ChecksumIEEE(raw[:webhookRandom]))
	return "whsec_" + base64.StdEncoding.EncodeToString(raw[:])
}

// checkWebhookSecret reports whether s is a webhook secret whose checksum
// holds.
func checkWebhookSecret(s string) bool {
	var raw [webhookRandom + 4 + 2]byte
	if len(s) != webhookLength || s[:6] != "whsec_" {
		return false
	}
	n, err := base64.StdEncoding.Decode(raw[:], []byte(s[6:]))
	if err != nil || n != webhookRandom+4 {
		return false
	}
	return binary.BigEndian.Uint32(raw[webhookRandom:]) == crc32.ChecksumIEEE(raw[:webhookRandom])
}

// Check reports the kind of s when s is a secret of any kind, webhook
// secrets included, whose checksum holds; 0 otherwise.
func Check(s string) Kind {
	if checkWebhookSecret(s) {
		return KindWebhookSecret
	}
	k, err := Parse(s)
	if err != nil {
		return 0
	}
	return k
}

// Found is a secret found in text.
type Found struct {
	Kind   Kind
	Secret string
	Offset int // of the secret's first byte in the text
}

// Find returns the secrets in text: every match of the patterns that
// stands alone (no base62 character or underscore right before it, none
// right after a kw?_ secret) and whose checksum holds. Random text of the
// same shape passes the checksum about once in 2^32 tries.
func Find(text []byte) []Found {
	var out []Found
	for _, m := range candidates.FindAllIndex(text, -1) {
		i, j := m[0], m[1]
		if i > 0 && (digit[text[i-1]] >= 0 || text[i-1] == '_') {
			continue
		}
		s := string(text[i:j])
		if s[0] == 'k' && j < len(text) && digit[text[j]] >= 0 {
			continue // a longer run than a secret may be
		}
		if k := Check(s); k != 0 {
			out = append(out, Found{Kind: k, Secret: s, Offset: i})
		}
	}
	return out
}
