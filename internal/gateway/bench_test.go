package gateway

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// cannedTransport answers every request with an empty 200 without a
// network.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// discardWriter is a ResponseWriter reused across iterations.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func BenchmarkProxyDecision(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	high := 1 << 30
	if _, err := f.Svc.GrantLicence(f.Op, "demo", keyward.LicenceGrant{RateLimit: &high}); err != nil {
		b.Fatal(err)
	}
	sec := f.key(keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": "read"},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}, RateLimit: high})
	up, _ := url.Parse("http://upstream.invalid")
	cases := []struct {
		name    string
		limiter *ratelimit.Limiter
		obs     *Observer
		target  string
		header  bool
		key     string // sent instead of the bench key
		want    int
	}{
		{name: "header", target: "/api/v5/orders?store=main&page=2", header: true, want: 200},
		{name: "query", target: "/api/v5/orders?store=main&apiKey=" + sec + "&page=2", want: 200},
		{name: "header+limits", limiter: ratelimit.New(), target: "/api/v5/orders?store=main&page=2", header: true, want: 200},
		// Metrics must not add an allocation to the allowed path.
		{name: "header+metrics", obs: &Observer{Metrics: metrics.New()}, target: "/api/v5/orders?store=main&page=2", header: true, want: 200},
		{name: "refused", target: "/api/v5/orders?store=online", header: true, want: 403},
		// The flood path: a well-formed key the replica does not hold.
		{name: "unknown", target: "/api/v5/orders?store=main", header: true, key: secret.Generate(secret.KindAPIKey), want: 401},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := f.proxy(ProxyConfig{Upstream: up, Transport: cannedTransport{}, Limiter: c.limiter, Observer: c.obs})
			r, err := http.NewRequest("GET", "http://keyward.test"+c.target, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr = "192.0.2.1:40000"
			if c.header {
				r.Header.Set("X-API-Key", cmp.Or(c.key, sec))
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, r)
				if w.status != c.want {
					b.Fatalf("status %d, want %d", w.status, c.want)
				}
			}
		})
	}
}

func BenchmarkVerifyByHash(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": "read"}})
	m, ok := f.Rep.Catalog().Method("orders.list")
	if !ok {
		b.Fatal("no orders.list")
	}
	b.ReportAllocs()
	for b.Loop() {
		if res := f.Rep.Verify(sec, m, "main"); res.Code != keyward.CodeValid {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyHandler is POST /v1/verify through its handler: reading
// the body strictly, deciding, and writing the answer.
func BenchmarkVerifyHandler(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": "read"}})
	v := &Verifier{Replica: f.Rep}
	body := []byte(`{"key": "` + sec + `", "request": {"method": "GET", "path": "/api/v5/orders?store=main&page=2", "headers": {"Accept": "application/json"}}, "dry_run": true}`)
	w := &discardWriter{h: http.Header{}}
	r, _ := http.NewRequest("POST", "/v1/verify", nil)
	r.Header.Set("Content-Type", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.status = 0
		v.ServeHTTP(w, r)
		if w.status != 200 {
			b.Fatal(w.status)
		}
	}
}

// BenchmarkProxyForward is an allowed request forwarded through net/http's
// Transport to an upstream on 127.0.0.1, one at a time: with the outbound
// header map pooled, as a node runs, and without. The allocations include
// the Transport's and the upstream's own; the difference is the pool's.
func BenchmarkProxyForward(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": "read"},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.Cleanup(upstream.Close)
	up, _ := url.Parse(upstream.URL)
	for _, pooled := range []bool{true, false} {
		b.Run(map[bool]string{true: "pooled", false: "unpooled"}[pooled], func(b *testing.B) {
			p := f.proxy(ProxyConfig{Upstream: up})
			p.poolHeaders = pooled
			r, _ := http.NewRequest("GET", "http://keyward.test/api/v5/orders?store=main&page=2", nil)
			r.RemoteAddr = "192.0.2.1:40000"
			r.Header.Set("X-API-Key", sec)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, r)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
