// Command keyward-bench measures keyward's data plane on this machine, on
// 127.0.0.1 only. In one run it starts an upstream answering a fixed
// 208-byte JSON body, a bare httputil.ReverseProxy in front of it, and the
// keyward gateway over a temporary SQLite database, and drives each with
// the same load in alternating rounds; it compares POST /v1/verify with a
// bare JSON handler; it can load a replica of many keys in a fresh process
// and report its load time, memory and verify speed; and it can flood the
// data plane with random keys while counting database statements.
//
// The load generator runs in the same process as the servers and shares
// the machine's CPUs with them, so its figures are the throughput of the
// whole system, not of a server on cores of its own. With --external, the
// upstream, the bare proxy and a keyward node (keyward serve) run as
// processes of their own instead, driven by wrk in another, and each
// server's CPU per request is read from /proc.
//
// Run it with --help for the flags; docs/performance.md shows how it is
// used and what it measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/store"
)

// options are the command's flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	connections int
	rounds      int
	requests    int64
	throughput  bool
	verify      bool
	authz       bool
	// nginxWorkers is nginx's worker_processes for --authz.
	nginxWorkers int
	keys         int
	flood        int
	keysDir      string
	heapProfile  string
	cpuProfile   string
	loadDB       string
	keysDB       string
	// webhooks is --webhooks; webhookRates the offered rates it runs.
	webhooks     bool
	webhookRates []int
	webhooksDB   string
	// external is --external, with the settings only it reads.
	external       bool
	keywardBin     string
	wrkBin         string
	wrkThreads     int
	connList       []int
	gatewayProfile string
	unknownKey     bool
	nodeFlags      []string
	gatewayMetrics bool
	// serve, addr and upstream run this binary as one of --external's
	// servers.
	serve, addr, upstream string
}

// keysDatabaseEnv is the environment variable --keys-database defaults to.
const keysDatabaseEnv = "KEYWARD_BENCH_KEYS_DATABASE"

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "keyward-bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	switch {
	case o.serve != "":
		err = serveRole(ctx, o.serve, o.addr, o.upstream)
	case o.external:
		err = external(ctx, o, os.Stdout, os.Stderr)
	case o.authz:
		err = authzScenario(ctx, o, os.Stdout, os.Stderr)
	case o.loadDB != "":
		err = measureLoad(ctx, o.loadDB, o.keysDB, o.heapProfile, os.Stdout)
	default:
		err = benchmark(ctx, o, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyward-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("keyward-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each run, on connections of its own; not measured")
	fs.IntVar(&o.connections, "connections", 64, "concurrent keep-alive connections, each driven by one goroutine sending one request at a time")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each round runs every setup once, alternating, and the tables show medians over rounds (default 5 with --external and --authz)")
	fs.Int64Var(&o.requests, "requests", 0, "most requests of one run; 0 bounds runs by --duration only")
	fs.BoolVar(&o.throughput, "throughput", true, "compare upstream direct, the bare reverse proxy and the keyward gateway")
	fs.BoolVar(&o.authz, "authz", false, "compare nginx asking keyward's forward-auth for each request (NK, the configuration in docs/integrations.md) with the same configuration asking a null responder answering 200 at once (NZ) and nginx proxying straight to the upstream (N), every server in a process of its own, driven by wrk at each --external-connections count; needs nginx and wrk, runs from the repository root, and reads --duration, --warmup and --rounds")
	fs.IntVar(&o.nginxWorkers, "nginx-workers", 1, "with --authz: nginx's worker_processes")
	fs.BoolVar(&o.verify, "verify", true, "compare POST /v1/verify with a bare JSON handler doing the same decoding and encoding")
	fs.IntVar(&o.keys, "keys", 0, "seed this many keys (two secrets each) into a SQLite database (or --keys-database), then load a replica of them in a fresh process and report load time, memory and verify speed; 0 skips it")
	fs.IntVar(&o.flood, "flood", 0, "send this many random keys, half well formed and half malformed, to /v1/verify and to the gateway, counting database statements; 0 skips it")
	fs.StringVar(&o.keysDir, "keys-dir", "", "directory of the --keys database, kept at the end; one already holding the same number of keys is reused without seeding (default: a temporary directory, removed at the end)")
	fs.StringVar(&o.heapProfile, "heap-profile", "", "with --keys: write a heap profile of the process holding the loaded replica to this file")
	fs.BoolVar(&o.webhooks, "webhooks", false, "measure webhook dispatch: events offered at each --webhook-rates rate for --duration to a receiver on 127.0.0.1; events/s delivered and the lag from commit to first attempt")
	rates := fs.String("webhook-rates", "500,1000,2000", "with --webhooks: offered events per second, comma-separated")
	fs.StringVar(&o.webhooksDB, "webhooks-database", os.Getenv(webhooksDatabaseEnv), "with --webhooks: a PostgreSQL database to run on instead of SQLite; give it one of its own (env "+webhooksDatabaseEnv+")")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of this process, for the whole run, to this file")
	fs.StringVar(&o.loadDB, "load-db", "", "load a replica from the database --keys seeded in this directory and print the measurements as JSON; --keys runs this in a fresh process")
	fs.StringVar(&o.keysDB, "keys-database", os.Getenv(keysDatabaseEnv), "with --keys: seed and load a PostgreSQL database instead of SQLite in --keys-dir; give it a database of its own, which is kept at the end (env "+keysDatabaseEnv+")")
	fs.BoolVar(&o.external, "external", false, "run the upstream, the bare proxy and a keyward node (keyward serve) as processes of their own and drive them with wrk, in alternating rounds at each --external-connections count; reads --duration, --warmup and --rounds")
	fs.StringVar(&o.keywardBin, "keyward-bin", "", "with --external and --authz: the keyward binary to run (default: built from this repository with go build)")
	fs.StringVar(&o.wrkBin, "wrk", "wrk", "with --external and --authz: the wrk binary")
	fs.IntVar(&o.wrkThreads, "wrk-threads", 2, "with --external and --authz: wrk's threads (-t)")
	conns := fs.String("external-connections", "16,64,256", "with --external and --authz: wrk's connection counts (-c), comma-separated")
	fs.StringVar(&o.gatewayProfile, "gateway-cpu-profile", "", "with --external and --authz: write a CPU profile of the keyward node process, for the whole run, to this file")
	nodeFlags := fs.String("node-flags", "", "with --external: more flags for keyward serve, space-separated, e.g. \"--metrics-addr 127.0.0.1:9464\"")
	fs.BoolVar(&o.gatewayMetrics, "gateway-metrics", false, "with --external: also load GM, a second keyward node on the same database with Prometheus metrics on (--metrics-addr)")
	fs.BoolVar(&o.unknownKey, "unknown-key", true, "with --external: also load the gateway with an unknown key, answered 401")
	fs.StringVar(&o.serve, "serve", "", "run as one of the servers of --external and --authz, upstream, bare or null, on --addr until stopped")
	fs.StringVar(&o.addr, "addr", "", "with --serve: the address to listen on")
	fs.StringVar(&o.upstream, "upstream", "", "with --serve bare: the upstream's URL")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: keyward-bench [flags]

Measures keyward's data plane on 127.0.0.1. The load generator shares this
machine's CPUs with the servers it loads, all in this one process.

Examples:
  keyward-bench                                  # throughput and /v1/verify, 3 rounds of 10 s
  keyward-bench --duration 5s --rounds 1         # a quicker look
  keyward-bench --authz                          # forward-auth behind nginx: NK, NZ and N
  keyward-bench --throughput=false --verify=false --keys 1000000 --flood 100000
  keyward-bench --throughput=false --verify=false --webhooks      # webhook dispatch
  keyward-bench --external                       # separate processes driven by wrk

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	roundsSet := false
	fs.Visit(func(f *flag.Flag) { roundsSet = roundsSet || f.Name == "rounds" })
	if !roundsSet && (o.external || o.authz) {
		// A per-round median needs rounds enough for one slow round not
		// to decide it.
		o.rounds = 5
	}
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "keyward-bench: --webhook-rates %q: give whole numbers of events per second, e.g. 500,1000\n", *rates)
			return nil, errors.New("bad flags")
		}
		o.webhookRates = append(o.webhookRates, n)
	}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "keyward-bench: --external-connections %q: give whole numbers of connections, e.g. 16,64,256\n", *conns)
			return nil, errors.New("bad flags")
		}
		o.connList = append(o.connList, n)
	}
	o.nodeFlags = strings.Fields(*nodeFlags)
	if o.serve != "" && o.addr == "" {
		fmt.Fprintln(stderr, "keyward-bench: --serve needs --addr")
		return nil, errors.New("bad flags")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyward-bench: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return nil, errors.New("unexpected argument")
	}
	var bad []string
	if o.keysDB != "" && !store.IsPostgresURL(o.keysDB) {
		bad = append(bad, "--keys-database must be a postgres:// URL")
	}
	if o.loadDB != "" {
		if len(bad) > 0 {
			fmt.Fprintln(stderr, "keyward-bench: "+strings.Join(bad, "; "))
			return nil, errors.New("bad flags")
		}
		return o, nil
	}
	if o.duration <= 0 {
		bad = append(bad, "--duration must be positive")
	}
	if o.warmup < 0 {
		bad = append(bad, "--warmup must not be negative")
	}
	if o.connections < 1 {
		bad = append(bad, "--connections must be at least 1")
	}
	if o.rounds < 1 {
		bad = append(bad, "--rounds must be at least 1")
	}
	if o.requests < 0 || o.keys < 0 || o.flood < 0 {
		bad = append(bad, "--requests, --keys and --flood must not be negative")
	}
	if (o.heapProfile != "" || o.keysDir != "" || o.keysDB != "") && o.keys == 0 {
		bad = append(bad, "--heap-profile, --keys-dir and --keys-database need --keys")
	}
	if len(bad) > 0 {
		fmt.Fprintln(stderr, "keyward-bench: "+strings.Join(bad, "; "))
		return nil, errors.New("bad flags")
	}
	return o, nil
}

// setup is one thing the load is sent to.
type setup struct {
	label string
	t     target
	runs  []*result
}

// benchmark runs every scenario the options ask for and prints the tables.
func benchmark(ctx context.Context, o *options, out, progress io.Writer) error {
	if len(upstreamBody) != 208 {
		return fmt.Errorf("the upstream body is %d bytes, not 208", len(upstreamBody))
	}
	countStatements()
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(out, "keyward-bench: %d CPUs (GOMAXPROCS %d), %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(out, "Everything runs on 127.0.0.1 in this one process: the load generator shares the CPUs with the")
	fmt.Fprintln(out, "upstream, the proxies and the gateway, so figures are the whole system's, not a server's on cores of its own.")

	e, err := newEnv(ctx, dir+"/node")
	if err != nil {
		return err
	}
	defer e.Close()
	up, err := serve(http.HandlerFunc(upstream))
	if err != nil {
		return err
	}
	defer up.Close()
	upURL := &url.URL{Scheme: "http", Host: up.addr}

	opts := loadOpts{connections: o.connections, duration: o.duration, maxRequests: o.requests}
	warm := loadOpts{connections: o.connections, duration: o.warmup, maxRequests: o.requests}
	if o.throughput || o.verify {
		fmt.Fprintf(out, "Load: %d connections, %s warm-up then %s measured per run", o.connections, o.warmup, o.duration)
		if o.requests > 0 {
			fmt.Fprintf(out, " (at most %s requests)", thousands(o.requests))
		}
		fmt.Fprintf(out, ", %d alternating round(s); median [min–max] over rounds.\n", o.rounds)
	}

	if o.throughput {
		bare, err := serve(bareProxy(upURL))
		if err != nil {
			return err
		}
		defer bare.Close()
		gh, err := e.proxy(upURL)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		gw, err := serve(gh)
		if err != nil {
			return err
		}
		defer gw.Close()
		mh, err := e.observedProxy(upURL)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		gm, err := serve(mh)
		if err != nil {
			return err
		}
		defer gm.Close()
		const path = "/api/v5/orders?store=main"
		setups := []*setup{
			{label: "A upstream direct", t: target{addr: up.addr, request: getRequest(up.addr, path, "X-API-Key", e.secret), want: 200}},
			{label: "B' bare ReverseProxy (tuned, pooled buffers)", t: target{addr: bare.addr, request: getRequest(bare.addr, path, "X-API-Key", e.secret), want: 200}},
			{label: "G keyward gateway (valid key)", t: target{addr: gw.addr, request: getRequest(gw.addr, path, "X-API-Key", e.secret), want: 200}},
			{label: "GM keyward gateway with metrics on", t: target{addr: gm.addr, request: getRequest(gm.addr, path, "X-API-Key", e.secret), want: 200}},
		}
		fmt.Fprintf(out, "\n## Gateway: GET %s with X-API-Key (upstream answers 208 bytes)\n\n", path)
		if err := rounds(ctx, setups, o.rounds, warm, opts, progress); err != nil {
			return err
		}
		printTable(out, setups)
		printRatio(out, setups[1], setups[2], "G/B'")
		printRatio(out, setups[1], setups[3], "GM/B'")
	}

	if o.verify {
		bj, err := e.bareJSONHandler("orders.list", "main")
		if err != nil {
			return err
		}
		bs, err := serve(bj)
		if err != nil {
			return err
		}
		defer bs.Close()
		vs, err := serve(e.verifyHandler())
		if err != nil {
			return err
		}
		defer vs.Close()
		body := verifyBody(e.secret)
		setups := []*setup{
			{label: "J bare JSON handler (same decode and encode)", t: target{addr: bs.addr, request: postRequest(bs.addr, "/v1/verify", body), want: 200}},
			{label: "V POST /v1/verify (valid key)", t: target{addr: vs.addr, request: postRequest(vs.addr, "/v1/verify", body), want: 200}},
		}
		fmt.Fprintf(out, "\n## POST /v1/verify %s\n\n", body)
		if err := rounds(ctx, setups, o.rounds, warm, opts, progress); err != nil {
			return err
		}
		printTable(out, setups)
		printRatio(out, setups[0], setups[1], "V/J")
	}

	// A replica of its own, without the usage counting the node's replica
	// does on every allowed request, as the replica of many keys below.
	one := replica.New(e.db, catalog.Builtin())
	if err := one.Load(ctx); err != nil {
		return err
	}
	m, _ := one.Catalog().Method("orders.list")
	oneNs, oneAllocs, _ := verifySpeed(one, m, "main", []string{e.secret}, 400_000)
	fmt.Fprintf(out, "\nIn-process decision, replica of 1 key: %.0f ns and %.1f allocations per Verify.\n", oneNs, oneAllocs)

	if o.keys > 0 {
		keysDir := o.keysDir
		if keysDir == "" {
			keysDir = dir + "/keys"
		}
		// The baseline for turning through many keys: a replica of warmSet
		// keys, each verified in turn.
		more, err := e.addKeys(ctx, warmSet-1)
		if err != nil {
			return err
		}
		small := replica.New(e.db, catalog.Builtin())
		if err := small.Load(ctx); err != nil {
			return err
		}
		smallNs, smallAllocs, _ := verifySpeed(small, m, "main", append([]string{e.secret}, more...), 400_000)
		fmt.Fprintf(out, "In-process decision, replica of %s keys, each in turn: %.0f ns and %.1f allocations per Verify.\n",
			thousands(warmSet), smallNs, smallAllocs)
		if err := keysScenario(ctx, o, keysDir, oneNs, smallNs, out, progress); err != nil {
			return err
		}
	}
	if o.flood > 0 {
		if err := floodScenario(e, o, upURL, out, progress); err != nil {
			return err
		}
	}
	if o.webhooks {
		if err := webhooksScenario(ctx, o, dir+"/webhooks", out, progress); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// rounds runs every setup once per round, in order, each after a warm-up.
func rounds(ctx context.Context, setups []*setup, n int, warm, opts loadOpts, progress io.Writer) error {
	for r := 1; r <= n; r++ {
		for _, s := range setups {
			if err := ctx.Err(); err != nil {
				return err
			}
			if warm.duration > 0 {
				if _, err := run(s.t, warm); err != nil {
					return fmt.Errorf("%s warm-up: %w", s.label, err)
				}
			}
			res, err := run(s.t, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", s.label, err)
			}
			s.runs = append(s.runs, res)
			fmt.Fprintf(progress, "  round %d/%d %-46s %8s req/s  p50 %s  p99 %s  wrong status %d  errors %d\n", r, n, s.label,
				thousands(int64(res.RPS())), ms(res.hist.Quantile(0.50)), ms(res.hist.Quantile(0.99)), res.wrong, res.errors)
		}
	}
	return nil
}

func printTable(out io.Writer, setups []*setup) {
	fmt.Fprintln(out, "| setup | req/s | p50 | p99 | process CPU per request | wrong status / errors |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, s := range setups {
		rps := stat(s.runs, func(r *result) float64 { return r.RPS() })
		p50 := stat(s.runs, func(r *result) float64 { return r.hist.Quantile(0.50).Seconds() * 1e3 })
		p99 := stat(s.runs, func(r *result) float64 { return r.hist.Quantile(0.99).Seconds() * 1e3 })
		cpu := stat(s.runs, func(r *result) float64 { return r.cpu.Seconds() * 1e6 / float64(max(r.requests, 1)) })
		var wrong, errs int64
		for _, r := range s.runs {
			wrong += r.wrong
			errs += r.errors
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %d / %d |\n", s.label,
			rps.format(func(v float64) string { return thousands(int64(v)) }),
			p50.format(msText), p99.format(msText),
			cpu.format(func(v float64) string { return fmt.Sprintf("%.0f µs", v) }), wrong, errs)
	}
}

// printRatio compares setup b with the baseline a: the ratio of median
// throughputs, the per-round ratios, and the difference of median p99.
func printRatio(out io.Writer, a, b *setup, name string) {
	ra := stat(a.runs, func(r *result) float64 { return r.RPS() })
	rb := stat(b.runs, func(r *result) float64 { return r.RPS() })
	pa := stat(a.runs, func(r *result) float64 { return r.hist.Quantile(0.99).Seconds() * 1e3 })
	pb := stat(b.runs, func(r *result) float64 { return r.hist.Quantile(0.99).Seconds() * 1e3 })
	// Each round runs the two setups one after the other, so a round's
	// ratio compares them under the same background load; the ratio of
	// the medians may pair figures from different rounds.
	var per []string
	var ratios []float64
	for i := range min(len(a.runs), len(b.runs)) {
		ratios = append(ratios, b.runs[i].RPS()/a.runs[i].RPS())
		per = append(per, fmt.Sprintf("%.2f", ratios[i]))
	}
	fmt.Fprintf(out, "\n%s throughput ratio (medians): %.2f; per round: %s (median %.2f). p99 difference (medians): %+.2f ms.\n",
		name, rb.median/ra.median, strings.Join(per, ", "), median(ratios), pb.median-pa.median)
}

// summary is the median, minimum and maximum of values over rounds.
type summary struct{ median, lo, hi float64 }

func stat(runs []*result, f func(*result) float64) summary {
	vs := make([]float64, len(runs))
	for i, r := range runs {
		vs[i] = f(r)
	}
	return summary{median: median(vs), lo: slices.Min(vs), hi: slices.Max(vs)}
}

// median returns the median of vs, which it sorts.
func median(vs []float64) float64 {
	slices.Sort(vs)
	if n := len(vs); n%2 == 1 {
		return vs[n/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

func (s summary) format(f func(float64) string) string {
	if s.lo == s.hi {
		return f(s.median)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.median), f(s.lo), f(s.hi))
}

func msText(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func ms(d time.Duration) string { return msText(d.Seconds() * 1e3) }

// thousands formats n with commas: 42,087.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// keysScenario seeds o.keys keys, loads them in a fresh process and prints
// what it measured next to the targets.
func keysScenario(ctx context.Context, o *options, dir string, oneNs, warmSetNs float64, out, progress io.Writer) error {
	engine := "SQLite"
	if o.keysDB != "" {
		engine = "PostgreSQL"
	}
	seed := seeded(dir)
	if seed != nil && seed.Keys == o.keys && seed.Database == o.keysDB {
		fmt.Fprintf(progress, "reusing the %s keys seeded earlier (%s, recorded in %s)\n", thousands(int64(o.keys)), engine, dir)
	} else {
		if seed != nil || fileExists(dir) {
			return fmt.Errorf("%s exists and records no seeding of %s keys into this database; remove it or choose another --keys-dir", dir, thousands(int64(o.keys)))
		}
		fmt.Fprintf(progress, "seeding %s keys into %s (%s per transaction)…\n", thousands(int64(o.keys)), engine, thousands(keysPerTx))
		var err error
		seed, err = seedKeys(ctx, dir, o.keysDB, o.keys, progress)
		if err != nil {
			return fmt.Errorf("seed keys: %w", err)
		}
	}
	fmt.Fprintln(progress, "loading the replica in a fresh process…")
	st, err := runLoadChild(ctx, dir, o.keysDB, o.heapProfile)
	if err != nil {
		return err
	}
	perKey := (st.RSSAfterMB - st.RSSBeforeMB) * (1 << 20) / float64(seed.Keys)
	fmt.Fprintf(out, "\n## Replica of %s keys from %s (%s secrets, %s tenants, %s distinct policy inputs)\n\n", thousands(int64(seed.Keys)), engine,
		thousands(int64(seed.Secrets)), thousands(int64(seed.Tenants)), thousands(int64(policyInputs(seed.Keys))))
	fmt.Fprintf(out, "Seeding through store.InsertKey, %s keys per transaction: %s (%s keys/s).\n\n",
		thousands(keysPerTx), seed.Elapsed.Round(time.Second), thousands(int64(float64(seed.Keys)/seed.Elapsed.Seconds())))
	fmt.Fprintln(out, "| measure | value | target |")
	fmt.Fprintln(out, "|---|---|---|")
	fmt.Fprintf(out, "| replica.Load, fresh process | %.1f s (%s secrets held) | ≤ 5 s: %s |\n", st.LoadSeconds, thousands(int64(st.Secrets)), verdict(st.LoadSeconds <= 5))
	fmt.Fprintf(out, "| reading keys and secrets alone, one after the other, timed after | %.1f s | |\n", st.ScanSeconds)
	fmt.Fprintf(out, "| resident (VmRSS) after Load and GC | %.0f MB (%.0f MB before Load; %.0f bytes per key) | ≤ 300 MB: %s |\n",
		st.RSSAfterMB, st.RSSBeforeMB, perKey, verdict(st.RSSAfterMB <= 300))
	fmt.Fprintf(out, "| peak resident (VmHWM) during Load | %.0f MB | |\n", st.PeakRSSMB)
	fmt.Fprintf(out, "| Go heap in use (HeapInuse) after Load | %.0f MB (%.0f MB before Load): %.0f MB of objects, %.0f MB free space in their spans | |\n",
		st.HeapInuseMB, st.HeapBeforeMB, st.ObjectsMB, st.UnusedMB)
	fmt.Fprintf(out, "| Verify, one key repeated | %.0f ns, %.1f allocations (replica of 1 key: %.0f ns) | unchanged (within 20 %%), < 1 µs, 0 allocations: %s |\n",
		st.HotNs, st.HotAllocs, oneNs, verdict(st.HotNs <= 1.2*oneNs && st.HotNs < 1000 && st.HotAllocs == 0))
	// Turning through many keys measures the memory system as much as the
	// replica: these rows have no target (docs/performance.md).
	fmt.Fprintf(out, "| Verify, %s different keys in turn | %.0f ns, %.1f allocations; %.2f× a replica of only those %s keys (%.0f ns) | no target |\n",
		thousands(warmSet), st.WarmSetNs, st.WarmSetAllocs, st.WarmSetNs/warmSetNs, thousands(warmSet), warmSetNs)
	fmt.Fprintf(out, "| Verify, %s different keys in turn | %.0f ns, %.1f allocations (%s of the keys allowed orders.list on main); %.1f× the 1-key figure | no target |\n",
		thousands(int64(st.SpreadKeys)), st.SpreadNs, st.SpreadAllocs, thousands(int64(st.SpreadAllowed)), st.SpreadNs/oneNs)
	if o.heapProfile != "" {
		fmt.Fprintf(out, "\nHeap profile of the loaded replica: %s (go tool pprof -sample_index=inuse_space %s)\n", o.heapProfile, o.heapProfile)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// floodScenario floods /v1/verify and the gateway with random keys while
// counting SQL statements and replica lookups.
func floodScenario(e *env, o *options, upURL *url.URL, out, progress io.Writer) error {
	keys, wellFormed := floodKeys(o.flood)
	gh, err := e.proxy(upURL)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	gw, err := serve(gh)
	if err != nil {
		return err
	}
	defer gw.Close()
	vs, err := serve(e.verifyHandler())
	if err != nil {
		return err
	}
	defer vs.Close()
	// The follower polls the change log once a second and the usage writer
	// flushes every ten, whatever the traffic; both are stopped so that any
	// statement counted comes from the flood.
	if err := e.stopBackground(); err != nil {
		return err
	}
	defer e.startBackground()
	fmt.Fprintf(progress, "flooding with %s random keys…\n", thousands(int64(len(keys))))
	const path = "/api/v5/orders?store=main"
	fv, err := flood(vs.addr, keys, o.connections, func(k string) []byte { return postRequest(vs.addr, "/v1/verify", verifyBody(k)) }, e.rep.Lookups)
	if err != nil {
		return err
	}
	fg, err := flood(gw.addr, keys, o.connections, func(k string) []byte { return getRequest(gw.addr, path, "X-API-Key", k) }, e.rep.Lookups)
	if err != nil {
		return err
	}
	// Proof that the counter counts: one read through the store.
	s0 := statements.Load()
	if _, err := e.db.Read().LastChange(context.Background()); err != nil {
		return err
	}
	control := statements.Load() - s0

	fmt.Fprintf(out, "\n## Random-key flood: %s keys (%s well formed and unknown, %s malformed), %d connections\n\n",
		thousands(int64(len(keys))), thousands(int64(wellFormed)), thousands(int64(len(keys)-wellFormed)), o.connections)
	fmt.Fprintln(out, "| endpoint | answers | req/s | SQL statements | replica lookups (well-formed keys) | target: 0 queries |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, r := range []struct {
		name string
		f    *floodResult
	}{{"POST /v1/verify", fv}, {"gateway GET " + path, fg}} {
		fmt.Fprintf(out, "| %s | %s | %s | %d | %s (%s) | %s |\n", r.name, r.f.statusText(),
			thousands(int64(float64(r.f.requests)/r.f.elapsed.Seconds())), r.f.statements,
			thousands(r.f.lookups), thousands(int64(wellFormed)), verdict(r.f.statements == 0))
	}
	fmt.Fprintf(out, "\nStatements are counted by a SQLite authorizer on every connection of this process, which SQLite\n"+
		"consults for each statement it compiles; one store read after the flood counted %d.\n", control)
	return nil
}
