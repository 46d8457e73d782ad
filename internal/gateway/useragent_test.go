package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// The upstream gets the client's User-Agent, and none when the client sent
// none (not Go's own), as from ReverseProxy.
func TestUserAgentPassesAsSent(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Reader", Permissions: keyward.Permissions{"orders": "read"}})
	got := make(chan []string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header["User-Agent"]
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	p := f.proxy(ProxyConfig{Upstream: u})
	for _, c := range []struct {
		sent []string
		want string
	}{{nil, ""}, {[]string{"shop-sync/2.1"}, "shop-sync/2.1"}} {
		r := httptest.NewRequest("GET", "/api/v5/orders?store=main", nil)
		r.Header.Set("X-API-Key", sec)
		if c.sent != nil {
			r.Header["User-Agent"] = c.sent
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		ua := <-got
		if c.want == "" && len(ua) != 0 || c.want != "" && (len(ua) != 1 || ua[0] != c.want) {
			t.Errorf("client sent User-Agent %q, upstream got %q", c.sent, ua)
		}
	}
}
