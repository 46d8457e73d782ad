package identity

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// testNow is the clock of the identity tests.
var testNow = time.Unix(1_780_000_000, 0)

// identityRequest describes a request as the proxy would forward it.
type identityRequest struct {
	at                                                  time.Time
	requestID                                           string // a fresh one when ""
	keyID, tenant, stores, merchant, method, httpMethod string
	target                                              string // path and query
	body                                                string
}

var testIdentityKey = []byte("0123456789abcdef0123456789abcdef-test")

func defaultIdentityRequest() identityRequest {
	return identityRequest{at: testNow, keyID: "key_1", tenant: "demo", stores: "sto_a,sto_b", method: "orders.list",
		httpMethod: "GET", target: "/api/v5/orders?store=sto_a&page=2"}
}

// fields returns the identity fields of the request as signed.
func (ir identityRequest) fields() Fields {
	path, query, _ := strings.Cut(ir.target, "?")
	f := Fields{
		Timestamp: strconv.FormatInt(ir.at.Unix(), 10), RequestID: ir.requestID, KeyID: ir.keyID, Tenant: ir.tenant,
		Stores: ir.stores, Merchant: ir.merchant, Method: ir.method, HTTPMethod: ir.httpMethod, Path: path, RawQuery: query,
	}
	if f.RequestID == "" {
		f.RequestID = NewRequestID()
	}
	if ir.body != "" {
		f.ContentDigest = BodyDigest([]byte(ir.body))
	}
	return f
}

// signed returns the request as a server receives it, carrying identity
// headers signed with key as the proxy writes them.
func (ir identityRequest) signed(key []byte) *http.Request {
	f := ir.fields()
	var body io.Reader
	if ir.body != "" {
		body = strings.NewReader(ir.body)
	}
	r := httptest.NewRequest(ir.httpMethod, ir.target, body)
	setIdentity(r.Header, &f, key)
	return r
}

// setIdentity sets the identity headers of f, signed with key.
func setIdentity(h http.Header, f *Fields, key []byte) {
	h.Set(HeaderTimestamp, f.Timestamp)
	h.Set(HeaderRequestID, f.RequestID)
	h.Set(HeaderKeyID, f.KeyID)
	h.Set(HeaderTenant, f.Tenant)
	h.Set(HeaderStores, f.Stores)
	h.Set(HeaderMethod, f.Method)
	if f.Merchant != "" {
		h.Set(HeaderMerchant, f.Merchant)
	}
	if f.ContentDigest != "" {
		h.Set(HeaderContentDigest, f.ContentDigest)
	}
	h.Set(HeaderSignature, signature(key, f))
}

func signature(key []byte, f *Fields) string {
	var mac [sha256.Size]byte
	sum(hmac.New(sha256.New, key), nil, &mac, f)
	return signaturePrefix + hex.EncodeToString(mac[:])
}

// testVerifier returns a verifier of testIdentityKey at testNow.
func testVerifier(t testing.TB, maxSkew time.Duration) *Verifier {
	t.Helper()
	v, err := NewVerifier(testIdentityKey, Options{MaxSkew: maxSkew, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyIdentity(t *testing.T) {
	good := func() *http.Request { return defaultIdentityRequest().signed(testIdentityKey) }
	with := func(change func(*identityRequest)) func() *http.Request {
		return func() *http.Request {
			ir := defaultIdentityRequest()
			change(&ir)
			return ir.signed(testIdentityKey)
		}
	}
	edit := func(change func(r *http.Request)) func() *http.Request {
		return func() *http.Request {
			r := good()
			change(r)
			return r
		}
	}
	flip := func(name string, i int) func() *http.Request {
		return edit(func(r *http.Request) {
			s := []byte(r.Header.Get(name))
			if s[i] == '0' {
				s[i] = '1'
			} else {
				s[i] = '0'
			}
			r.Header.Set(name, string(s))
		})
	}
	cases := []struct {
		name string
		req  func() *http.Request
		want error
	}{
		{name: "valid", req: good},
		{name: "all stores", req: with(func(ir *identityRequest) { ir.stores = "*" })},
		{name: "merchant", req: with(func(ir *identityRequest) { ir.merchant = "mer_1" })},
		{name: "body", req: with(func(ir *identityRequest) { ir.httpMethod, ir.body = "POST", `{"a":1}` })},
		{name: "no query", req: with(func(ir *identityRequest) { ir.target = "/api/v5/orders" })},
		{name: "empty query", req: with(func(ir *identityRequest) { ir.target = "/api/v5/orders?" })},
		{name: "escaped path", req: with(func(ir *identityRequest) { ir.target = "/api/v5/orders/a%2Fb%20c?q=%C3%A9" })},
		{name: "no headers", req: func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, want: ErrMissing},
		{name: "no signature", req: edit(func(r *http.Request) { r.Header.Del(HeaderSignature) }), want: ErrMissing},
		{name: "no stores", req: edit(func(r *http.Request) { r.Header.Del(HeaderStores) }), want: ErrMissing},
		{name: "no request id", req: edit(func(r *http.Request) { r.Header.Del(HeaderRequestID) }), want: ErrMissing},
		{name: "header twice", req: edit(func(r *http.Request) { r.Header.Add(HeaderKeyID, "key_1") }), want: ErrMalformed},
		{name: "merchant twice", req: edit(func(r *http.Request) {
			r.Header.Add(HeaderMerchant, "mer_1")
			r.Header.Add(HeaderMerchant, "mer_1")
		}), want: ErrMalformed},
		{name: "empty merchant", req: edit(func(r *http.Request) { r.Header.Set(HeaderMerchant, "") }), want: ErrMalformed},
		{name: "empty digest", req: edit(func(r *http.Request) { r.Header.Set(HeaderContentDigest, "") }), want: ErrMalformed},
		{name: "signature v1", req: edit(func(r *http.Request) {
			r.Header.Set(HeaderSignature, "v1="+r.Header.Get(HeaderSignature)[3:])
		}), want: ErrMalformed},
		{name: "signature without version", req: edit(func(r *http.Request) {
			r.Header.Set(HeaderSignature, r.Header.Get(HeaderSignature)[3:])
		}), want: ErrMalformed},
		{name: "signature upper case", req: edit(func(r *http.Request) {
			r.Header.Set(HeaderSignature, "v2="+strings.ToUpper(r.Header.Get(HeaderSignature)[3:]))
		}), want: ErrMalformed},
		{name: "signature not hex", req: edit(func(r *http.Request) {
			s := []byte(r.Header.Get(HeaderSignature))
			s[10] = 'z'
			r.Header.Set(HeaderSignature, string(s))
		}), want: ErrMalformed},
		{name: "signature flipped", req: flip(HeaderSignature, 10), want: ErrForged},
		{name: "request id upper case", req: with(func(ir *identityRequest) { ir.requestID = strings.Repeat("A", 32) }), want: ErrMalformed},
		{name: "request id short", req: with(func(ir *identityRequest) { ir.requestID = strings.Repeat("a", 31) }), want: ErrMalformed},
		{name: "timestamp not a number", req: edit(func(r *http.Request) { r.Header.Set(HeaderTimestamp, "+1780000000") }), want: ErrMalformed},
		{name: "request id changed", req: flip(HeaderRequestID, 0), want: ErrForged},
		{name: "key id changed", req: edit(func(r *http.Request) { r.Header.Set(HeaderKeyID, "key_2") }), want: ErrForged},
		{name: "tenant changed", req: edit(func(r *http.Request) { r.Header.Set(HeaderTenant, "other") }), want: ErrForged},
		{name: "stores widened", req: edit(func(r *http.Request) { r.Header.Set(HeaderStores, "*") }), want: ErrForged},
		{name: "merchant added", req: edit(func(r *http.Request) { r.Header.Set(HeaderMerchant, "mer_1") }), want: ErrForged},
		{name: "method changed", req: edit(func(r *http.Request) { r.Header.Set(HeaderMethod, "orders.create") }), want: ErrForged},
		{name: "timestamp changed", req: edit(func(r *http.Request) { r.Header.Set(HeaderTimestamp, "1780000001") }), want: ErrForged},
		{name: "HTTP method changed", req: edit(func(r *http.Request) { r.Method = "DELETE" }), want: ErrForged},
		{name: "path changed", req: edit(func(r *http.Request) { r.RequestURI = "/api/v5/orders/1?store=sto_a&page=2" }), want: ErrForged},
		{name: "path re-encoded", req: func() *http.Request {
			ir := defaultIdentityRequest()
			ir.target = "/api/v5/orders/a%2Fb"
			r := ir.signed(testIdentityKey)
			r.RequestURI = "/api/v5/orders/a%2fb"
			return r
		}, want: ErrForged},
		{name: "query changed", req: edit(func(r *http.Request) { r.RequestURI = "/api/v5/orders?store=sto_c&page=2" }), want: ErrForged},
		{name: "query reordered", req: edit(func(r *http.Request) { r.RequestURI = "/api/v5/orders?page=2&store=sto_a" }), want: ErrForged},
		{name: "query removed", req: edit(func(r *http.Request) { r.RequestURI = "/api/v5/orders" }), want: ErrForged},
		{name: "body changed", req: func() *http.Request {
			ir := defaultIdentityRequest()
			ir.httpMethod, ir.body = "POST", `{"a":1}`
			r := ir.signed(testIdentityKey)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(`{"a":2}`)), 7
			return r
		}, want: ErrDigest},
		{name: "body added", req: edit(func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(`{}`)), 2
		}), want: ErrDigest},
		{name: "body removed", req: func() *http.Request {
			ir := defaultIdentityRequest()
			ir.httpMethod, ir.body = "POST", `{"a":1}`
			r := ir.signed(testIdentityKey)
			r.Body, r.ContentLength = http.NoBody, 0
			return r
		}, want: ErrDigest},
		{name: "digest removed", req: func() *http.Request {
			ir := defaultIdentityRequest()
			ir.httpMethod, ir.body = "POST", `{"a":1}`
			r := ir.signed(testIdentityKey)
			r.Header.Del(HeaderContentDigest)
			return r
		}, want: ErrForged},
		{name: "too old", req: with(func(ir *identityRequest) { ir.at = testNow.Add(-time.Minute - time.Second) }), want: ErrSkew},
		{name: "from the future", req: with(func(ir *identityRequest) { ir.at = testNow.Add(time.Minute + time.Second) }), want: ErrSkew},
		{name: "at the edge of the skew", req: with(func(ir *identityRequest) { ir.at = testNow.Add(-time.Minute) })},
		{name: "at the future edge", req: with(func(ir *identityRequest) { ir.at = testNow.Add(time.Minute) })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := testVerifier(t, time.Minute).Verify(c.req())
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err == nil && (id.KeyID != "key_1" || id.Tenant != "demo" || id.Method != "orders.list" || id.Time.IsZero() || len(id.RequestID) != 32) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	t.Run("other key", func(t *testing.T) {
		r := defaultIdentityRequest().signed(otherIdentityKey)
		if _, err := testVerifier(t, time.Minute).Verify(r); !errors.Is(err, ErrForged) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("short key", func(t *testing.T) {
		if _, err := NewVerifier([]byte("short"), Options{}); !errors.Is(err, ErrKey) {
			t.Fatalf("err %v", err)
		}
		if _, err := verifyIdentity(good(), []byte("short"), time.Minute, testNow); !errors.Is(err, ErrKey) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("negative options", func(t *testing.T) {
		for _, o := range []Options{{MaxSkew: -1}, {MaxBody: -1}} {
			if _, err := NewVerifier(testIdentityKey, o); err == nil {
				t.Errorf("%+v accepted", o)
			}
		}
	})
	t.Run("merchant and request id", func(t *testing.T) {
		ir := defaultIdentityRequest()
		ir.merchant, ir.requestID = "mer_1", "00112233445566778899aabbccddeeff"
		id, err := testVerifier(t, time.Minute).Verify(ir.signed(testIdentityKey))
		if err != nil || id.Merchant != "mer_1" || id.RequestID != ir.requestID {
			t.Fatalf("identity %+v, %v", id, err)
		}
	})
	t.Run("request built by a client", func(t *testing.T) {
		// Without RequestURI, the path and query are taken from the URL as
		// it would be written.
		ir := defaultIdentityRequest()
		ir.target = "/api/v5/orders/a%2Fb?q=1"
		r := ir.signed(testIdentityKey)
		r.RequestURI = ""
		r.URL = &url.URL{Path: "/api/v5/orders/a/b", RawPath: "/api/v5/orders/a%2Fb", RawQuery: "q=1"}
		if _, err := testVerifier(t, time.Minute).Verify(r); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("VerifyIdentity keeps no record", func(t *testing.T) {
		r := good()
		for range 2 {
			if _, err := verifyIdentity(r, testIdentityKey, time.Minute, testNow); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestVerifyIdentityStores(t *testing.T) {
	cases := []struct {
		name, header string
		all          bool
		stores       []string
	}{
		{name: "all", header: "*", all: true},
		{name: "none", header: ""},
		{name: "one", header: "sto_a", stores: []string{"sto_a"}},
		{name: "two", header: "sto_a,sto_b", stores: []string{"sto_a", "sto_b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ir := defaultIdentityRequest()
			ir.stores = c.header
			id, err := testVerifier(t, time.Minute).Verify(ir.signed(testIdentityKey))
			if err != nil {
				t.Fatal(err)
			}
			if id.AllStores != c.all || strings.Join(id.Stores, ",") != strings.Join(c.stores, ",") || len(id.Stores) != len(c.stores) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestIdentityBody(t *testing.T) {
	ir := defaultIdentityRequest()
	ir.httpMethod, ir.body = "POST", strings.Repeat("x", 1000)
	t.Run("read again", func(t *testing.T) {
		r := ir.signed(testIdentityKey)
		if _, err := testVerifier(t, time.Minute).Verify(r); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil || string(b) != ir.body || r.ContentLength != int64(len(ir.body)) {
			t.Fatalf("body %d bytes, length %d, %v", len(b), r.ContentLength, err)
		}
	})
	t.Run("unknown length", func(t *testing.T) {
		r := ir.signed(testIdentityKey)
		r.ContentLength = -1
		r.Body = io.NopCloser(iotestHalfReader{strings.NewReader(ir.body)})
		if _, err := testVerifier(t, time.Minute).Verify(r); err != nil {
			t.Fatal(err)
		}
		if r.ContentLength != int64(len(ir.body)) {
			t.Fatalf("length %d", r.ContentLength)
		}
	})
	for _, c := range []struct {
		name    string
		maxBody int64
		length  int64
		want    error
	}{
		{name: "at the limit", maxBody: 1000, length: 1000},
		{name: "announced too large", maxBody: 999, length: 1000, want: ErrBodyTooLarge},
		{name: "too large, length unknown", maxBody: 999, length: -1, want: ErrBodyTooLarge},
		{name: "longer than announced", maxBody: 999, length: 10, want: ErrBodyTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(testIdentityKey, Options{MaxBody: c.maxBody, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			r := ir.signed(testIdentityKey)
			r.ContentLength = c.length
			if _, err := v.Verify(r); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		r := ir.signed(testIdentityKey)
		r.Body = io.NopCloser(io.MultiReader(strings.NewReader("x"), errReader{}))
		_, err := testVerifier(t, time.Minute).Verify(r)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("empty body", func(t *testing.T) {
		r := defaultIdentityRequest().signed(testIdentityKey)
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader("")), -1
		if _, err := testVerifier(t, time.Minute).Verify(r); err != nil {
			t.Fatal(err)
		}
		if r.Body != http.NoBody || r.ContentLength != 0 {
			t.Fatalf("body %v, length %d", r.Body, r.ContentLength)
		}
	})
}

// iotestHalfReader reads at most 7 bytes at a time.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 7)]) }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestBodyDigest(t *testing.T) {
	// The example of RFC 9530, section 2.
	if got, want := BodyDigest([]byte(`{"hello": "world"}`)), "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if n := len(BodyDigest(nil)); n != digestLen {
		t.Fatalf("length %d, want %d", n, digestLen)
	}
}

func TestNewRequestID(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ids := make([]string, 2000)
			for i := range ids {
				ids[i] = NewRequestID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				var b [16]byte
				if !decodeLowerHex(b[:], id) {
					t.Errorf("request id %q", id)
				}
				if seen[id] {
					t.Errorf("request id %s twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

// vectors is testdata/vectors.json.
type vectors struct {
	KeyHex         string `json:"key_hex"`
	MaxSkewSeconds int    `json:"max_skew_seconds"`
	Cases          []struct {
		Name    string `json:"name"`
		Note    string `json:"note"`
		Now     int64  `json:"now"`
		Replay  bool   `json:"replay"`
		Request struct {
			Method  string     `json:"method"`
			Target  string     `json:"target"`
			Headers [][]string `json:"headers"`
			Body    string     `json:"body"`
		} `json:"request"`
		Canonical *string `json:"canonical"`
		Expect    string  `json:"expect"`
	} `json:"cases"`
}

const vectorsFile = "testdata/vectors.json"

var vectorErrors = map[string]error{
	"valid": nil, "missing": ErrMissing, "malformed": ErrMalformed, "forged": ErrForged,
	"skew": ErrSkew, "replayed": ErrReplayed, "digest": ErrDigest,
}

func TestIdentityVectors(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs vectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vs); err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(vs.KeyHex)
	if err != nil || len(key) < MinKey {
		t.Fatalf("key: %v", err)
	}
	if vs.MaxSkewSeconds != int(DefaultMaxSkew/time.Second) {
		t.Fatalf("max_skew_seconds %d, DefaultMaxSkew %v", vs.MaxSkewSeconds, DefaultMaxSkew)
	}
	names := map[string]bool{}
	for _, c := range vs.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if names[c.Name] {
				t.Fatal("name used twice")
			}
			names[c.Name] = true
			want, ok := vectorErrors[c.Expect]
			if !ok {
				t.Fatalf("expect %q", c.Expect)
			}
			// The request goes through the HTTP/1.1 parser, as a server
			// receives it.
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: upstream.test\r\n", c.Request.Method, c.Request.Target)
			for _, h := range c.Request.Headers {
				if len(h) != 2 {
					t.Fatalf("header %q", h)
				}
				fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
			}
			if c.Request.Body != "" {
				fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.Request.Body))
			}
			b.WriteString("\r\n" + c.Request.Body)
			read := func() *http.Request {
				r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			v, err := NewVerifier(key, Options{Now: func() time.Time { return time.Unix(c.Now, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			if c.Replay {
				if _, err := v.Verify(read()); err != nil {
					t.Fatalf("first delivery: %v", err)
				}
			}
			r := read()
			id, err := v.Verify(r)
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, want)
			}
			if (c.Canonical != nil) != (want == nil) {
				t.Fatal("canonical given for an invalid case or missing for a valid one")
			}
			if want != nil {
				return
			}
			// The signing side: the fields of the request sign to the
			// signature it carries.
			path, query, _ := strings.Cut(c.Request.Target, "?")
			f := Fields{
				Timestamp: r.Header.Get(HeaderTimestamp), RequestID: r.Header.Get(HeaderRequestID), KeyID: r.Header.Get(HeaderKeyID),
				Tenant: r.Header.Get(HeaderTenant), Stores: r.Header.Get(HeaderStores), Merchant: r.Header.Get(HeaderMerchant),
				Method: r.Header.Get(HeaderMethod), HTTPMethod: c.Request.Method, Path: path, RawQuery: query,
			}
			if c.Request.Body != "" {
				f.ContentDigest = BodyDigest([]byte(c.Request.Body))
			}
			if got := string(appendCanonical(nil, &f)); got != *c.Canonical {
				t.Fatalf("canonical\n%q, want\n%q", got, *c.Canonical)
			}
			if got := signature(key, &f); got != r.Header.Get(HeaderSignature) {
				t.Fatalf("signature %s, vector %s", got, r.Header.Get(HeaderSignature))
			}
			if id.RequestID != f.RequestID || id.KeyID != f.KeyID || id.Merchant != f.Merchant || id.Time.Unix() != mustParseUnix(t, f.Timestamp) {
				t.Fatalf("identity %+v", id)
			}
			body, _ := io.ReadAll(r.Body)
			if string(body) != c.Request.Body {
				t.Fatalf("body %q after verification", body)
			}
		})
	}
	// The vectors cover what the scheme promises to refuse.
	for _, n := range []string{
		"GET with a query", "POST with a body", "merchant GET", "query changed", "body changed", "digest header removed",
		"path re-encoded", "replayed request id", "timestamp too old", "header duplicated", "signature v1 prefix",
	} {
		if !names[n] {
			t.Errorf("no vector %q", n)
		}
	}
}

func mustParseUnix(t *testing.T, s string) int64 {
	n, ok := parseUnix(s)
	if !ok {
		t.Fatalf("timestamp %q", s)
	}
	return n
}

// TestIdentityDocVectors keeps docs/identity.md in step with the vectors
// the verifier is tested with.
func TestIdentityDocVectors(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/identity.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, append([]byte("```json\n"), append(raw, "```\n"...)...)) {
		t.Fatalf("docs/identity.md does not hold %s verbatim in a json block", vectorsFile)
	}
}

func TestIdentityReplay(t *testing.T) {
	now := testNow
	v, err := NewVerifier(testIdentityKey, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ir := defaultIdentityRequest()
	ir.requestID = "0123456789abcdef0123456789abcdef"
	f := ir.fields()
	deliver := func() error {
		r := httptest.NewRequest("GET", ir.target, nil)
		setIdentity(r.Header, &f, testIdentityKey)
		_, err := v.Verify(r)
		return err
	}
	if err := deliver(); err != nil {
		t.Fatal(err)
	}
	// Seen until the timestamp is older than the skew, then refused for it.
	for _, c := range []struct {
		at   time.Duration
		want error
	}{
		{0, ErrReplayed},
		{DefaultMaxSkew, ErrReplayed},
		{DefaultMaxSkew + time.Second, ErrSkew},
		{-DefaultMaxSkew, ErrReplayed},
	} {
		now = testNow.Add(c.at)
		if err := deliver(); !errors.Is(err, c.want) {
			t.Fatalf("at %v: %v, want %v", c.at, err, c.want)
		}
	}
	// A forged request does not use up an id.
	f2 := ir.fields()
	f2.RequestID = "ffffffffffffffffffffffffffffffff"
	now = testNow
	r := httptest.NewRequest("GET", ir.target, nil)
	setIdentity(r.Header, &f2, otherIdentityKey)
	if _, err := v.Verify(r); !errors.Is(err, ErrForged) {
		t.Fatal(err)
	}
	f = f2
	if err := deliver(); err != nil {
		t.Fatalf("id of a forged request: %v", err)
	}
}

// TestReplayCacheForgets checks that ids are dropped once their timestamp
// is out of the window, so memory stays bounded.
func TestReplayCacheForgets(t *testing.T) {
	c := newReplayCache(DefaultMaxSkew)
	w := c.width
	id := func(i int) (b [16]byte) {
		b[0], b[1], b[2] = byte(i), byte(i>>8), byte(i>>16)
		return b
	}
	// Requests at a steady rate over ten windows, each timestamp within
	// the skew of the clock.
	const perSecond = 50
	start := testNow.Unix()
	n := 0
	for ts := start; ts < start+10*w; ts++ {
		for range perSecond {
			if err := c.add(id(n), ts, ts); err != nil {
				t.Fatal(err)
			}
			n++
		}
		// At most two spans of ids are held.
		if held := c.len(); held > 2*int(w)*perSecond {
			t.Fatalf("at %d: %d ids held", ts, held)
		}
	}
	// The first ids are forgotten: their span's generation was dropped.
	first := id(0)
	s := &c.shards[first[0]%replayShards]
	for _, g := range s.gens {
		if _, ok := g.ids[first]; ok {
			t.Fatal("first id still held")
		}
	}
	// Should the clock go back, a timestamp three spans behind the newest
	// is refused, not recorded in a generation that no longer exists.
	if err := c.add(id(0), start, start); !errors.Is(err, ErrSkew) {
		t.Fatalf("old timestamp: %v", err)
	}
	// Within the window, an id is still known.
	last := id(n - 1)
	if err := c.add(last, start+10*w-1, start+10*w-1); !errors.Is(err, ErrReplayed) {
		t.Fatalf("last id: %v", err)
	}
}

// len counts the ids held.
func (c *replayCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, g := range s.gens {
			n += len(g.ids)
		}
		s.mu.Unlock()
	}
	return n
}

func TestIdentityReplayConcurrent(t *testing.T) {
	v := testVerifier(t, time.Minute)
	// Each request is delivered by 16 goroutines at once; exactly one
	// delivery of each is accepted.
	const requests, copies = 200, 16
	reqs := make([]Fields, requests)
	for i := range reqs {
		reqs[i] = defaultIdentityRequest().fields()
	}
	var accepted [requests]atomic.Int32
	var others atomic.Int32
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			for i := range reqs {
				r := httptest.NewRequest("GET", "/api/v5/orders?store=sto_a&page=2", nil)
				setIdentity(r.Header, &reqs[i], testIdentityKey)
				switch _, err := v.Verify(r); {
				case err == nil:
					accepted[i].Add(1)
				case !errors.Is(err, ErrReplayed):
					others.Add(1)
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i := range accepted {
		if n := accepted[i].Load(); n != 1 {
			t.Fatalf("request %d accepted %d times", i, n)
		}
	}
}

func TestIdentityMiddleware(t *testing.T) {
	var got *Identity
	h := Middleware(testIdentityKey, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			t.Error("no identity in the context")
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method == "POST" && string(b) != `{"a":1}` {
			t.Errorf("body %q", b)
		}
		got = &id
	}))
	now := time.Now()
	at := func(d time.Duration, key []byte) *http.Request {
		ir := defaultIdentityRequest()
		ir.at = now.Add(d)
		return ir.signed(key)
	}
	post := func(body string) *http.Request {
		ir := defaultIdentityRequest()
		ir.at, ir.httpMethod, ir.body = now, "POST", `{"a":1}`
		r := ir.signed(testIdentityKey)
		r.Body = io.NopCloser(strings.NewReader(body))
		return r
	}
	replayed := at(0, testIdentityKey)
	h.ServeHTTP(httptest.NewRecorder(), replayed.Clone(context.Background()))
	cases := []struct {
		name   string
		req    *http.Request
		status int
		detail string
	}{
		{name: "signed", req: at(0, testIdentityKey), status: 200},
		{name: "with a body", req: post(`{"a":1}`), status: 200},
		{name: "unsigned", req: httptest.NewRequest("GET", "/api/v5/orders", nil), status: 401, detail: "must come through the keyward proxy"},
		{name: "stale", req: at(-time.Hour, testIdentityKey), status: 401, detail: "too old or from the future"},
		{name: "other key", req: at(0, otherIdentityKey), status: 401, detail: "must come through"},
		{name: "replayed", req: replayed, status: 401, detail: "The request was already seen: "},
		{name: "body changed", req: post(`{"a":2}`), status: 401, detail: "does not match the Content-Digest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, c.req)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if (got != nil) != (c.status == 200) {
				t.Fatalf("handler reached: %v", got != nil)
			}
			if got != nil && got.KeyID != "key_1" {
				t.Fatalf("identity %+v", got)
			}
			if c.status == 200 {
				return
			}
			if rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
			var p httpx.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != string(keyward.EUnauthenticated) || !strings.Contains(p.Detail, c.detail) {
				t.Fatalf("problem %+v, %v", p, err)
			}
		})
	}
	t.Run("short key panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		Middleware([]byte("short"), http.NotFoundHandler())
	})
	t.Run("body too large", func(t *testing.T) {
		v, err := NewVerifier(testIdentityKey, Options{MaxBody: 3})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		v.Middleware(http.NotFoundHandler()).ServeHTTP(rec, post(`{"a":1}`))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

func FuzzVerifyIdentity(f *testing.F) {
	ts := strconv.FormatInt(testNow.Unix(), 10)
	const rid = "0123456789abcdef0123456789abcdef"
	good := Fields{Timestamp: ts, RequestID: rid, KeyID: "key_1", Tenant: "demo", Stores: "*", Method: "orders.list",
		HTTPMethod: "GET", Path: "/p", RawQuery: "a=1"}
	f.Add(ts, rid, "key_1", "demo", "*", "", "orders.list", "a=1", signature(testIdentityKey, &good), "")
	f.Add(ts, rid, "key_1", "demo", "*", "", "orders.list", "a=1", signature(testIdentityKey, &good), KeyID(testIdentityKey))
	f.Add(ts, rid, "key_1", "demo", "*", "", "orders.list", "a=1", signature(testIdentityKey, &good), KeyID(otherIdentityKey))
	f.Add(ts, rid, "key_1", "demo", "*", "", "orders.list", "a=1", signature(otherIdentityKey, &good), "idk_0")
	f.Add(ts, rid, "key_1", "demo", "a,b", "mer_1", "orders.list", "", "v2="+hex.EncodeToString(make([]byte, 32)), "")
	f.Add("", "", "", "", "", "", "", "", "", "")
	f.Add("-1", "zz", "k\n", "t", ",", "m", "m", "\n", "v2=zz", "\n")
	f.Add("99999999999999999999", rid, "k", "t", "s", "", "m", "?", "v1=", "")
	keys := [][]byte{testIdentityKey, otherIdentityKey}
	f.Fuzz(func(t *testing.T, ts, rid, keyID, tenant, stores, merchant, method, query, sig, kid string) {
		h := http.Header{
			HeaderTimestamp: {ts}, HeaderRequestID: {rid}, HeaderKeyID: {keyID}, HeaderTenant: {tenant},
			HeaderStores: {stores}, HeaderMethod: {method}, HeaderSignature: {sig},
		}
		if merchant != "" {
			h[HeaderMerchant] = []string{merchant}
		}
		if kid != "" {
			h[HeaderSignatureKid] = []string{kid}
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/p", RawQuery: query}, Header: h}
		fields := Fields{Timestamp: ts, RequestID: rid, KeyID: keyID, Tenant: tenant, Stores: stores, Merchant: merchant,
			Method: method, HTTPMethod: "GET", Path: "/p", RawQuery: query}
		want, wantOther := signature(testIdentityKey, &fields), signature(otherIdentityKey, &fields)
		// A kid naming one of the keys allows only that key's signature.
		switch kid {
		case KeyID(testIdentityKey):
			wantOther = want
		case KeyID(otherIdentityKey):
			want = wantOther
		}
		id, err := verifyIdentityKeys(r, keys, time.Hour, testNow)
		if err == nil {
			if sig != want && sig != wantOther {
				t.Fatalf("accepted signature %q, want %q or %q", sig, want, wantOther)
			}
			if id.KeyID != keyID || id.Tenant != tenant || id.Method != method || id.Merchant != merchant || id.AllStores != (stores == "*") {
				t.Fatalf("identity %+v from %q %q %q %q %q", id, keyID, tenant, stores, merchant, method)
			}
			return
		}
		if (sig == want || sig == wantOther) && !errors.Is(err, ErrSkew) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("correct signature refused: %v", err)
		}
		// Signed properly, the same headers verify unless the timestamp or
		// the request id is unreadable, a field holds a newline, or the
		// timestamp is out of range.
		r.Header[HeaderSignature] = []string{want}
		id, err = verifyIdentityKeys(r, keys, time.Hour, testNow)
		secs, perr := strconv.ParseInt(ts, 10, 64)
		var b [16]byte
		readable := perr == nil && ts != "" && ts[0] >= '0' && ts[0] <= '9' && len(ts) <= 18 && decodeLowerHex(b[:], rid) &&
			!strings.Contains(keyID+tenant+stores+merchant+method+query, "\n")
		inRange := readable && secs >= testNow.Unix()-3600 && secs <= testNow.Unix()+3600
		switch {
		case inRange && err != nil:
			t.Fatalf("signed identity at %q refused: %v", ts, err)
		case !readable && !errors.Is(err, ErrMalformed):
			t.Fatalf("unreadable identity (%q, %q): %v", ts, rid, err)
		case readable && !inRange && !errors.Is(err, ErrSkew):
			t.Fatalf("timestamp %q out of range: %v", ts, err)
		case err == nil && (id.KeyID != keyID || id.Tenant != tenant || id.Method != method || id.Time.Unix() != secs || id.RequestID != rid):
			t.Fatalf("identity %+v from %q %q %q %q", id, keyID, tenant, method, ts)
		case err == nil && !id.AllStores && strings.Join(id.Stores, ",") != stores:
			t.Fatalf("stores %q from %q", id.Stores, stores)
		}
	})
}

// BenchmarkIdentitySign is the proxy's share of the scheme per request: a
// request id, the canonical string, the MAC and its hex.
func BenchmarkIdentitySign(b *testing.B) {
	mac := hmac.New(sha256.New, testIdentityKey)
	buf := make([]byte, 0, 256)
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f := Fields{
				Timestamp: "1780000000", RequestID: NewRequestID(), KeyID: "key_7ynq3ckw2mzdv6hxr4tb5gjpsa", Tenant: "shop.example",
				Stores: "main,online", Method: "orders.list", HTTPMethod: "GET", Path: "/api/v5/orders", RawQuery: "store=main&page=2",
			}
			var sum32 [sha256.Size]byte
			buf = sum(mac, buf, &sum32, &f)
			var sig [len(signaturePrefix) + 2*sha256.Size]byte
			copy(sig[:], signaturePrefix)
			hex.Encode(sig[len(signaturePrefix):], sum32[:])
		}
	})
	b.Run("NewRequestID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewRequestID()
		}
	})
	b.Run("NewRequestID/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				NewRequestID()
			}
		})
	})
}

// BenchmarkIdentityVerify is the upstream's share: one GET verified, with
// its id recorded.
func BenchmarkIdentityVerify(b *testing.B) {
	// Distinct requests, as the proxy sends them; the verifier is renewed
	// when they have all been seen.
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		f := defaultIdentityRequest().fields()
		reqs[i] = httptest.NewRequest("GET", "/api/v5/orders?store=sto_a&page=2", nil)
		setIdentity(reqs[i].Header, &f, testIdentityKey)
	}
	var v *Verifier
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(reqs) == 0 {
			b.StopTimer()
			v = testVerifier(b, DefaultMaxSkew)
			b.StartTimer()
		}
		if _, err := v.Verify(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// verifyIdentity checks the identity headers of one request as
// Verifier.Verify does, with maxSkew and now, but keeps no record of
// request ids, so tests can check one captured request several ways.
func verifyIdentity(r *http.Request, key []byte, maxSkew time.Duration, now time.Time) (Identity, error) {
	return verifyIdentityKeys(r, [][]byte{key}, maxSkew, now)
}

func verifyIdentityKeys(r *http.Request, keys [][]byte, maxSkew time.Duration, now time.Time) (Identity, error) {
	v, err := NewKeySetVerifier(keys, Options{MaxSkew: maxSkew, Now: func() time.Time { return now }})
	if err != nil {
		return Identity{}, err
	}
	return v.Verify(r)
}
