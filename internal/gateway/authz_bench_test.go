package gateway

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// BenchmarkAuthz is one nginx auth_request subrequest for an allowed and a
// refused request, without the network.
func BenchmarkAuthz(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": "read"},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
	a, err := NewAuthz(AuthzConfig{Replica: f.Rep, IdentityKey: testIdentityKey})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, target string
		want         int
	}{
		{"allowed", "/api/v5/orders?store=main", 200},
		{"refused", "/api/v5/orders?store=online", 403},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, _ := http.NewRequest("GET", "http://keyward.test"+AuthzNginx, nil)
			r.Header.Set("X-API-Key", sec)
			r.Header.Set("X-Original-Method", "GET")
			r.Header.Set("X-Original-Uri", c.target)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				a.ServeHTTP(w, r)
				if w.status != c.want {
					b.Fatalf("status %d, want %d", w.status, c.want)
				}
			}
		})
	}
}
