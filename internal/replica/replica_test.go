package replica

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"modernc.org/sqlite"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// SQLite consults a connection's authorizer for every statement it
// compiles, and the store prepares nothing in advance, so an authorizer
// installed on every connection sees every statement the store sends.
// Counts are kept per database file, so tests running in parallel on their
// own databases do not see each other's statements.
var sqlStatements sync.Map // DSN -> *atomic.Int64

func init() {
	sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, dsn string) error {
		a, ok := c.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("the SQLite driver offers no authorizer")
		}
		v, _ := sqlStatements.LoadOrStore(dsn, new(atomic.Int64))
		n := v.(*atomic.Int64)
		return a.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
			switch action {
			case sqlite.AuthSelect, sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete,
				sqlite.AuthTransaction, sqlite.AuthPragma, sqlite.AuthSavepoint:
				n.Add(1)
			}
			return sqlite.AuthorizerOK
		})
	})
}

// statementsIn returns the number of statements compiled so far on the
// SQLite database file inside dir.
func statementsIn(dir string) int64 {
	var total int64
	sqlStatements.Range(func(k, v any) bool {
		if strings.Contains(k.(string), dir) {
			total += v.(*atomic.Int64).Load()
		}
		return true
	})
	return total
}

// fixture is the demo tenant with a service and a replica kept in step by
// the change hook, on a fixed clock.
type fixture struct {
	tb  testing.TB
	svc *service.Service
	rep *Replica
	db  *store.DB
	cat *catalog.Catalog
	ctx context.Context // acting as the demo tenant's administrator
	op  context.Context // acting as the operator
	now time.Time
}

func newFixture(tb testing.TB, db *store.DB) *fixture {
	tb.Helper()
	f := &fixture{tb: tb, db: db, cat: catalog.Builtin(), now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	f.rep = f.replica()
	f.svc = service.New(db, f.cat, service.WithClock(f.clock),
		service.WithChangeHook(func(ctx context.Context) {
			if err := f.rep.Sync(ctx); err != nil {
				tb.Errorf("sync: %v", err)
			}
		}))
	ctx := context.Background()
	if _, err := f.svc.SeedDemo(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := f.rep.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	ten, err := f.svc.TenantByDomain(ctx, service.DemoDomain)
	if err != nil {
		tb.Fatal(err)
	}
	f.ctx = keyward.WithActor(ctx, service.SystemActor(ten, "test"))
	f.op = keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorSystem, Address: "test"})
	return f
}

func (f *fixture) clock() time.Time { return f.now }

// replica returns a new, empty replica of the fixture's database.
func (f *fixture) replica() *Replica {
	return New(f.db, f.cat, WithClock(f.clock))
}

func (f *fixture) create(ctx context.Context, in keyward.KeyCreate) *keyward.Key {
	f.tb.Helper()
	k, err := f.svc.CreateKey(ctx, in)
	if err != nil {
		f.tb.Fatalf("create key %s: %v", in.Name, err)
	}
	return k
}

func (f *fixture) method(id string) *catalog.Method {
	f.tb.Helper()
	m, ok := f.cat.Method(id)
	if !ok {
		f.tb.Fatalf("no method %s", id)
	}
	return m
}

var ordersReader = keyward.KeyCreate{Name: "Reader", Permissions: keyward.Permissions{"orders": keyward.LevelRead}}

// malformedKeys are refused by secret.Parse, or read by it as another kind
// of secret than an API key.
func malformedKeys() map[string]string {
	valid := secret.Generate(secret.KindAPIKey)
	return map[string]string{
		"empty":             "",
		"short":             "kwk_abc",
		"wrong checksum":    change(valid, len(valid)-1),
		"one char changed":  change(valid, 20),
		"bad character":     valid[:10] + "-" + valid[11:],
		"personal token":    secret.Generate(secret.KindPersonalToken),
		"operator token":    secret.Generate(secret.KindOperatorToken),
		"too long":          valid + strings.Repeat("a", secret.MaxLength),
		"no prefix":         strings.Repeat("A", secret.Length),
		"whitespace around": " " + valid + " ",
	}
}

// change replaces the character at i with another base62 character.
func change(s string, i int) string {
	c := byte('0')
	if s[i] == c {
		c = '1'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestUnknownAndMalformedKeysAreNotFound(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	k := f.create(f.ctx, ordersReader)
	m := f.method("orders.list")

	if res := f.rep.Verify(k.Secrets[0].Secret, m, "main"); res.Code != keyward.CodeValid {
		t.Fatalf("known key: %s, want VALID", res.Code)
	}

	before := f.rep.Lookups()
	unknown := secret.Generate(secret.KindAPIKey)
	res := f.rep.Verify(unknown, m, "main")
	if res.Code != keyward.CodeNotFound || res.Found() || res.Cred.KeyID != "" {
		t.Fatalf("unknown well-formed key: %s (credential %v), want NOT_FOUND and nothing else", res.Code, res.Cred)
	}
	if got := f.rep.Lookups() - before; got != 1 {
		t.Fatalf("unknown well-formed key made %d lookups, want 1", got)
	}

	for name, key := range malformedKeys() {
		before := f.rep.Lookups()
		res := f.rep.Verify(key, m, "main")
		if res.Code != keyward.CodeNotFound || res.Found() {
			t.Errorf("%s: %s, want NOT_FOUND", name, res.Code)
		}
		if got := f.rep.Lookups() - before; got != 0 {
			t.Errorf("%s: reached the map (%d lookups); a malformed key must stop before it", name, got)
		}
	}
}

func TestRandomKeyFloodMakesNoQueries(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := newFixture(t, db)
	k := f.create(f.ctx, ordersReader)
	m := f.method("orders.list")

	const flood = 10_000
	keys := make([]string, flood)
	wellFormed := 0
	malformed := malformedKeys()
	var shapes []string
	for _, v := range malformed {
		shapes = append(shapes, v)
	}
	for i := range keys {
		if i%2 == 0 {
			keys[i] = secret.Generate(secret.KindAPIKey)
			wellFormed++
		} else {
			keys[i] = shapes[i%len(shapes)]
		}
	}

	stmts, lookups := statementsIn(dir), f.rep.Lookups()
	var wg sync.WaitGroup
	var wrong atomic.Int64
	const workers = 8
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += workers {
				if res := f.rep.Verify(keys[i], m, "main"); res.Code != keyward.CodeNotFound {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d random keys were not NOT_FOUND", n)
	}
	if got := statementsIn(dir) - stmts; got != 0 {
		t.Errorf("the flood of %d random keys ran %d SQL statements, want 0", flood, got)
	}
	if got := f.rep.Lookups() - lookups; got != int64(wellFormed) {
		t.Errorf("%d lookups, want one per well-formed key (%d)", got, wellFormed)
	}

	// The counter does count: the known key still verifies without a
	// query, and a store read is seen.
	stmts = statementsIn(dir)
	if res := f.rep.Verify(k.Secrets[1].Secret, m, "main"); res.Code != keyward.CodeValid {
		t.Fatalf("known key: %s", res.Code)
	}
	if got := statementsIn(dir) - stmts; got != 0 {
		t.Errorf("verifying a known key ran %d statements", got)
	}
	if _, err := db.Read().LastChange(context.Background()); err != nil {
		t.Fatal(err)
	}
	if statementsIn(dir) == stmts {
		t.Fatal("a store read was not counted; the statement counter is not working")
	}
}

func TestLoadReflectsDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()

		// A second tenant with its own licence and store.
		if _, err := f.svc.CreateTenant(f.op, keyward.TenantCreate{Domain: "other", Name: "Other"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.GrantLicence(f.op, "other", keyward.LicenceGrant{}); err != nil {
			t.Fatal(err)
		}
		other, err := f.svc.TenantByDomain(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		octx := keyward.WithActor(ctx, service.SystemActor(other, "test"))
		if _, err := f.svc.CreateStore(octx, keyward.StoreCreate{Code: "depot", Name: "Depot"}); err != nil {
			t.Fatal(err)
		}

		reader := f.create(f.ctx, ordersReader)
		mainOnly := f.create(f.ctx, keyward.KeyCreate{Name: "MainOnly", Permissions: keyward.Permissions{"orders": keyward.LevelWrite},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
		off := false
		disabled := f.create(f.ctx, keyward.KeyCreate{Name: "Off", Permissions: keyward.Permissions{"orders": keyward.LevelRead}, Enabled: &off})
		gone := f.create(f.ctx, keyward.KeyCreate{Name: "Gone", Permissions: keyward.Permissions{"orders": keyward.LevelRead}})
		if err := f.svc.DeleteKey(f.ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		elsewhere := f.create(octx, keyward.KeyCreate{Name: "Elsewhere", Permissions: keyward.Permissions{"customers": keyward.LevelRead}})

		rep := f.replica()
		if rep.Len() != 0 {
			t.Fatalf("a new replica holds %d secrets", rep.Len())
		}
		if err := rep.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if rep.Stale() {
			t.Fatal("stale right after Load")
		}
		if got, want := rep.Len(), 4*service.KeySlots; got != want {
			t.Fatalf("Len %d, want %d (four live keys with %d secrets each)", got, want, service.KeySlots)
		}

		list, custList := f.method("orders.list"), f.method("customers.list")
		cases := []struct {
			name   string
			key    *keyward.Key
			m      *catalog.Method
			store  string
			code   string
			tenant string
		}{
			{"reader", reader, list, "online", keyward.CodeValid, "demo"},
			{"main only, on main", mainOnly, list, "main", keyward.CodeValid, "demo"},
			{"main only, on online", mainOnly, list, "online", keyward.CodeStoreNotAllowed, "demo"},
			{"disabled", disabled, list, "main", keyward.CodeDisabled, "demo"},
			{"other tenant", elsewhere, custList, "", keyward.CodeValid, "other"},
			{"other tenant, orders", elsewhere, list, "depot", keyward.CodeInsufficientPermission, "other"},
		}
		for _, c := range cases {
			for _, s := range c.key.Secrets {
				res := rep.Verify(s.Secret, c.m, c.store)
				if res.Code != c.code {
					t.Errorf("%s, slot %d: %s, want %s", c.name, s.Slot, res.Code, c.code)
					continue
				}
				if !res.Found() {
					t.Errorf("%s: no credential or tenant in the result", c.name)
					continue
				}
				if res.Cred.KeyID != c.key.ID || res.Tenant.Domain != c.tenant || res.Slot != s.Slot {
					t.Errorf("%s: key %s tenant %s slot %d, want %s %s %d", c.name, res.Cred.KeyID, res.Tenant.Domain, res.Slot, c.key.ID, c.tenant, s.Slot)
				}
				if want := c.tenant + "-" + c.key.Name; res.DisplayName() != want {
					t.Errorf("%s: display name %q, want %q", c.name, res.DisplayName(), want)
				}
			}
		}
		for _, s := range gone.Secrets {
			if res := rep.Verify(s.Secret, list, "main"); res.Code != keyward.CodeNotFound {
				t.Errorf("deleted key: %s, want NOT_FOUND", res.Code)
			}
		}

		// A later Load replaces everything: a revoked licence and a key
		// deleted meanwhile are reflected, without a Sync.
		if _, err := f.svc.RevokeLicence(f.op, "other"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteKey(f.ctx, reader.ID); err != nil {
			t.Fatal(err)
		}
		if err := rep.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := rep.Len(), 3*service.KeySlots; got != want {
			t.Fatalf("after the second Load, Len %d, want %d", got, want)
		}
		if res := rep.Verify(reader.Secrets[0].Secret, list, "main"); res.Code != keyward.CodeNotFound {
			t.Errorf("key deleted before the second Load: %s, want NOT_FOUND", res.Code)
		}
		if res := rep.Verify(elsewhere.Secrets[0].Secret, custList, ""); res.Code != keyward.CodeLicenceInactive {
			t.Errorf("tenant with a revoked licence: %s, want LICENCE_INACTIVE", res.Code)
		}
		if res := rep.Verify(mainOnly.Secrets[1].Secret, list, "main"); res.Code != keyward.CodeValid {
			t.Errorf("untouched key after the second Load: %s, want VALID", res.Code)
		}
	})
}

// TestKeyIndexMatchesModel adds and removes keys at random, with digests
// drawn from a few hashes (so that entries collide, form long runs and wrap
// around the table's end), and checks after each step that the index finds
// exactly what a plain map of the same keys holds.
func TestKeyIndexMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hashes := []uint64{0, 1, 2, 63, 64, 65, 1 << 31, 3 << 30, math.MaxUint64, math.MaxUint64 - 1, 1 << 40, 1<<40 | 1}
	digest := func(i int) (d [32]byte) {
		binary.LittleEndian.PutUint64(d[:8], hashes[rng.IntN(len(hashes))])
		binary.LittleEndian.PutUint64(d[24:], uint64(i))
		return d
	}
	expiry := func(i int) int64 { return int64(i % 3 * i) }
	x := newKeyIndex()
	model := map[string][][32]byte{} // key id -> digests
	refs := map[string]uint32{}
	var removed []string
	next := 0
	for step := range 3000 {
		// Grow to about 100 keys, then hover there: a small, crowded
		// table keeps runs long and wrapping.
		grow := rng.IntN(3) > 0
		if len(model) >= 100 {
			grow = !grow
		}
		if len(model) == 0 || grow {
			next++
			id := fmt.Sprintf("key_%d", next)
			var secrets []keySecret
			for j := range 1 + rng.IntN(3) {
				next++
				d := digest(next)
				// The slot tells the secrets apart; some expire, and a
				// third is held aside, as are expiries.
				secrets = append(secrets, keySecret{digest: d, slot: int8(j), expires: expiry(next)})
				model[id] = append(model[id], d)
			}
			refs[id] = x.add(&apiKey{text: id + "name", idLen: uint16(len(id))}, secrets)
		} else {
			for id := range model {
				x.remove(refs[id])
				delete(model, id)
				removed = append(removed, id)
				break
			}
		}
		if step%7 == 0 {
			// Shrinking to fit, as Load does, keeps every entry found.
			x.ids.fit()
			x.digests.fit()
		}
		n, rare := 0, 0
		for id, ds := range model {
			n += len(ds)
			if len(ds) > 2 || slices.ContainsFunc(ds, func(d [32]byte) bool { return expiry(int(binary.LittleEndian.Uint64(d[24:]))) != 0 }) {
				rare++
			}
			if ref, ok := x.byID(id); !ok || ref != refs[id] {
				t.Fatalf("step %d: key %s not found by id", step, id)
			}
			for j, d := range ds {
				k, slot, expires := x.find(&d)
				if k == nil || k.id() != id || slot != int8(j) || expires != expiry(int(binary.LittleEndian.Uint64(d[24:]))) {
					t.Fatalf("step %d: secret %d of %s not found by digest", step, j, id)
				}
			}
		}
		for _, id := range removed[max(0, len(removed)-20):] {
			if _, ok := x.byID(id); ok {
				t.Fatalf("step %d: removed key %s still found by id", step, id)
			}
		}
		if unknown := digest(-1); func() bool { k, _, _ := x.find(&unknown); return k != nil }() {
			t.Fatalf("step %d: an unknown digest sharing a hash was found", step)
		}
		if len(x.rare) != rare {
			t.Fatalf("step %d: %d records with secrets held aside, want %d", step, len(x.rare), rare)
		}
		if x.digests.n != n || x.ids.n != len(model) {
			t.Fatalf("step %d: %d digests and %d ids indexed; want %d, %d",
				step, x.digests.n, x.ids.n, n, len(model))
		}
	}
	for id := range model {
		x.remove(refs[id])
	}
	for _, tb := range []table{x.digests, x.ids} {
		for _, e := range tb.slots {
			if e != 0 {
				t.Fatal("the emptied index still holds entries")
			}
		}
	}
	if len(x.recs.free) != int(x.recs.n) {
		t.Errorf("%d of %d records free after every key was removed", len(x.recs.free), x.recs.n)
	}
}

func TestLoadSharesPolicies(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	same1 := f.create(f.ctx, keyward.KeyCreate{Name: "Same1", Permissions: keyward.Permissions{"orders": keyward.LevelRead, "customers": keyward.LevelWrite}})
	same2 := f.create(f.ctx, keyward.KeyCreate{Name: "Same2", Permissions: keyward.Permissions{"customers": keyward.LevelWrite, "orders": keyward.LevelRead}})
	other := f.create(f.ctx, keyward.KeyCreate{Name: "Other", Permissions: keyward.Permissions{"orders": keyward.LevelRead, "customers": keyward.LevelWrite},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
	rep := f.replica()
	if err := rep.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := f.method("customers.update")
	r1 := rep.Verify(same1.Secrets[0].Secret, m, "")
	r2 := rep.Verify(same2.Secrets[1].Secret, m, "")
	r3 := rep.Verify(other.Secrets[0].Secret, m, "")
	if r1.Code != keyward.CodeValid || r2.Code != keyward.CodeValid || r3.Code != keyward.CodeValid {
		t.Fatalf("codes %s %s %s, want VALID", r1.Code, r2.Code, r3.Code)
	}
	if r1.Cred.KeyID != same1.ID || r2.Cred.KeyID != same2.ID {
		t.Fatal("two keys share a credential")
	}
	if r1.Cred.Policy != r2.Cred.Policy {
		t.Error("keys with equal settings hold separate policies")
	}
	if r1.Cred.Policy == r3.Cred.Policy {
		t.Error("keys with different stores share a policy")
	}
	if reflect.ValueOf(r1.Cred.Permissions).UnsafePointer() != reflect.ValueOf(r3.Cred.Permissions).UnsafePointer() {
		t.Error("equal permission sets are not shared")
	}
	if res := rep.Verify(other.Secrets[0].Secret, f.method("orders.list"), "online"); res.Code != keyward.CodeStoreNotAllowed {
		t.Errorf("selected-store key on another store: %s", res.Code)
	}
}

// TestVerifyWhileKeysChange verifies every secret over and over on two
// goroutines while keys are created, disabled, rolled and deleted, so that
// records are released and reused under the readers. An answer must never
// name another key than the secret's own, and each change must show on the
// next verify.
func TestVerifyWhileKeysChange(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	m := f.method("orders.list")
	type known struct{ keyID, name string }
	var mu sync.Mutex
	owners := map[string]known{} // secret -> its key
	secrets := []string{}
	// The keys not deleted, each with the newest secret of each slot.
	type liveKey struct {
		id    string
		slots [2]string
	}
	live := []*liveKey{}
	add := func(k *keyward.Key, lk *liveKey) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range k.Secrets {
			if s.Secret != "" {
				owners[s.Secret] = known{k.ID, k.Name}
				secrets = append(secrets, s.Secret)
				lk.slots[s.Slot-1] = s.Secret
			}
		}
	}
	n := 0
	create := func() {
		n++
		k := f.create(f.ctx, keyward.KeyCreate{Name: fmt.Sprintf("K%03d", n), Permissions: keyward.Permissions{"orders": keyward.LevelRead}})
		lk := &liveKey{id: k.ID}
		add(k, lk)
		live = append(live, lk)
	}
	for range 20 {
		create()
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				batch := slices.Clone(secrets)
				mu.Unlock()
				for _, s := range batch {
					res := f.rep.Verify(s, m, "")
					mu.Lock()
					want := owners[s]
					mu.Unlock()
					if res.Found() && (res.Cred.KeyID != want.keyID || res.DisplayName() != "demo-"+want.name) {
						t.Errorf("secret of %s answered for %s (%s)", want.keyID, res.Cred.KeyID, res.DisplayName())
						return
					}
				}
			}
		}()
	}

	expect := func(secret, want string) {
		t.Helper()
		if got := f.rep.Verify(secret, m, "").Code; got != want {
			t.Fatalf("%s, want %s", got, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	off, on := false, true
	for range 300 {
		i := rng.IntN(len(live))
		k := live[i]
		switch rng.IntN(4) {
		case 0: // delete, and create another in its place
			if err := f.svc.DeleteKey(f.ctx, k.id); err != nil {
				t.Fatal(err)
			}
			expect(k.slots[0], keyward.CodeNotFound)
			expect(k.slots[1], keyward.CodeNotFound)
			live = slices.Delete(live, i, i+1)
			create()
			expect(live[len(live)-1].slots[1], keyward.CodeValid)
		case 1: // disable and enable again
			if _, err := f.svc.UpdateKey(f.ctx, k.id, keyward.KeyUpdate{Enabled: &off}); err != nil {
				t.Fatal(err)
			}
			expect(k.slots[1], keyward.CodeDisabled)
			if _, err := f.svc.UpdateKey(f.ctx, k.id, keyward.KeyUpdate{Enabled: &on}); err != nil {
				t.Fatal(err)
			}
			expect(k.slots[1], keyward.CodeValid)
		default: // roll a slot, with a grace period half of the time
			slot := 1 + rng.IntN(2)
			grace := keyward.Duration(0)
			if rng.IntN(2) == 0 {
				grace = keyward.Duration(time.Hour)
			}
			old := k.slots[slot-1]
			rolled, err := f.svc.RollKey(f.ctx, k.id, keyward.KeyRoll{Slot: slot, Grace: grace})
			if err != nil {
				t.Fatal(err)
			}
			add(rolled, k)
			expect(k.slots[slot-1], keyward.CodeValid)
			if grace == 0 {
				expect(old, keyward.CodeNotFound)
			} else {
				expect(old, keyward.CodeValid)
			}
		}
	}
	close(stop)
	readers.Wait()
}

// Keys that expire at different times keep their own expiry through Load,
// whose policies are compiled after every key has been read.
func TestLoadKeepsEachKeysExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		var keys []*keyward.Key
		for i := range 3 {
			exp := f.now.Add(time.Duration(i+1) * time.Hour)
			keys = append(keys, f.create(f.ctx, keyward.KeyCreate{Name: fmt.Sprintf("Expiring-%d", i),
				Permissions: keyward.Permissions{"orders": keyward.LevelRead}, ExpiresAt: &exp}))
		}
		rep := New(f.db, f.cat, WithClock(f.clock), WithMaxStaleness(24*time.Hour))
		if err := rep.Load(ctx); err != nil {
			t.Fatal(err)
		}
		list := f.method("orders.list")
		f.now = f.now.Add(90 * time.Minute)
		for i, k := range keys {
			want := keyward.CodeValid
			if i == 0 {
				want = keyward.CodeExpired
			}
			if res := rep.Verify(k.Secrets[0].Secret, list, "main"); res.Code != want {
				t.Errorf("key expiring after %d h, 90 min on: %s, want %s", i+1, res.Code, want)
			}
		}
	})
}

// A million keys are a million records: one that grows costs a million
// times its growth (on 64-bit platforms).
func TestKeyRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(apiKey{}); n > 104 {
		t.Errorf("a key record takes %d bytes, want at most 104", n)
	}
}

// Many keys of different permissions and the same stores, loaded and then
// synced, each get their own grant: the permissions, stores and policy of
// their own settings.
func TestEachKeyKeepsItsOwnGrant(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	ctx := context.Background()
	var reads []*catalog.Method // one read method of each resource
	seen := map[string]bool{}
	for _, m := range f.cat.Methods() {
		if m.Access == keyward.LevelRead && !seen[m.Resource] && f.cat.HasResource(m.Resource) {
			seen[m.Resource] = true
			reads = append(reads, m)
		}
	}
	if len(reads) < 4 {
		t.Fatalf("only %d resources with a read method", len(reads))
	}
	create := func(prefix string) []*keyward.Key {
		var keys []*keyward.Key
		for i, m := range reads {
			in := keyward.KeyCreate{Name: fmt.Sprintf("%s-%d", prefix, i), Permissions: keyward.Permissions{m.Resource: keyward.LevelRead}}
			if i%2 == 1 {
				in.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}
			}
			keys = append(keys, f.create(f.ctx, in))
		}
		return keys
	}
	check := func(rep *Replica, keys []*keyward.Key) {
		t.Helper()
		for i, k := range keys {
			own, other := reads[i], reads[(i+1)%len(reads)]
			res := rep.Verify(k.Secrets[0].Secret, own, "main")
			if res.Code != keyward.CodeValid || res.Cred.KeyID != k.ID || res.Cred.Permissions[own.Resource] != keyward.LevelRead ||
				len(res.Cred.Permissions) != 1 || res.Cred.Stores.Access != k.Stores.Access || !slices.Equal(res.Cred.Stores.IDs, k.Stores.IDs) {
				t.Errorf("key %s on %s: %s, permissions %v, stores %+v", k.Name, own.ID, res.Code, res.Cred.Permissions, res.Cred.Stores)
			}
			if res := rep.Verify(k.Secrets[1].Secret, other, "main"); res.Code != keyward.CodeInsufficientPermission {
				t.Errorf("key %s on %s: %s, want INSUFFICIENT_PERMISSION", k.Name, other.ID, res.Code)
			}
		}
	}
	loaded := create("loaded")
	rep := f.replica()
	if err := rep.Load(ctx); err != nil {
		t.Fatal(err)
	}
	check(rep, loaded)
	// Keys compiled by Sync, after Load, share what Sync compiled.
	synced := create("synced")
	check(f.rep, synced)
	check(f.rep, loaded)
}
