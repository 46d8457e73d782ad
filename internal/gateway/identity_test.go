package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// TestProxyIdentityReplay forwards requests through the proxy to an
// upstream checking identities, then sends the headers the upstream saw
// straight to it again, as someone who captured them would.
func TestProxyIdentityReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		var mu sync.Mutex
		var last http.Header
		upstream := httptest.NewServer(identity.Middleware(testIdentityKey, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := identity.FromContext(r.Context())
			mu.Lock()
			last = r.Header.Clone()
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]string{"key": id.KeyID, "query": r.URL.RawQuery, "request_id": id.RequestID})
		})))
		t.Cleanup(upstream.Close)
		up, _ := url.Parse(upstream.URL)
		sec := f.key(keyward.KeyCreate{Name: "Replay", Permissions: keyward.Permissions{"orders": "read"}})
		base := serve(t, f.proxy(ProxyConfig{Upstream: up}))
		ids := map[string]bool{}
		for _, target := range []string{"/api/v5/orders?store=main", "/api/v5/orders?store=main", "/api/v5/orders/ord%5F1?x=caf%C3%A9&y="} {
			req := newRequest(t, "GET", base+target)
			req.Header.Set("X-API-Key", sec)
			// A Content-Digest from the client would not be signed.
			req.Header.Set(identity.HeaderContentDigest, identity.BodyDigest([]byte("x")))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]string
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if res.StatusCode != 200 || ids[out["request_id"]] {
				t.Fatalf("%s: status %d, %v", target, res.StatusCode, out)
			}
			ids[out["request_id"]] = true
		}
		mu.Lock()
		captured := last
		mu.Unlock()
		for _, c := range []struct{ name, target, detail string }{
			{"same request", "/api/v5/orders/ord%5F1?x=caf%C3%A9&y=", "already seen"},
			{"other query", "/api/v5/orders/ord%5F1?x=caf%C3%A9&y=1", "no valid keyward identity"},
			{"path decoded", "/api/v5/orders/ord_1?x=caf%C3%A9&y=", "no valid keyward identity"},
		} {
			req, _ := http.NewRequest("GET", upstream.URL+c.target, nil)
			for name, vals := range captured {
				if strings.HasPrefix(name, "X-Keyward-") {
					req.Header[name] = vals
				}
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 401 || !strings.Contains(string(body), c.detail) {
				t.Fatalf("%s: status %d: %s", c.name, res.StatusCode, body)
			}
		}
	})
}

// verifyIdentity checks one request with a verifier of its own, so tests
// can check one captured request several ways without the replay check.
func verifyIdentity(r *http.Request, key []byte, maxSkew time.Duration, now time.Time) (identity.Identity, error) {
	v, err := identity.NewVerifier(key, identity.Options{MaxSkew: maxSkew, Now: func() time.Time { return now }})
	if err != nil {
		return identity.Identity{}, err
	}
	return v.Verify(r)
}
