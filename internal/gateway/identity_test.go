package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signed returns a request carrying identity headers signed with key, as
// the proxy writes them.
func signed(key []byte, at time.Time, keyID, tenant, stores, method, httpMethod, path string) *http.Request {
	ts := strconv.FormatInt(at.Unix(), 10)
	r := &http.Request{Method: httpMethod, URL: &url.URL{Path: path}, Header: http.Header{}}
	r.Header.Set(HeaderTimestamp, ts)
	r.Header.Set(HeaderKeyID, keyID)
	r.Header.Set(HeaderTenant, tenant)
	r.Header.Set(HeaderStores, stores)
	r.Header.Set(HeaderMethod, method)
	r.Header.Set(HeaderSignature, signature(key, ts, keyID, tenant, stores, method, httpMethod, path))
	return r
}

func signature(key []byte, ts, keyID, tenant, stores, method, httpMethod, path string) string {
	var mac [sha256.Size]byte
	sum(hmac.New(sha256.New, key), nil, &mac, ts, keyID, tenant, stores, method, httpMethod, path)
	return signaturePrefix + hex.EncodeToString(mac[:])
}

func TestVerifyIdentity(t *testing.T) {
	now := time.Unix(1_780_000_000, 0)
	good := func() *http.Request {
		return signed(testIdentityKey, now, "key_1", "demo", "sto_a,sto_b", "orders.list", "GET", "/api/v5/orders")
	}
	cases := []struct {
		name   string
		req    func() *http.Request
		key    []byte
		maxAge time.Duration
		want   error
	}{
		{name: "valid", req: good},
		{name: "all stores", req: func() *http.Request {
			return signed(testIdentityKey, now, "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders")
		}},
		{name: "short key", req: good, key: []byte("short"), want: ErrIdentityKey},
		{name: "other key", req: good, key: []byte("another identity key of 32 bytes or more"), want: ErrIdentityForged},
		{name: "no headers", req: func() *http.Request {
			return &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{}}
		}, want: ErrIdentityMissing},
		{name: "no signature", req: func() *http.Request { r := good(); r.Header.Del(HeaderSignature); return r }, want: ErrIdentityMissing},
		{name: "no stores", req: func() *http.Request { r := good(); r.Header.Del(HeaderStores); return r }, want: ErrIdentityMissing},
		{name: "header twice", req: func() *http.Request { r := good(); r.Header.Add(HeaderKeyID, "key_2"); return r }, want: ErrIdentityMalformed},
		{name: "signature without version", req: func() *http.Request {
			r := good()
			r.Header.Set(HeaderSignature, r.Header.Get(HeaderSignature)[3:])
			return r
		}, want: ErrIdentityMalformed},
		{name: "signature not hex", req: func() *http.Request {
			r := good()
			s := []byte(r.Header.Get(HeaderSignature))
			s[10] = 'z'
			r.Header.Set(HeaderSignature, string(s))
			return r
		}, want: ErrIdentityMalformed},
		{name: "signature flipped", req: func() *http.Request {
			r := good()
			s := []byte(r.Header.Get(HeaderSignature))
			s[10] ^= 1
			r.Header.Set(HeaderSignature, string(s))
			return r
		}, want: ErrIdentityForged},
		{name: "timestamp not a number", req: func() *http.Request { r := good(); r.Header.Set(HeaderTimestamp, "+1780000000"); return r }, want: ErrIdentityMalformed},
		{name: "key id changed", req: func() *http.Request { r := good(); r.Header.Set(HeaderKeyID, "key_2"); return r }, want: ErrIdentityForged},
		{name: "tenant changed", req: func() *http.Request { r := good(); r.Header.Set(HeaderTenant, "other"); return r }, want: ErrIdentityForged},
		{name: "stores widened", req: func() *http.Request { r := good(); r.Header.Set(HeaderStores, "*"); return r }, want: ErrIdentityForged},
		{name: "method changed", req: func() *http.Request { r := good(); r.Header.Set(HeaderMethod, "orders.create"); return r }, want: ErrIdentityForged},
		{name: "timestamp changed", req: func() *http.Request { r := good(); r.Header.Set(HeaderTimestamp, "1780000001"); return r }, want: ErrIdentityForged},
		{name: "HTTP method changed", req: func() *http.Request { r := good(); r.Method = "DELETE"; return r }, want: ErrIdentityForged},
		{name: "path changed", req: func() *http.Request { r := good(); r.URL.Path = "/api/v5/orders/1"; return r }, want: ErrIdentityForged},
		{name: "too old", req: func() *http.Request {
			return signed(testIdentityKey, now.Add(-time.Minute-time.Second), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders")
		}, want: ErrIdentitySkew},
		{name: "from the future", req: func() *http.Request {
			return signed(testIdentityKey, now.Add(time.Minute+time.Second), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders")
		}, want: ErrIdentitySkew},
		{name: "at the edge of the skew", req: func() *http.Request {
			return signed(testIdentityKey, now.Add(-time.Minute), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := c.key
			if key == nil {
				key = testIdentityKey
			}
			id, err := VerifyIdentity(c.req(), key, time.Minute, now)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err == nil && (id.KeyID != "key_1" || id.Tenant != "demo" || id.Method != "orders.list" || id.Time.IsZero()) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestVerifyIdentityStores(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name, header string
		all          bool
		stores       []string
	}{
		{name: "all", header: "*", all: true},
		{name: "one", header: "sto_a", stores: []string{"sto_a"}},
		{name: "two", header: "sto_a,sto_b", stores: []string{"sto_a", "sto_b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := VerifyIdentity(signed(testIdentityKey, now, "k", "t", c.header, "m", "GET", "/"), testIdentityKey, time.Minute, now)
			if err != nil {
				t.Fatal(err)
			}
			if id.AllStores != c.all || len(id.Stores) != len(c.stores) {
				t.Fatalf("identity %+v", id)
			}
			for i := range c.stores {
				if id.Stores[i] != c.stores[i] {
					t.Fatalf("stores %q, want %q", id.Stores, c.stores)
				}
			}
		})
	}
}

func TestIdentityMiddleware(t *testing.T) {
	var got *Identity
	h := IdentityMiddleware(testIdentityKey, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			t.Error("no identity in the context")
		}
		got = &id
	}))
	cases := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{name: "signed", req: signed(testIdentityKey, time.Now(), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders"), status: 200},
		{name: "unsigned", req: httptest.NewRequest("GET", "/api/v5/orders", nil), status: 401},
		{name: "stale", req: signed(testIdentityKey, time.Now().Add(-time.Hour), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders"), status: 401},
		{name: "other key", req: signed([]byte("another identity key of 32 bytes or more"), time.Now(), "key_1", "demo", "*", "orders.list", "GET", "/api/v5/orders"), status: 401},
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
			if c.status == 401 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
	t.Run("short key panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		IdentityMiddleware([]byte("short"), http.NotFoundHandler())
	})
}

func FuzzVerifyIdentity(f *testing.F) {
	now := time.Unix(1_780_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(ts, "key_1", "demo", "*", "orders.list", signature(testIdentityKey, ts, "key_1", "demo", "*", "orders.list", "GET", "/p"))
	f.Add(ts, "key_1", "demo", "a,b", "orders.list", "v1="+hex.EncodeToString(make([]byte, 32)))
	f.Add("", "", "", "", "", "")
	f.Add("-1", "k\n", "t", ",", "m", "v1=zz")
	f.Add("99999999999999999999", "k", "t", "s", "m", "v1=")
	f.Fuzz(func(t *testing.T, ts, keyID, tenant, stores, method, sig string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/p"}, Header: http.Header{
			HeaderTimestamp: {ts}, HeaderKeyID: {keyID}, HeaderTenant: {tenant},
			HeaderStores: {stores}, HeaderMethod: {method}, HeaderSignature: {sig},
		}}
		id, err := VerifyIdentity(r, testIdentityKey, time.Hour, now)
		want := signature(testIdentityKey, ts, keyID, tenant, stores, method, "GET", "/p")
		if err == nil {
			if sig != want {
				t.Fatalf("accepted signature %q, want %q", sig, want)
			}
			if id.KeyID != keyID || id.Tenant != tenant || id.Method != method || id.AllStores != (stores == "*") {
				t.Fatalf("identity %+v from %q %q %q %q", id, keyID, tenant, stores, method)
			}
			return
		}
		if sig == want && !errors.Is(err, ErrIdentitySkew) && !errors.Is(err, ErrIdentityMalformed) {
			t.Fatalf("correct signature refused: %v", err)
		}
		// Signed properly, the same headers verify unless the timestamp is
		// unreadable or out of range.
		r.Header[HeaderSignature] = []string{want}
		id, err = VerifyIdentity(r, testIdentityKey, time.Hour, now)
		secs, perr := strconv.ParseInt(ts, 10, 64)
		readable := perr == nil && ts != "" && ts[0] >= '0' && ts[0] <= '9' && len(ts) <= 18
		inRange := readable && secs >= now.Unix()-3600 && secs <= now.Unix()+3600
		switch {
		case inRange && err != nil:
			t.Fatalf("signed identity at %q refused: %v", ts, err)
		case !readable && !errors.Is(err, ErrIdentityMalformed):
			t.Fatalf("unreadable timestamp %q: %v", ts, err)
		case readable && !inRange && !errors.Is(err, ErrIdentitySkew):
			t.Fatalf("timestamp %q out of range: %v", ts, err)
		case err == nil && (id.KeyID != keyID || id.Tenant != tenant || id.Method != method || id.Time.Unix() != secs):
			t.Fatalf("identity %+v from %q %q %q %q", id, keyID, tenant, method, ts)
		case err == nil && !id.AllStores && strings.Join(id.Stores, ",") != stores:
			t.Fatalf("stores %q from %q", id.Stores, stores)
		}
	})
}
