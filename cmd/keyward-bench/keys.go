package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

const (
	keysPerTx     = 10_000  // keys inserted per transaction
	keysPerTenant = 10_000  // keys per bulk tenant, up to maxTenants
	maxTenants    = 100     // bulk tenants at most
	maxSamples    = 100_000 // secrets kept in plain text for the verify timings
	samplesFile   = "samples.txt"
	seedFile      = "seeded.json"
)

// seedStats is what seeding did; it is kept in seedFile so that a later
// run can reuse the database.
type seedStats struct {
	// Database is the PostgreSQL URL seeded, or "" for SQLite in the
	// directory.
	Database string        `json:"database,omitempty"`
	Keys     int           `json:"keys"`
	Secrets  int           `json:"secrets"`
	Tenants  int           `json:"tenants"`
	Elapsed  time.Duration `json:"elapsed"`
}

// seeded returns what an earlier seeding of dir did, or nil.
func seeded(dir string) *seedStats {
	b, err := os.ReadFile(filepath.Join(dir, seedFile))
	if err != nil {
		return nil
	}
	var st seedStats
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return &st
}

// keyMix draws realistic, varied keys: most follow one of a few dozen
// integration templates (the permission sets integrations ask for), the
// rest hold random permissions; some are limited to one or two stores, to
// a list of methods, to a rate, or expire; a few are disabled.
type keyMix struct {
	rng       *rand.Rand
	resources []string
	methods   []*catalog.Method
	templates []keyward.Permissions
}

func newKeyMix(cat *catalog.Catalog) *keyMix {
	m := &keyMix{rng: rand.New(rand.NewPCG(1, 2)), resources: cat.Resources(), methods: cat.Methods()}
	for range 40 {
		m.templates = append(m.templates, m.randomPermissions(4))
	}
	return m
}

func (m *keyMix) randomPermissions(most int) keyward.Permissions {
	p := keyward.Permissions{}
	for range 1 + m.rng.IntN(most) {
		lvl := keyward.LevelRead
		if m.rng.IntN(2) == 0 {
			lvl = keyward.LevelWrite
		}
		p[m.resources[m.rng.IntN(len(m.resources))]] = lvl
	}
	return p
}

// fill sets the settings of k; storeIDs are the tenant's stores.
func (m *keyMix) fill(k *keyward.Key, storeIDs []string, now time.Time) {
	r := m.rng
	if r.IntN(4) == 0 {
		k.Permissions = m.randomPermissions(6)
	} else {
		k.Permissions = m.templates[r.IntN(len(m.templates))]
	}
	k.Stores = keyward.StoreAccess{Access: keyward.StoresAll}
	switch n := r.IntN(10); {
	case n < 2:
		k.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{storeIDs[r.IntN(len(storeIDs))]}}
	case n < 3:
		i := r.IntN(len(storeIDs))
		ids := []string{storeIDs[i], storeIDs[(i+1)%len(storeIDs)]}
		slices.Sort(ids)
		k.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: ids}
	}
	if r.IntN(10) == 0 {
		for range 1 + r.IntN(3) {
			id := m.methods[r.IntN(len(m.methods))].ID
			if !slices.Contains(k.Methods, id) {
				k.Methods = append(k.Methods, id)
			}
		}
	}
	if r.IntN(20) == 0 {
		exp := now.Add(time.Duration(30+r.IntN(700)) * 24 * time.Hour).Truncate(24 * time.Hour)
		k.ExpiresAt = &exp
	}
	if r.IntN(10) < 3 {
		k.RateLimit = []int{10, 50, 100, 500}[r.IntN(4)]
	}
	k.Enabled = r.IntN(33) != 0
}

// specKey is a canonical text of the policy inputs of a key: keys with
// equal texts can share one compiled policy. Store ids belong to one
// tenant, so only keys of all stores can share across tenants.
func specKey(k *keyward.Key) string {
	var b strings.Builder
	for _, res := range slices.Sorted(mapKeys(k.Permissions)) {
		b.WriteString("|" + res + "=" + string(k.Permissions[res]))
	}
	b.WriteString("|" + k.Stores.Access + ":" + strings.Join(k.Stores.IDs, ","))
	if k.Methods != nil {
		b.WriteString("|m:" + strings.Join(k.Methods, ","))
	}
	if k.ExpiresAt != nil {
		b.WriteString("|e:" + k.ExpiresAt.String())
	}
	return b.String()
}

func mapKeys(p keyward.Permissions) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range p {
			if !yield(k) {
				return
			}
		}
	}
}

// tenantsFor returns how many bulk tenants n keys are spread over.
func tenantsFor(n int) int { return min(max(n/keysPerTenant, 1), maxTenants) }

// policyInputs counts the distinct policy inputs among the n keys seedKeys
// makes, by drawing the same keys again with stand-in store ids.
func policyInputs(n int) int {
	nt := tenantsFor(n)
	stores := make([][]string, nt)
	for i := range stores {
		stores[i] = []string{fmt.Sprintf("sto_%d_a", i), fmt.Sprintf("sto_%d_b", i), fmt.Sprintf("sto_%d_c", i)}
	}
	mix := newKeyMix(catalog.Builtin())
	now := time.Now().UTC()
	seen := map[string]struct{}{}
	for i := range n {
		var k keyward.Key
		mix.fill(&k, stores[i%nt], now)
		seen[specKey(&k)] = struct{}{}
	}
	return len(seen)
}

// bulkTenant is a tenant keys are seeded into.
type bulkTenant struct {
	id     string
	stores []string
}

// seedKeys creates n keys with two secrets each in the SQLite database in
// dir, spread over bulk tenants with three stores each, inserting through
// store.InsertKey in transactions of keysPerTx keys. It keeps the plain
// text of up to maxSamples first secrets, evenly spread, in samplesFile.
func seedKeys(ctx context.Context, dir, dbURL string, n int, progress io.Writer) (*seedStats, error) {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, dbURL, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SQL().SetMaxOpenConns(1)
	if db.Engine() == store.SQLite {
		// A 1 GiB page cache, so that large transactions neither spill
		// pages to the WAL early nor read them back from disk.
		if _, err := db.SQL().ExecContext(ctx, "PRAGMA cache_size = -1048576"); err != nil {
			return nil, err
		}
	}
	cat := catalog.Builtin()
	svc := service.New(db, cat)
	op := keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorSystem, Address: "keyward-bench"})
	nt := tenantsFor(n)
	tenants := make([]bulkTenant, nt)
	unlimited, rate := 0, 10_000
	for i := range tenants {
		domain := fmt.Sprintf("bulk%03d", i)
		t, err := svc.CreateTenant(op, keyward.TenantCreate{Domain: domain, Name: "Bulk tenant " + strconv.Itoa(i)})
		if err != nil {
			return nil, err
		}
		if _, err := svc.GrantLicence(op, domain, keyward.LicenceGrant{MaxKeys: &unlimited, RateLimit: &rate}); err != nil {
			return nil, err
		}
		tctx := keyward.WithActor(ctx, service.SystemActor(t, "keyward-bench"))
		tenants[i].id = t.ID
		for _, code := range []string{"main", "online", "outlet"} {
			st, err := svc.CreateStore(tctx, keyward.StoreCreate{Code: code, Name: code + " store"})
			if err != nil {
				return nil, err
			}
			tenants[i].stores = append(tenants[i].stores, st.ID)
		}
		slices.Sort(tenants[i].stores)
	}

	samples, err := os.Create(filepath.Join(dir, samplesFile))
	if err != nil {
		return nil, err
	}
	defer samples.Close()
	sw := bufio.NewWriter(samples)
	step := max(n/maxSamples, 1)

	// Keys are made on one goroutine and written on another, so secret
	// generation overlaps the inserts.
	batches := make(chan []*keyward.Key, 2)
	go func() {
		defer close(batches)
		mix := newKeyMix(cat)
		now := time.Now().UTC().Truncate(time.Second)
		for i := 0; i < n; {
			batch := make([]*keyward.Key, 0, min(keysPerTx, n-i))
			for ; i < n && len(batch) < cap(batch); i++ {
				t := tenants[i%nt]
				k := &keyward.Key{ID: keyward.NewID("key"), TenantID: t.id, Name: fmt.Sprintf("k%07d", i), CreatedAt: now, UpdatedAt: now}
				mix.fill(k, t.stores, now)
				for slot := 1; slot <= service.KeySlots; slot++ {
					plain := secret.Generate(secret.KindAPIKey)
					d := secret.Digest(plain)
					k.Secrets = append(k.Secrets, keyward.KeySecret{ID: keyward.NewID("sec"), KeyID: k.ID, Slot: slot,
						Hint: secret.Hint(plain), Digest: d[:], CreatedAt: now})
					if slot == 1 && i%step == 0 && k.Enabled {
						sw.WriteString(plain + "\n")
					}
				}
				batch = append(batch, k)
			}
			select {
			case batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	done, last := 0, time.Now()
	for batch := range batches {
		err := db.Write(ctx, func(q *store.Q) error {
			for _, k := range batch {
				if err := q.InsertKey(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			for range batches { // let the producer finish
			}
			return nil, fmt.Errorf("insert keys: %w", err)
		}
		done += len(batch)
		if time.Since(last) >= 2*time.Second || done == n {
			last = time.Now()
			el := time.Since(start)
			fmt.Fprintf(progress, "  seeded %s/%s keys in %s (%s keys/s)\n", thousands(int64(done)), thousands(int64(n)),
				el.Round(time.Second), thousands(int64(float64(done)/el.Seconds())))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	st := &seedStats{Database: dbURL, Keys: n, Secrets: n * service.KeySlots, Tenants: nt, Elapsed: time.Since(start)}
	b, _ := json.Marshal(st)
	return st, os.WriteFile(filepath.Join(dir, seedFile), b, 0o600)
}

// loadStats is what loading a replica of many keys measured, in a process
// of its own.
type loadStats struct {
	Secrets       int     `json:"secrets"`
	LoadSeconds   float64 `json:"load_seconds"`
	ScanSeconds   float64 `json:"scan_seconds"`
	RSSBeforeMB   float64 `json:"rss_before_mb"`
	RSSAfterMB    float64 `json:"rss_after_mb"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	HeapInuseMB   float64 `json:"heap_inuse_mb"`
	HeapBeforeMB  float64 `json:"heap_before_mb"`
	ObjectsMB     float64 `json:"objects_mb"`
	UnusedMB      float64 `json:"unused_mb"`
	HotNs         float64 `json:"hot_ns"`
	HotAllocs     float64 `json:"hot_allocs"`
	WarmSetNs     float64 `json:"warm_set_ns"`
	WarmSetAllocs float64 `json:"warm_set_allocs"`
	SpreadNs      float64 `json:"spread_ns"`
	SpreadAllocs  float64 `json:"spread_allocs"`
	SpreadKeys    int     `json:"spread_keys"`
	SpreadAllowed int     `json:"spread_allowed"`
}

// measureLoad is the child process of the --keys scenario: it opens the
// database seeded in dir (SQLite there, or PostgreSQL at dbURL), loads a
// replica of every key, and measures load time, memory and verify speed.
// It writes the result as JSON to out.
func measureLoad(ctx context.Context, dir, dbURL, heapProfile string, out io.Writer) error {
	db, err := store.Open(ctx, dbURL, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	samples, err := readLines(filepath.Join(dir, samplesFile))
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return fmt.Errorf("no sample secrets in %s", dir)
	}
	var st loadStats
	var ms runtime.MemStats
	settle()
	runtime.ReadMemStats(&ms)
	st.HeapBeforeMB = mb(ms.HeapInuse)
	st.RSSBeforeMB = mb(procStatus("VmRSS"))

	rep := replica.New(db, catalog.Builtin(), replica.WithMaxStaleness(time.Hour))
	start := time.Now()
	if err := rep.Load(ctx); err != nil {
		return err
	}
	st.LoadSeconds = time.Since(start).Seconds()
	st.Secrets = rep.Len()
	settle()
	runtime.ReadMemStats(&ms)
	st.HeapInuseMB = mb(ms.HeapInuse)
	st.ObjectsMB, st.UnusedMB = heapClasses()
	st.RSSAfterMB = mb(procStatus("VmRSS"))
	st.PeakRSSMB = mb(procStatus("VmHWM"))
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}

	m, _ := rep.Catalog().Method("orders.list")
	st.HotNs, st.HotAllocs, _ = verifySpeed(rep, m, "main", samples[:1], 400_000)
	st.WarmSetNs, st.WarmSetAllocs, _ = verifySpeed(rep, m, "main", samples[:min(len(samples), warmSet)], 400_000)
	st.SpreadNs, st.SpreadAllocs, st.SpreadAllowed = verifySpeed(rep, m, "main", samples, 400_000)
	st.SpreadKeys = len(samples)

	// What reading costs: the same scans of every key and secret, one
	// after the other, with no replica work (Load runs them side by side).
	start = time.Now()
	if err := db.Read().EachKey(ctx, func(*keyward.Key) error { return nil }); err != nil {
		return err
	}
	if err := db.Read().EachKeySecret(ctx, func(*keyward.KeySecret) error { return nil }); err != nil {
		return err
	}
	st.ScanSeconds = time.Since(start).Seconds()
	return json.NewEncoder(out).Encode(&st)
}

// warmSet is how many different keys the warm-set measurement turns
// through, like the keys of a node's busiest integrations: few enough
// that a replica of only those keys stays in the CPU caches.
const warmSet = 1000

// runLoadChild runs measureLoad in a fresh process, so that the memory it
// reports is that of a node holding the replica, not of the seeding.
func runLoadChild(ctx context.Context, dir, dbURL, heapProfile string) (*loadStats, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"--load-db", dir}
	if heapProfile != "" {
		args = append(args, "--heap-profile", heapProfile)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	// In the environment rather than the arguments, where other users of
	// the machine could read a password in it.
	cmd.Env = append(os.Environ(), keysDatabaseEnv+"="+dbURL)
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("replica load process: %w", err)
	}
	var st loadStats
	if err := json.Unmarshal(outb, &st); err != nil {
		return nil, fmt.Errorf("replica load process answered %q: %w", outb, err)
	}
	return &st, nil
}

// verifySpeed times rep.Verify over keys in rotation and returns the time
// per call (the median of five timings of iters calls), the heap
// allocations per call, and how many of the keys were allowed.
func verifySpeed(rep *replica.Replica, m *catalog.Method, storeName string, keys []string, iters int) (ns, allocs float64, allowed int) {
	for _, k := range keys {
		if res := rep.Verify(k, m, storeName); res.Allowed() {
			allowed++
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	times := make([]float64, 5)
	for t := range times {
		start := time.Now()
		for i := range iters {
			rep.Verify(keys[(t*iters+i)%len(keys)], m, storeName)
		}
		times[t] = float64(time.Since(start).Nanoseconds()) / float64(iters)
	}
	runtime.ReadMemStats(&after)
	slices.Sort(times)
	return times[len(times)/2], float64(after.Mallocs-before.Mallocs) / float64(len(times)*iters), allowed
}

// settle collects garbage and returns freed memory to the system, so that
// the resident size reflects live memory.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// procStatus returns a size field of /proc/self/status in bytes, or 0.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// heapClasses returns the megabytes of live heap objects and of free
// space inside heap spans that hold live objects (fragmentation).
func heapClasses() (objects, unused float64) {
	ss := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(ss)
	return mb(ss[0].Value.Uint64()), mb(ss[1].Value.Uint64())
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}
