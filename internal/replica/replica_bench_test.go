package replica

import (
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
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
