package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// Identity headers: the proxy sets them on every request it forwards after
// removing any the client sent, and signs them with the identity key.
const (
	HeaderKeyID     = "X-Keyward-Key-Id"
	HeaderTenant    = "X-Keyward-Tenant"
	HeaderStores    = "X-Keyward-Stores"
	HeaderMethod    = "X-Keyward-Method"
	HeaderTimestamp = "X-Keyward-Timestamp"
	HeaderSignature = "X-Keyward-Signature"
)

// MinIdentityKey is the shortest identity key accepted, in bytes.
const MinIdentityKey = 32

// DefaultMaxSkew is how far the timestamp of an identity may be from the
// receiving clock in IdentityMiddleware.
const DefaultMaxSkew = 2 * time.Minute

const signaturePrefix = "v1="

// Errors of VerifyIdentity.
var (
	ErrIdentityKey       = errors.New("gateway: identity key shorter than 32 bytes")
	ErrIdentityMissing   = errors.New("gateway: identity headers missing")
	ErrIdentityMalformed = errors.New("gateway: identity headers malformed")
	ErrIdentityForged    = errors.New("gateway: identity signature does not match")
	ErrIdentitySkew      = errors.New("gateway: identity timestamp outside the allowed skew")
)

// Identity is who the proxy let through: the key, its tenant and stores,
// and the catalog method the request matched.
type Identity struct {
	KeyID  string
	Tenant string // the tenant's domain
	// AllStores is set when the key may act on every store of the tenant;
	// otherwise Stores lists the store ids it may act on.
	AllStores bool
	Stores    []string
	Method    string // catalog method id
	Time      time.Time
}

// appendCanonical appends the string the signature covers. Only the path,
// last, can hold a newline (header values cannot), so the joined form is
// unambiguous.
func appendCanonical(dst []byte, ts, keyID, tenant, stores, method, httpMethod, path string) []byte {
	for _, s := range [...]string{ts, keyID, tenant, stores, method, httpMethod} {
		dst = append(dst, s...)
		dst = append(dst, '\n')
	}
	return append(dst, path...)
}

// sum computes the MAC of the canonical string into out, using buf as
// scratch; it returns buf for reuse.
func sum(mac hash.Hash, buf []byte, out *[sha256.Size]byte, ts, keyID, tenant, stores, method, httpMethod, path string) []byte {
	buf = appendCanonical(buf[:0], ts, keyID, tenant, stores, method, httpMethod, path)
	mac.Reset()
	mac.Write(buf)
	buf = mac.Sum(buf[:0])
	copy(out[:], buf)
	return buf
}

// VerifyIdentity checks the identity headers of a request forwarded by the
// proxy: each present once, signed with key over the request's method and
// path, and timestamped within maxSkew of now. Services behind the proxy
// call it, or use IdentityMiddleware, so that a request reaching them
// without passing the proxy is refused.
func VerifyIdentity(r *http.Request, key []byte, maxSkew time.Duration, now time.Time) (Identity, error) {
	if len(key) < MinIdentityKey {
		return Identity{}, ErrIdentityKey
	}
	var v [6]string
	for i, name := range [...]string{HeaderTimestamp, HeaderKeyID, HeaderTenant, HeaderStores, HeaderMethod, HeaderSignature} {
		vals := r.Header[name]
		switch len(vals) {
		case 0:
			return Identity{}, ErrIdentityMissing
		case 1:
			v[i] = vals[0]
		default:
			return Identity{}, ErrIdentityMalformed
		}
	}
	ts, keyID, tenant, stores, method, sig := v[0], v[1], v[2], v[3], v[4], v[5]
	secs, ok := parseUnix(ts)
	if !ok {
		return Identity{}, ErrIdentityMalformed
	}
	var got [sha256.Size]byte
	if len(sig) != len(signaturePrefix)+2*sha256.Size || sig[:len(signaturePrefix)] != signaturePrefix {
		return Identity{}, ErrIdentityMalformed
	}
	if _, err := hex.Decode(got[:], []byte(sig[len(signaturePrefix):])); err != nil {
		return Identity{}, ErrIdentityMalformed
	}
	var want [sha256.Size]byte
	sum(hmac.New(sha256.New, key), make([]byte, 0, 256), &want, ts, keyID, tenant, stores, method, r.Method, r.URL.Path)
	if !hmac.Equal(got[:], want[:]) {
		return Identity{}, ErrIdentityForged
	}
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > maxSkew || d < -maxSkew {
		return Identity{}, ErrIdentitySkew
	}
	id := Identity{KeyID: keyID, Tenant: tenant, Method: method, Time: at.UTC()}
	if stores == "*" {
		id.AllStores = true
	} else if stores != "" {
		id.Stores = strings.Split(stores, ",")
	}
	return id, nil
}

// parseUnix reads unix seconds written as plain decimal digits.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

type identityKey struct{}

// IdentityFrom returns the identity IdentityMiddleware verified.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// IdentityMiddleware lets through only requests whose identity headers
// verify with key (within DefaultMaxSkew), putting the Identity in the
// request context; others are answered 401. It panics if key is shorter
// than MinIdentityKey.
func IdentityMiddleware(key []byte, next http.Handler) http.Handler {
	if len(key) < MinIdentityKey {
		panic(ErrIdentityKey)
	}
	key = append([]byte(nil), key...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := VerifyIdentity(r, key, DefaultMaxSkew, time.Now())
		if err != nil {
			detail := "The request carries no valid keyward identity: it must come through the keyward proxy."
			if errors.Is(err, ErrIdentitySkew) {
				detail = "The keyward identity of the request is too old or from the future; check the clocks of the proxy and this service."
			}
			httpx.WriteProblem(w, httpx.Problem{
				Type: problemType + string(keyward.EUnauthenticated), Title: http.StatusText(http.StatusUnauthorized),
				Status: http.StatusUnauthorized, Code: string(keyward.EUnauthenticated), Detail: detail,
			})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}
