package gateway

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/secret"
)

// Header names compared ignoring case and treating "_" and "." as "-", as
// CGI-style servers and PHP read them.
const (
	lowerAPIKey    = "x-api-key"
	lowerAuthKey   = "x-auth-key"
	lowerAccountID = "x-account-id"
)

// keywardCookie reports whether a cookie name is one of keyward's own (the
// back office's session and sign-in cookies, with or without a __Host- or
// __Secure- prefix).
func keywardCookie(name string) bool {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "__Host-"), "__Secure-")
	return strings.HasPrefix(name, "keyward_")
}

// stripCredentials removes from an outbound request's headers everything
// that is or carries a keyward credential, and any Content-Digest the
// client sent: the client's identity headers,
// X-API-Key, the merchant headers, any Authorization whose value holds a
// keyward secret (in any scheme, however spaced, or base64-encoded in
// Basic), keyward's own cookies, and any other header holding a keyward
// secret.
func stripCredentials(h http.Header) {
	for name, vals := range h {
		switch {
		case hasPrefixHeader(name, identityPrefix), equalHeader(name, lowerAPIKey),
			equalHeader(name, lowerAuthKey), equalHeader(name, lowerAccountID),
			equalHeader(name, "content-digest"): // the proxy sets its own, signed
			delete(h, name)
		case name == "Cookie":
			stripCookies(h, vals)
		default:
			for _, v := range vals {
				if holdsSecret(v) || (equalHeader(name, "authorization") && basicHoldsSecret(v)) {
					delete(h, name)
					break
				}
			}
		}
	}
}

// stripCookies keeps the Cookie pairs that are neither keyward's cookies
// nor hold a keyward secret.
func stripCookies(h http.Header, vals []string) {
	var kept []string
	changed := false
	for _, v := range vals {
		var b strings.Builder
		for pair := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if keywardCookie(name) || holdsSecret(pair) {
				changed = true
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(strings.TrimSpace(pair))
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// holdsSecret reports whether s contains what looks like a keyward secret
// of any kind: a known prefix followed by at least minSecretBody base62
// characters. The checksum is not required, so a mistyped secret is kept
// from the upstream too.
func holdsSecret(s string) bool {
	for {
		i := strings.Index(s, "kw")
		if i < 0 || len(s)-i < 4+minSecretBody {
			return false
		}
		s = s[i:]
		if s[3] == '_' && secret.IsPrefix(s[:4]) {
			n := 4
			for n < len(s) && n < 4+minSecretBody && isBase62(s[n]) {
				n++
			}
			if n == 4+minSecretBody {
				return true
			}
		}
		s = s[2:]
	}
}

// minSecretBody is how many base62 characters after a prefix make a
// string look like a keyward secret.
const minSecretBody = 16

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// basicHoldsSecret reports whether an Authorization value is HTTP Basic
// whose credentials hold a keyward secret.
func basicHoldsSecret(v string) bool {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], "basic") {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[i:]))
	return err == nil && holdsSecret(string(b))
}
