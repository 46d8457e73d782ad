// Package identity is the scheme by which keyward's gateway tells the
// platform behind it who made a request: signed X-Keyward-* headers over
// the request's method, path, exact query and body digest, with a request
// id accepted once. The gateway signs with Sign; a Go service verifies with
// Middleware or a Verifier. docs/identity.md describes the scheme for any
// language, with test vectors.
package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// Identity headers: the proxy sets them on every request it forwards after
// removing any the client sent, and signs them with the identity key. The
// scheme is described in docs/identity.md.
const (
	HeaderKeyID     = "X-Keyward-Key-Id"
	HeaderTenant    = "X-Keyward-Tenant"
	HeaderStores    = "X-Keyward-Stores"
	HeaderMethod    = "X-Keyward-Method"
	HeaderTimestamp = "X-Keyward-Timestamp"
	HeaderSignature = "X-Keyward-Signature"
	// HeaderMerchant carries the merchant id; it is sent only for a
	// merchant's credentials.
	HeaderMerchant = "X-Keyward-Merchant"
	// HeaderRequestID carries 128 random bits in lowercase hex, fresh for
	// every forwarded request; a verifier accepts each id once.
	HeaderRequestID = "X-Keyward-Request-Id"
	// HeaderContentDigest is the RFC 9530 digest of the request body,
	// "sha-256=:<base64>:", sent only when the body is not empty.
	HeaderContentDigest = "Content-Digest"
	// HeaderSignatureKid names the identity key that made the signature,
	// as KeyID computes it from the key. It is not signed: a verifier
	// holding several keys uses it to pick one, and tries each key when it
	// is absent or names none of them.
	HeaderSignatureKid = "X-Keyward-Signature-Kid"
)

// MinKey is the shortest identity key accepted, in bytes.
const MinKey = 32

// DefaultMaxBody is the largest body a Verifier reads when Options.MaxBody
// is zero; it is also the gateway's default --max-body.
const DefaultMaxBody = 8 << 20

const problemType = "https://keyward.dev/problems/"

// DefaultMaxSkew is how far the timestamp of an identity may be from the
// receiving clock when Options.MaxSkew is zero. A verifier
// remembers every request id for as long as its timestamp is acceptable,
// so the window is kept short to keep that memory small.
const DefaultMaxSkew = 30 * time.Second

const (
	signaturePrefix = "v2="
	canonicalPrefix = "keyward-identity-v2"
	digestPrefix    = "sha-256=:"
	// digestLen is the length of a Content-Digest value BodyDigest writes.
	digestLen    = len(digestPrefix) + (sha256.Size+2)/3*4 + 1
	requestIDLen = 2 * 16
)

// Errors of Verifier.Verify.
var (
	ErrKey       = errors.New("identity: identity key shorter than 32 bytes")
	ErrMissing   = errors.New("identity: identity headers missing")
	ErrMalformed = errors.New("identity: identity headers malformed")
	ErrForged    = errors.New("identity: identity signature does not match")
	ErrSkew      = errors.New("identity: identity timestamp outside the allowed skew")
	ErrReplayed  = errors.New("identity: identity request id already seen")
	ErrDigest    = errors.New("identity: request body does not match its Content-Digest")
	// ErrBodyTooLarge is returned for a body longer than
	// Options.MaxBody, which is not read to its end.
	ErrBodyTooLarge = errors.New("identity: request body too large to verify")
)

// Identity is who the proxy let through: the key, its tenant, stores and
// merchant, and the catalog method the request matched.
type Identity struct {
	// RequestID is the id the proxy gave the request, 32 lowercase hex
	// digits; it is accepted once.
	RequestID string
	KeyID     string
	Tenant    string // the tenant's domain
	// Merchant is the merchant id of a merchant's credentials; "" for an
	// API key.
	Merchant string
	// AllStores is set when the key may act on every store of the tenant;
	// otherwise Stores lists the store ids it may act on.
	AllStores bool
	Stores    []string
	Method    string // catalog method id
	Time      time.Time
}

// Fields are the values the signature covers, in the order of the
// canonical string.
type Fields struct {
	Timestamp, RequestID, KeyID, Tenant, Stores, Merchant, Method, HTTPMethod, Path, RawQuery, ContentDigest string
}

// appendCanonical appends the string the signature covers: a version line,
// then the fields one a line, without a trailing newline. None of the
// fields can hold a newline (header values and request-targets cannot), so
// the joined form is unambiguous.
func appendCanonical(dst []byte, f *Fields) []byte {
	dst = append(dst, canonicalPrefix...)
	for _, s := range [...]string{
		f.Timestamp, f.RequestID, f.KeyID, f.Tenant, f.Stores, f.Merchant,
		f.Method, f.HTTPMethod, f.Path, f.RawQuery, f.ContentDigest,
	} {
		dst = append(dst, '\n')
		dst = append(dst, s...)
	}
	return dst
}

// sum computes the MAC of the canonical string of f into out, using buf as
// scratch; it returns buf for reuse.
func sum(mac hash.Hash, buf []byte, out *[sha256.Size]byte, f *Fields) []byte {
	buf = appendCanonical(buf[:0], f)
	mac.Reset()
	mac.Write(buf)
	buf = mac.Sum(buf[:0])
	copy(out[:], buf)
	return buf
}

// randBatch is a share of random bytes handed out 16 at a time; read in
// batches, request ids cost a fraction of a crypto/rand call each.
type randBatch struct {
	b [1024]byte
	n int // bytes of b handed out
}

var randBatches = sync.Pool{New: func() any { return &randBatch{n: len(randBatch{}.b)} }}

// Sign returns the X-Keyward-Signature value for f. mac is an HMAC-SHA256
// keyed with the identity key, and buf scratch space; Sign returns buf for
// reuse, so a caller signing many requests allocates only the value.
func Sign(mac hash.Hash, buf []byte, f *Fields) (string, []byte) {
	var m [sha256.Size]byte
	buf = sum(mac, buf, &m, f)
	var sig [len(signaturePrefix) + 2*sha256.Size]byte
	copy(sig[:], signaturePrefix)
	hex.Encode(sig[len(signaturePrefix):], m[:])
	return string(sig[:]), buf
}

// NewRequestID returns 128 random bits from crypto/rand as 32 lowercase hex
// digits. A batch is owned by one caller between Get and Put, so no bytes
// are handed out twice.
func NewRequestID() string {
	rb := randBatches.Get().(*randBatch)
	if rb.n == len(rb.b) {
		rand.Read(rb.b[:]) // never fails; crashes the program if it cannot
		rb.n = 0
	}
	var id [requestIDLen]byte
	hex.Encode(id[:], rb.b[rb.n:rb.n+16])
	rb.n += 16
	randBatches.Put(rb)
	return string(id[:])
}

// appendBodyDigest appends the Content-Digest value of body.
func appendBodyDigest(dst, body []byte) []byte {
	d := sha256.Sum256(body)
	dst = append(dst, digestPrefix...)
	dst = base64.StdEncoding.AppendEncode(dst, d[:])
	return append(dst, ':')
}

// BodyDigest returns the Content-Digest header value of body:
// "sha-256=:" + standard base64 of its SHA-256 + ":".
func BodyDigest(body []byte) string {
	var b [digestLen]byte
	return string(appendBodyDigest(b[:0], body))
}

// Options tune an Verifier; zero values take the defaults.
type Options struct {
	// MaxSkew is how far the timestamp of an identity may be from Now,
	// either way; DefaultMaxSkew when zero. Request ids are remembered for
	// that long, so memory grows with it.
	MaxSkew time.Duration
	// MaxBody is the longest body read to check its digest, in bytes;
	// DefaultMaxBody (as much as the proxy forwards) when zero. A longer
	// body is refused with ErrBodyTooLarge.
	MaxBody int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks the identity headers of requests forwarded by the
// proxy and refuses a request id it has already accepted. It is safe for
// concurrent use; services use one per identity key, or Middleware.
type Verifier struct {
	keys    atomic.Pointer[[]*macKey]
	maxSkew time.Duration
	maxBody int64
	now     func() time.Time
	seen    *replayCache
}

// NewVerifier returns a verifier of identities signed with key.
func NewVerifier(key []byte, opts Options) (*Verifier, error) {
	return NewKeySetVerifier([][]byte{key}, opts)
}

// NewKeySetVerifier returns a verifier of identities signed with any of
// keys: during a rotation of the identity key, the current key and the
// next one, or the previous one, as "keyward identity keys" lists them.
func NewKeySetVerifier(keys [][]byte, opts Options) (*Verifier, error) {
	if opts.MaxSkew < 0 || opts.MaxBody < 0 {
		return nil, errors.New("identity: negative identity MaxSkew or MaxBody")
	}
	v := &Verifier{maxSkew: opts.MaxSkew, maxBody: opts.MaxBody, now: opts.Now}
	if err := v.SetKeys(keys); err != nil {
		return nil, err
	}
	if v.maxSkew == 0 {
		v.maxSkew = DefaultMaxSkew
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBody
	}
	v.maxBody = min(v.maxBody, math.MaxInt64-1) // so that one byte more can be asked for
	if v.now == nil {
		v.now = time.Now
	}
	v.seen = newReplayCache(v.maxSkew)
	return v, nil
}

// SetKeys replaces the keys v accepts, as when a rotation publishes a new
// key or retires an old one; request ids already accepted stay refused.
// It fails, changing nothing, when keys is empty or one is shorter than
// MinKey.
func (v *Verifier) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return ErrKey
	}
	set := make([]*macKey, 0, len(keys))
	for _, k := range keys {
		mk, err := newMACKey(k)
		if err != nil {
			return err
		}
		set = append(set, mk)
	}
	v.keys.Store(&set)
	return nil
}

// The identity headers, in the order Verify reads them.
const (
	hTimestamp = iota
	hRequestID
	hKeyID
	hTenant
	hStores
	hMerchant
	hMethod
	hContentDigest
	hSignature
	hKid
	nIdentityHeaders
)

var identityHeaders = [nIdentityHeaders]string{
	HeaderTimestamp, HeaderRequestID, HeaderKeyID, HeaderTenant, HeaderStores,
	HeaderMerchant, HeaderMethod, HeaderContentDigest, HeaderSignature, HeaderSignatureKid,
}

// optionalHeader reports whether identity header i may be absent.
func optionalHeader(i int) bool { return i == hMerchant || i == hContentDigest || i == hKid }

// Verify checks the identity of a request forwarded by the proxy: each
// identity header present at most once (all but X-Keyward-Merchant and
// Content-Digest exactly once), the signature made with the key over the
// headers and the request's method, path and query, the timestamp within
// MaxSkew of Now, the body matching Content-Digest, and the request id not
// accepted before. To check the digest it reads the body, up to MaxBody
// bytes, and replaces r.Body with a reader of the same bytes, setting
// r.ContentLength. A request refused for any reason does not use up its id.
func (v *Verifier) Verify(r *http.Request) (Identity, error) {
	var hv [nIdentityHeaders]string
	for i, name := range identityHeaders {
		switch vals := r.Header[name]; len(vals) {
		case 0:
			if optionalHeader(i) {
				continue
			}
			return Identity{}, ErrMissing
		case 1:
			if vals[0] == "" && optionalHeader(i) {
				return Identity{}, ErrMalformed
			}
			hv[i] = vals[0]
		default:
			return Identity{}, ErrMalformed
		}
	}
	secs, ok := parseUnix(hv[hTimestamp])
	if !ok {
		return Identity{}, ErrMalformed
	}
	var rid [16]byte
	if !decodeLowerHex(rid[:], hv[hRequestID]) {
		return Identity{}, ErrMalformed
	}
	sig := hv[hSignature]
	var got [sha256.Size]byte
	if !strings.HasPrefix(sig, signaturePrefix) || !decodeLowerHex(got[:], sig[len(signaturePrefix):]) {
		return Identity{}, ErrMalformed
	}
	if r.URL == nil {
		return Identity{}, ErrMalformed
	}
	path, query := requestTarget(r)
	f := Fields{
		Timestamp: hv[hTimestamp], RequestID: hv[hRequestID], KeyID: hv[hKeyID], Tenant: hv[hTenant],
		Stores: hv[hStores], Merchant: hv[hMerchant], Method: hv[hMethod], HTTPMethod: r.Method,
		Path: path, RawQuery: query, ContentDigest: hv[hContentDigest],
	}
	for _, s := range [...]string{f.KeyID, f.Tenant, f.Stores, f.Merchant, f.Method, f.HTTPMethod, f.Path, f.RawQuery, f.ContentDigest} {
		if strings.IndexByte(s, '\n') >= 0 {
			return Identity{}, ErrMalformed
		}
	}
	if !v.signedByOne(*v.keys.Load(), hv[hKid], &got, &f) {
		return Identity{}, ErrForged
	}
	at, now := time.Unix(secs, 0), v.now()
	if d := now.Sub(at); d > v.maxSkew || d < -v.maxSkew {
		return Identity{}, ErrSkew
	}
	if err := v.checkBody(r, f.ContentDigest); err != nil {
		return Identity{}, err
	}
	if err := v.seen.add(rid, secs, now.Unix()); err != nil {
		return Identity{}, err
	}
	id := Identity{RequestID: f.RequestID, KeyID: f.KeyID, Tenant: f.Tenant, Merchant: f.Merchant, Method: f.Method, Time: at.UTC()}
	if f.Stores == "*" {
		id.AllStores = true
	} else if f.Stores != "" {
		id.Stores = strings.Split(f.Stores, ",")
	}
	return id, nil
}

// signedByOne reports whether got is the MAC of f under one of keys: the
// key kid names, when it names one, or else any of them.
func (v *Verifier) signedByOne(keys []*macKey, kid string, got *[sha256.Size]byte, f *Fields) bool {
	for _, k := range keys {
		if k.id == kid {
			return k.signed(got, f)
		}
	}
	ok := false
	for _, k := range keys {
		ok = k.signed(got, f) || ok
	}
	return ok
}

// requestTarget returns the path and query of r as they were on the wire:
// from the request-target a server read, split at the first "?", or else
// as the URL would be written.
func requestTarget(r *http.Request) (path, query string) {
	if t := r.RequestURI; t != "" && t[0] == '/' {
		path, query, _ = strings.Cut(t, "?")
		return path, query
	}
	path = r.URL.EscapedPath()
	if path == "" {
		path = "/" // as url.URL.RequestURI writes it
	}
	return path, r.URL.RawQuery
}

// checkBody reads the body of r, if any, puts its bytes back, and checks
// them against digest, the Content-Digest header ("" when absent).
func (v *Verifier) checkBody(r *http.Request, digest string) error {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > v.maxBody {
			return ErrBodyTooLarge
		}
		var err error
		if body, err = readAtMost(r.Body, r.ContentLength, v.maxBody); err != nil {
			return err
		}
		if len(body) == 0 {
			r.Body = http.NoBody
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		r.ContentLength = int64(len(body))
	}
	if len(body) == 0 || digest == "" {
		if len(body) == 0 && digest == "" {
			return nil
		}
		return ErrDigest
	}
	var b [digestLen]byte
	if string(appendBodyDigest(b[:0], body)) != digest {
		return ErrDigest
	}
	return nil
}

// readAtMost reads rd to its end, expecting size bytes (-1 when unknown),
// and fails with ErrBodyTooLarge past limit bytes.
func readAtMost(rd io.Reader, size, limit int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 {
		n = size + 1 // room to read EOF without growing
	}
	b := make([]byte, 0, min(n, limit+1))
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		end := cap(b)
		if room := limit + 1 - int64(len(b)); int64(end-len(b)) > room {
			end = len(b) + int(room)
		}
		k, err := rd.Read(b[len(b):end])
		b = b[:len(b)+k]
		if int64(len(b)) > limit {
			return nil, ErrBodyTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gateway: reading the request body: %w", err)
		}
	}
}

// decodeLowerHex decodes s, which must be exactly 2*len(dst) lowercase hex
// digits, into dst.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHexDigit(s[2*i])
		lo, ok2 := lowerHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
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

// Replay cache. Every accepted request id is remembered until its
// timestamp is older than the skew allows, after which Verify refuses the
// request before the cache is asked. Ids are kept in generations, each the
// ids whose timestamp falls in one span of width seconds (width >= the
// skew). Acceptable timestamps lie in at most three consecutive spans, so
// three generations suffice; a generation is dropped once the clock has
// left the window of its last timestamp, which keeps between one and two
// spans of ids at a steady rate. A replay carries the same signed
// timestamp as the original, so only the generation of its timestamp is
// looked at. The cache is split in shards by the id's first byte to spread
// the lock.
const replayShards = 16

type replayCache struct {
	width  int64 // seconds spanned by one generation
	shards [replayShards]replayShard
}

type replayShard struct {
	mu   sync.Mutex
	gens [3]replayGen
	_    [64]byte // keeps shards on separate cache lines
}

type replayGen struct {
	span int64 // timestamp / width of the ids held; -1 when none
	ids  map[[16]byte]struct{}
	hint int // how many ids the last generation in this slot held
}

func newReplayCache(maxSkew time.Duration) *replayCache {
	w := int64((maxSkew + time.Second - 1) / time.Second)
	c := &replayCache{width: max(w, 1)}
	for i := range c.shards {
		for j := range c.shards[i].gens {
			c.shards[i].gens[j].span = -1
		}
	}
	return c
}

// add records id, signed with timestamp ts, at now (both unix seconds, ts
// within the skew of now); it fails with ErrReplayed if id was
// recorded before.
func (c *replayCache) add(id [16]byte, ts, now int64) error {
	span := ts / c.width
	s := &c.shards[id[0]%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.gens {
		// The last timestamp of a span is (span+1)*width-1; from
		// (span+2)*width on, it is more than width old.
		if g := &s.gens[i]; g.span >= 0 && (g.span+2)*c.width <= now {
			g.span, g.ids, g.hint = -1, nil, len(g.ids)
		}
	}
	g := &s.gens[span%int64(len(s.gens))]
	switch {
	case g.span == span:
	case g.span < span:
		// The slot is empty or held expired ids; start afresh, sized for
		// as many as the last generation.
		if g.ids != nil {
			g.hint = len(g.ids)
		}
		g.span, g.ids = span, make(map[[16]byte]struct{}, g.hint)
	default:
		// The timestamp is three spans older than ids already held: the
		// clock went back. The ids of its span are gone, so a replay could
		// not be told; refuse it.
		return ErrSkew
	}
	if _, ok := g.ids[id]; ok {
		return ErrReplayed
	}
	g.ids[id] = struct{}{}
	return nil
}

type identityKey struct{}

// FromContext returns the identity Middleware verified.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Middleware lets through only requests whose identity verifies
// with key, using an Verifier with the default options, putting
// the Identity in the request context; others are answered 401 (413 for a
// body too large to check). It panics if key is shorter than
// MinKey.
func Middleware(key []byte, next http.Handler) http.Handler {
	v, err := NewVerifier(key, Options{})
	if err != nil {
		panic(err)
	}
	return v.Middleware(next)
}

// Middleware is Middleware with v.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.Verify(r)
		if err != nil {
			writeIdentityProblem(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// writeIdentityProblem answers a request whose identity was refused.
func writeIdentityProblem(w http.ResponseWriter, err error) {
	status, code := http.StatusUnauthorized, keyward.EUnauthenticated
	detail := "The request carries no valid keyward identity: it must come through the keyward proxy."
	switch {
	case errors.Is(err, ErrSkew):
		detail = "The keyward identity of the request is too old or from the future; check the clocks of the proxy and this service."
	case errors.Is(err, ErrReplayed):
		detail = "The request was already seen: each request forwarded by the keyward proxy is accepted once."
	case errors.Is(err, ErrDigest):
		detail = "The request body does not match the Content-Digest the keyward proxy signed."
	case errors.Is(err, ErrBodyTooLarge):
		status, code = http.StatusRequestEntityTooLarge, keyward.ETooLarge
		detail = "The request body is too large to verify."
	case !isIdentityError(err):
		status, code = http.StatusBadRequest, keyward.EInvalid
		detail = "The request body could not be read."
	}
	b, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}{problemType + string(code), http.StatusText(status), status, detail, string(code)})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func isIdentityError(err error) bool {
	for _, e := range [...]error{ErrMissing, ErrMalformed, ErrForged} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
