package replica

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// benchKey is a key that may list orders of the store main: the decision
// the gateway benchmark asks for on every request.
var benchKey = keyward.KeyCreate{Name: "Bench", Permissions: keyward.Permissions{"orders": keyward.LevelRead},
	Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}}

// BenchmarkVerify is the decision for a key in the replica, allowed. It
// should take well under a microsecond and allocate nothing.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	sec := f.create(f.ctx, benchKey).Secrets[0].Secret
	m := f.method("orders.list")
	b.ReportAllocs()
	for b.Loop() {
		if res := f.rep.Verify(sec, m, "main"); res.Code != keyward.CodeValid {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyUnknownKey is a well-formed key the replica does not hold:
// parsed, hashed and looked up, then refused.
func BenchmarkVerifyUnknownKey(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	f.create(f.ctx, benchKey)
	unknown := secret.Generate(secret.KindAPIKey)
	m := f.method("orders.list")
	b.ReportAllocs()
	for b.Loop() {
		if res := f.rep.Verify(unknown, m, "main"); res.Code != keyward.CodeNotFound {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyMalformed is a key of the right length whose checksum
// does not match: refused before hashing.
func BenchmarkVerifyMalformed(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	f.create(f.ctx, benchKey)
	bad := change(secret.Generate(secret.KindAPIKey), 20)
	m := f.method("orders.list")
	b.ReportAllocs()
	for b.Loop() {
		if res := f.rep.Verify(bad, m, "main"); res.Code != keyward.CodeNotFound {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyParallel is the allowed decision from every CPU at once,
// each goroutine with a secret of its own among a few keys, as concurrent
// requests would be.
func BenchmarkVerifyParallel(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	var secrets []string
	for i := range 4 {
		in := benchKey
		in.Name = "Bench" + string(rune('A'+i))
		for _, s := range f.create(f.ctx, in).Secrets {
			secrets = append(secrets, s.Secret)
		}
	}
	m := f.method("orders.list")
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sec := secrets[int(next.Add(1))%len(secrets)]
		for pb.Next() {
			if res := f.rep.Verify(sec, m, "main"); res.Code != keyward.CodeValid {
				b.Error(res.Code)
				return
			}
		}
	})
}

// BenchmarkLoad is Load of a replica of 20,000 keys with two secrets each
// and a mix of permissions, stores, methods and rate limits, as a node
// restarting reads them. Its allocations and CPU profile are those of the
// 1,000,000-key load in keyward-bench, on a scale a test can seed.
func BenchmarkLoad(b *testing.B) {
	f := newFixture(b, storetest.Open(b, store.SQLite))
	ten, err := f.svc.TenantByDomain(f.op, service.DemoDomain)
	if err != nil {
		b.Fatal(err)
	}
	stores, err := f.svc.ListStores(f.ctx)
	if err != nil || len(stores) == 0 {
		b.Fatal("no stores", err)
	}
	resources := []string{"orders", "products", "customers", "inventory"}
	now := f.now
	const n = 20_000
	err = f.db.Write(context.Background(), func(q *store.Q) error {
		for i := range n {
			k := &keyward.Key{ID: keyward.NewID("key"), TenantID: ten.ID, Name: fmt.Sprintf("k%06d", i), Enabled: true,
				Permissions: keyward.Permissions{}, Stores: keyward.StoreAccess{Access: keyward.StoresAll}, CreatedAt: now, UpdatedAt: now}
			for j, r := range resources {
				if (i>>j)&1 == 1 {
					k.Permissions[r] = keyward.LevelRead
				}
			}
			if len(k.Permissions) == 0 {
				k.Permissions["orders"] = keyward.LevelWrite
			}
			if i%5 == 0 {
				k.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{stores[i%len(stores)].ID}}
			}
			if i%3 == 0 {
				k.RateLimit = 100 + i%7
			}
			for slot := 1; slot <= service.KeySlots; slot++ {
				plain := secret.Generate(secret.KindAPIKey)
				d := secret.Digest(plain)
				k.Secrets = append(k.Secrets, keyward.KeySecret{ID: keyward.NewID("sec"), KeyID: k.ID, Slot: slot,
					Hint: secret.Hint(plain), Digest: d[:], CreatedAt: now})
			}
			if err := q.InsertKey(context.Background(), k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := f.replica()
		if err := r.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
}
