package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/secret"
)

// The --external measurement: the upstream, the bare proxy B' and a
// keyward node each run in a process of their own, and wrk, in another,
// drives them in alternating rounds, as a user measuring keyward would.

// extPath is the request every setup of --external answers.
const extPath = "/api/v5/orders?store=main"

// serveRole runs this binary as one of the --external and --authz servers
// until ctx ends: the upstream answering upstreamBody, the bare proxy B' in
// front of upstreamURL, or the null responder, answering every request 200
// with no body: the cheapest possible forward-auth answer.
func serveRole(ctx context.Context, role, addr, upstreamURL string) error {
	var h http.Handler
	switch role {
	case "upstream":
		h = http.HandlerFunc(upstream)
	case "null":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	case "bare":
		u, err := url.Parse(upstreamURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("--serve bare needs --upstream http://host:port, not %q", upstreamURL)
		}
		h = bareProxy(u)
	default:
		return fmt.Errorf("--serve %q: use upstream, bare or null", role)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// child is a server process started by --external.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  string // file holding its output
	done chan struct{}
}

// startChild starts bin with args, its output going to logPath. The
// child is sent SIGTERM if this process dies first.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the child to end, and kills it after 15 s.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// cpu returns the user and system time the child has used so far, from
// /proc/<pid>/stat.
func (c *child) cpu() (time.Duration, error) {
	return procCPU(c.cmd.Process.Pid)
}

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, which is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields
	// counted from the state after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is the state (field 3); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// waitFor polls until ok returns true, the child dies or timeout passes.
func waitFor(ctx context.Context, c *child, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if c.exited() {
			return fmt.Errorf("%s ended before %s; its output is in %s", c.name, what, c.log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s within %s; its output is in %s", c.name, what, timeout, c.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// statusOf sends GET extPath to addr with the key and returns the status.
func statusOf(addr, key string) int {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+extPath, nil)
	req.Header.Set("X-API-Key", key)
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// extSetup is one thing --external loads, with the processes whose CPU it
// reports.
type extSetup struct {
	label string
	short string
	addr  string
	key   string
	// want401 is set for the unknown key, whose every answer is a 401.
	want401 bool
	server  *child
	runs    []*extRun
}

// extRun is one wrk run of a setup and the CPU its processes used.
type extRun struct {
	wrk                   *wrkResult
	serverCPU, upCPU      time.Duration
	logLines              int
	logText               []string // the first of those lines
	loadBefore, loadAfter string
}

func (r *extRun) cpuPerRequest(d time.Duration) float64 {
	return d.Seconds() * 1e6 / float64(max(r.wrk.requests, 1))
}

// external runs the --external measurement and prints its tables to out.
func external(ctx context.Context, o *options, out, progress io.Writer) error {
	wrkBin, err := exec.LookPath(o.wrkBin)
	if err != nil {
		return fmt.Errorf("--external needs wrk (Debian package wrk: apt-get install wrk), or --wrk PATH: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyward-bench-external-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kw, err := keywardBinary(ctx, o, dir, progress)
	if err != nil {
		return err
	}
	upAddr, bareAddr := freeAddr(), freeAddr()
	env := cleanEnv()
	up, err := startChild("upstream", self, []string{"--serve", "upstream", "--addr", upAddr}, env, filepath.Join(dir, "upstream.log"))
	if err != nil {
		return err
	}
	defer up.stop()
	bare, err := startChild("bare proxy", self, []string{"--serve", "bare", "--addr", bareAddr, "--upstream", "http://" + upAddr},
		env, filepath.Join(dir, "bare.log"))
	if err != nil {
		return err
	}
	defer bare.stop()
	for _, c := range []*child{up, bare} {
		a := map[*child]string{up: upAddr, bare: bareAddr}[c]
		if err := waitFor(ctx, c, 60*time.Second, "listener", func() bool { return listening(a) }); err != nil {
			return err
		}
	}
	n, err := startNode(ctx, o, dir, kw, upAddr, env, o.gatewayProfile, nil)
	if err != nil {
		return err
	}
	node, key, gwAddr, data, env2 := n.child, n.key, n.gwAddr, n.data, n.env
	stopNode := sync.OnceFunc(node.stop)
	defer stopNode()
	var metricsNode *child
	gmAddr := ""
	if o.gatewayMetrics {
		// A second node on the same database, with metrics on; the demo
		// tenant and the key are there already.
		gmAddr = freeAddr()
		metricsNode, err = startChild("keyward node with metrics", kw, append([]string{"serve", "--data", data, "--demo",
			"--addr", freeAddr(), "--gateway-addr", gmAddr, "--upstream", "http://" + upAddr, "--metrics-addr", freeAddr()}, o.nodeFlags...),
			env2, filepath.Join(dir, "node-metrics.log"))
		if err != nil {
			return err
		}
		defer metricsNode.stop()
		if err := waitFor(ctx, metricsNode, 60*time.Second, "200 for the bench key", func() bool { return statusOf(gmAddr, key) == 200 }); err != nil {
			return err
		}
	}
	unknown := secret.Generate(secret.KindAPIKey)
	if s := statusOf(gwAddr, unknown); s != http.StatusUnauthorized {
		return fmt.Errorf("the gateway answered %d to an unknown key, not 401", s)
	}

	fmt.Fprintf(out, "keyward-bench --external: %d CPUs shared by every process; keyward %s\n", runtime.NumCPU(), kw)
	fmt.Fprintln(out, "Upstream, bare proxy and keyward node in processes of their own; wrk in its own, on 127.0.0.1.")
	if len(o.nodeFlags) > 0 {
		fmt.Fprintf(out, "keyward serve also given: %s\n", strings.Join(o.nodeFlags, " "))
	}
	fmt.Fprintf(out, "wrk -t%d, %s warm-up then %s measured per run, %d alternating round(s) per connection count; tenant without rate limit.\n",
		o.wrkThreads, o.warmup, o.duration, o.rounds)
	loadStart := loadAverage()
	fmt.Fprintf(out, "Load average before: %s\n", loadStart)

	type level struct {
		conns  int
		setups []*extSetup
	}
	var levels []level
	for _, n := range o.connList {
		setups := []*extSetup{
			{label: "A upstream direct", short: "A", addr: upAddr, key: key, server: up},
			{label: "B' bare ReverseProxy (tuned, pooled buffers)", short: "B'", addr: bareAddr, key: key, server: bare},
			{label: "G keyward gateway (valid key)", short: "G", addr: gwAddr, key: key, server: node},
		}
		if metricsNode != nil {
			setups = append(setups, &extSetup{label: "GM keyward gateway with metrics on", short: "GM", addr: gmAddr, key: key, server: metricsNode})
		}
		if o.unknownKey {
			setups = append(setups, &extSetup{label: "U keyward gateway (unknown key, 401)", short: "U", addr: gwAddr, key: unknown, want401: true, server: node})
		}
		for r := 1; r <= o.rounds; r++ {
			for _, s := range setups {
				run, err := extRunOnce(ctx, o, wrkBin, s, up, n)
				if err != nil {
					return err
				}
				s.runs = append(s.runs, run)
				fmt.Fprintf(progress, "  %3d conns round %d/%d %-46s %8s req/s  p99 %s  server %.0f µs/req  upstream %.0f µs/req  load %s\n",
					n, r, o.rounds, s.label, thousands(int64(run.wrk.rps)), ms(run.wrk.p99),
					run.cpuPerRequest(run.serverCPU), run.cpuPerRequest(run.upCPU), run.loadAfter)
			}
		}
		levels = append(levels, level{n, setups})
	}
	loadEnd := loadAverage()
	stopNode()

	for _, l := range levels {
		fmt.Fprintf(out, "\n## %d connections: GET %s with X-API-Key (upstream answers 208 bytes)\n\n", l.conns, extPath)
		printExtTable(out, l.setups)
		b, g := l.setups[1], l.setups[2]
		printExtRatio(out, b, g, "G")
		if gm := findSetup(l.setups, "GM"); gm != nil {
			printExtRatio(out, b, gm, "GM")
		}
		if u := findSetup(l.setups, "U"); u != nil {
			var per []string
			var ratios []float64
			lines := 0
			var text []string
			for i := range u.runs {
				ratios = append(ratios, u.runs[i].wrk.rps/g.runs[i].wrk.rps)
				per = append(per, fmt.Sprintf("%.2f", ratios[i]))
				lines += u.runs[i].logLines
				text = append(text, u.runs[i].logText...)
			}
			fmt.Fprintf(out, "U/G (unknown key against valid key) per round: %s (median %.2f); node log lines written during the U runs: %d.\n",
				strings.Join(per, ", "), median(ratios), lines)
			for _, l := range text[:min(len(text), 3)] {
				fmt.Fprintf(out, "    %s\n", l)
			}
		}
	}
	fmt.Fprintln(out, "\n## Summary: medians of the per-round figures, G/B' with its spread [min–max]")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| connections | G/B' | p99 G − B' | GM/B' | U/G |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, l := range levels {
		b, g := l.setups[1], l.setups[2]
		var ratios, diffs []float64
		for i := range min(len(b.runs), len(g.runs)) {
			ratios = append(ratios, g.runs[i].wrk.rps/b.runs[i].wrk.rps)
			diffs = append(diffs, (g.runs[i].wrk.p99-b.runs[i].wrk.p99).Seconds()*1e3)
		}
		// medianRatio is the median over rounds of x's rate over y's.
		medianRatio := func(x, y *extSetup) string {
			if x == nil {
				return "–"
			}
			var rs []float64
			for i := range min(len(x.runs), len(y.runs)) {
				rs = append(rs, x.runs[i].wrk.rps/y.runs[i].wrk.rps)
			}
			return fmt.Sprintf("%.2f", median(rs))
		}
		spread := summaryOf(ratios)
		fmt.Fprintf(out, "| %d | %.2f [%.2f–%.2f] | %+.2f ms | %s | %s |\n", l.conns, spread.median, spread.lo, spread.hi, median(diffs),
			medianRatio(findSetup(l.setups, "GM"), b), medianRatio(findSetup(l.setups, "U"), g))
	}
	fmt.Fprintf(out, "\nLoad average before: %s; after: %s\n", loadStart, loadEnd)
	if o.gatewayProfile != "" {
		fmt.Fprintf(out, "CPU profile of the keyward node (the whole run): %s (go tool pprof -top %s)\n", o.gatewayProfile, o.gatewayProfile)
	}
	return nil
}

// keywardBinary returns --keyward-bin, or builds keyward from this
// repository into dir.
func keywardBinary(ctx context.Context, o *options, dir string, progress io.Writer) (string, error) {
	if o.keywardBin != "" {
		return o.keywardBin, nil
	}
	kw := filepath.Join(dir, "keyward")
	fmt.Fprintln(progress, "building keyward (go build ./cmd/keyward)…")
	b := exec.CommandContext(ctx, "go", "build", "-o", kw, "github.com/keyward/keyward/cmd/keyward")
	b.Stdout, b.Stderr = progress, progress
	if err := b.Run(); err != nil {
		return "", fmt.Errorf("build keyward (run from the repository, or give --keyward-bin): %w", err)
	}
	return kw, nil
}

// benchNode is a keyward node started for a measurement, with the key it
// answers for.
type benchNode struct {
	child  *child
	key    string
	gwAddr string
	data   string
	// env is the node's environment without the CPU profile.
	env []string
}

// startNode starts keyward serve --demo in front of upAddr with extra
// flags, lifts the demo licence's rate limit, creates a key that may read
// orders on store main, and waits until the gateway answers 200 for it.
// A non-empty profile is where the node writes its CPU profile.
func startNode(ctx context.Context, o *options, dir, kw, upAddr string, env []string, profile string, extra []string) (*benchNode, error) {
	idKey := make([]byte, 32)
	rand.Read(idKey)
	nodeEnv := append(slices.Clone(env), "KEYWARD_IDENTITY_KEY="+hex.EncodeToString(idKey))
	n := &benchNode{gwAddr: freeAddr(), data: filepath.Join(dir, "node"), env: slices.Clone(nodeEnv)}
	if profile != "" {
		p, err := filepath.Abs(profile)
		if err != nil {
			return nil, err
		}
		nodeEnv = append(nodeEnv, "KEYWARD_CPU_PROFILE="+p)
	}
	apiAddr := freeAddr()
	args := append([]string{"serve", "--data", n.data, "--demo", "--addr", apiAddr,
		"--gateway-addr", n.gwAddr, "--upstream", "http://" + upAddr}, extra...)
	node, err := startChild("keyward node", kw, append(args, o.nodeFlags...), nodeEnv, filepath.Join(dir, "node.log"))
	if err != nil {
		return nil, err
	}
	n.child = node
	fail := func(err error) (*benchNode, error) {
		node.stop()
		return nil, err
	}
	for _, a := range []string{n.gwAddr, apiAddr} {
		if err := waitFor(ctx, node, 60*time.Second, "listener "+a, func() bool { return listening(a) }); err != nil {
			return fail(err)
		}
	}
	// The demo licence allows 1,000 requests/s; the bare proxy has no
	// limit, so neither has the tenant here.
	cli := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, kw, append(args, "--data", n.data)...)
		c.Env = nodeEnv
		b, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("keyward %s: %w: %s", strings.Join(args[:2], " "), err, b)
		}
		return string(b), nil
	}
	if _, err := cli("licence", "grant", "--tenant", "demo", "--rate-limit", "0"); err != nil {
		return fail(err)
	}
	created, err := cli("keys", "create", "--tenant", "demo", "--name", "bench", "--permissions", "orders=read", "--stores", "main")
	if err != nil {
		return fail(err)
	}
	n.key = regexp.MustCompile(`kwk_[0-9A-Za-z]+`).FindString(created)
	if n.key == "" {
		return fail(fmt.Errorf("keys create printed no secret: %s", created))
	}
	// The node learns of the key from the change log, after the licence.
	if err := waitFor(ctx, node, 30*time.Second, "200 for the bench key", func() bool { return statusOf(n.gwAddr, n.key) == 200 }); err != nil {
		return fail(err)
	}
	return n, nil
}

// extRunOnce warms s up, then measures one wrk run of it with the CPU
// its server and the upstream used.
func extRunOnce(ctx context.Context, o *options, wrkBin string, s *extSetup, up *child, conns int) (*extRun, error) {
	headers := []string{"X-API-Key: " + s.key}
	target := "http://" + s.addr + extPath
	if o.warmup > 0 {
		w, err := wrkRun(ctx, wrkBin, target, o.wrkThreads, conns, o.warmup, headers)
		if err != nil {
			return nil, err
		}
		if wrong := wrongAnswers(s, w); wrong > 0 || w.errors > 0 {
			fmt.Fprintf(os.Stderr, "keyward-bench: %s at %d connections, warm-up: %d answers with the wrong status, %d socket errors\n",
				s.label, conns, wrong, w.errors)
		}
	}
	run := &extRun{loadBefore: loadAverage()}
	s0, err := s.server.cpu()
	if err != nil {
		return nil, err
	}
	u0, err := up.cpu()
	if err != nil {
		return nil, err
	}
	l0 := fileSize(s.server.log)
	if run.wrk, err = wrkRun(ctx, wrkBin, target, o.wrkThreads, conns, o.duration, headers); err != nil {
		return nil, err
	}
	s1, err := s.server.cpu()
	if err != nil {
		return nil, err
	}
	u1, err := up.cpu()
	if err != nil {
		return nil, err
	}
	run.serverCPU, run.upCPU = s1-s0, u1-u0
	if s.server == up {
		run.upCPU = 0
	}
	run.logLines, run.logText = linesSince(s.server.log, l0, 3)
	run.loadAfter = loadAverage()
	if wrong := wrongAnswers(s, run.wrk); wrong > 0 || run.wrk.errors > 0 {
		fmt.Fprintf(os.Stderr, "keyward-bench: %s at %d connections: %d answers with the wrong status, %d socket errors\n",
			s.label, conns, wrong, run.wrk.errors)
	}
	return run, nil
}

// wrongAnswers counts the answers of a run with another status than the
// setup's.
func wrongAnswers(s *extSetup, r *wrkResult) int64 {
	if s.want401 {
		// Every answer should be a 401; wrk counts them as non-2xx.
		return r.requests - r.non2xx
	}
	return r.non2xx
}

func printExtTable(out io.Writer, setups []*extSetup) {
	fmt.Fprintln(out, "| setup | req/s | p50 | p99 | server CPU per request | upstream CPU per request |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, s := range setups {
		f := func(g func(r *extRun) float64) summary {
			vs := make([]float64, len(s.runs))
			for i, r := range s.runs {
				vs[i] = g(r)
			}
			return summaryOf(vs)
		}
		rps := f(func(r *extRun) float64 { return r.wrk.rps })
		p50 := f(func(r *extRun) float64 { return r.wrk.p50.Seconds() * 1e3 })
		p99 := f(func(r *extRun) float64 { return r.wrk.p99.Seconds() * 1e3 })
		cpu := f(func(r *extRun) float64 { return r.cpuPerRequest(r.serverCPU) })
		upc := f(func(r *extRun) float64 { return r.cpuPerRequest(r.upCPU) })
		us := func(v float64) string { return fmt.Sprintf("%.0f µs", v) }
		upText := upc.format(us)
		if s.short == "A" {
			upText = "(is the server)"
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", s.label,
			rps.format(func(v float64) string { return thousands(int64(v)) }), p50.format(msText), p99.format(msText),
			cpu.format(us), upText)
	}
}

// findSetup returns the setup of the short name, nil when there is none.
func findSetup(setups []*extSetup, short string) *extSetup {
	for _, s := range setups {
		if s.short == short {
			return s
		}
	}
	return nil
}

// printExtRatio prints g/B' per round, their median and the p99
// differences; name is g's short name.
func printExtRatio(out io.Writer, b, g *extSetup, name string) {
	var per, dp []string
	var ratios, diffs []float64
	for i := range min(len(b.runs), len(g.runs)) {
		ratios = append(ratios, g.runs[i].wrk.rps/b.runs[i].wrk.rps)
		diffs = append(diffs, (g.runs[i].wrk.p99-b.runs[i].wrk.p99).Seconds()*1e3)
		per = append(per, fmt.Sprintf("%.2f", ratios[i]))
		dp = append(dp, fmt.Sprintf("%+.2f", diffs[i]))
	}
	var cb, cg []float64
	for i := range b.runs {
		cb = append(cb, b.runs[i].cpuPerRequest(b.runs[i].serverCPU))
		cg = append(cg, g.runs[i].cpuPerRequest(g.runs[i].serverCPU))
	}
	fmt.Fprintf(out, "\n%[1]s/B' per round: %[2]s (median **%.2[3]f**; target ≥ 0.95). p99 %[1]s − B' per round: %[4]s ms (median %+.2[5]f ms; target ≤ +1 ms). "+
		"Server CPU per request %[1]s − B': %+.0[6]f µs (medians).\n",
		name, strings.Join(per, ", "), median(ratios), strings.Join(dp, ", "), median(diffs), median(cg)-median(cb))
}

func summaryOf(vs []float64) summary {
	lo, hi := vs[0], vs[0]
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	return summary{median: median(append([]float64(nil), vs...)), lo: lo, hi: hi}
}

// fileSize returns the size of a file, 0 when it cannot be read.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// linesSince counts the lines written to a file after offset and returns
// the first few of them.
func linesSince(path string, offset int64, keep int) (int, []string) {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return 0, nil
	}
	b = b[offset:]
	var first []string
	for line := range bytes.Lines(b) {
		if len(first) < keep {
			first = append(first, string(bytes.TrimSpace(line)))
		}
	}
	return bytes.Count(b, []byte{'\n'}), first
}

// cleanEnv is this process's environment without KEYWARD_ settings, so
// that the node runs with its defaults whatever the caller's shell holds.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}
