package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
	"github.com/keyward/keyward/internal/usage"
)

// Each secret's last use is recorded with the client's address: the
// gateway's peer (behind --trusted-proxies), and the client_address a
// /v1/verify request names, so the key's page tells which secret an
// integration still uses, and from where.
func TestLastUseIsRecordedPerSecretWithItsAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		rec := usage.New(db, func() time.Time { return f.Now })
		f.Rep.OnUse = rec.Record
		k, err := f.Svc.CreateKey(f.Ctx, keyward.KeyCreate{Name: "Both", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		up, _ := url.Parse("http://upstream.invalid")
		p := f.proxy(ProxyConfig{Upstream: up, Transport: cannedTransport{}})
		r := httptest.NewRequest("GET", "http://keyward.test/api/v5/orders?store=main", nil)
		r.RemoteAddr = "203.0.113.7:40000"
		r.Header.Set("X-API-Key", k.Secrets[1].Secret)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("gateway: %d %s", w.Code, w.Body)
		}
		v := &Verifier{Replica: f.Rep}
		r = httptest.NewRequest("POST", "http://keyward.test/v1/verify",
			strings.NewReader(`{"key":"`+k.Secrets[0].Secret+`","method":"orders.list","store":"main","client_address":"2001:db8::5"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "198.51.100.9:40000" // the platform's backend asking, not the client
		w = httptest.NewRecorder()
		v.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), keyward.CodeValid) {
			t.Fatalf("verify: %d %s", w.Code, w.Body)
		}
		if err := rec.Flush(f.Ctx); err != nil {
			t.Fatal(err)
		}
		got, err := f.Svc.Key(f.Ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		from := map[int]string{}
		for _, s := range got.Secrets {
			if s.LastUsedAt == nil || !s.LastUsedAt.Equal(f.Now) {
				t.Errorf("secret %d last used %v, want %v", s.Slot, s.LastUsedAt, f.Now)
			}
			from[s.Slot] = s.LastUsedFrom
		}
		if from[1] != "2001:db8::5" || from[2] != "203.0.113.7" {
			t.Fatalf("last used from: %v", from)
		}
	})
}
