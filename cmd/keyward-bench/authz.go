package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/metrics"
)

// integrationsDoc holds the nginx configuration --authz runs: the one the
// docs give and the tests run.
const integrationsDoc = "docs/integrations.md"

// authzScenario measures forward-auth behind nginx, every server in a
// process of its own and wrk in another: nginx asking keyward for each
// request (NK), the same configuration asking the null responder, which
// answers 200 at once (NZ), and nginx proxying straight to the upstream
// (N), in alternating rounds at each connection count. NZ is the floor:
// what an auth subrequest costs nginx when the answer costs nothing, so
// NK/NZ is what keyward's answer costs.
func authzScenario(ctx context.Context, o *options, out, progress io.Writer) error {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		return errors.New("--authz needs nginx (apt-get install nginx)")
	}
	wrkBin, err := exec.LookPath(o.wrkBin)
	if err != nil {
		return fmt.Errorf("--authz needs wrk (apt-get install wrk), or --wrk PATH: %w", err)
	}
	doc, err := os.ReadFile(integrationsDoc)
	if err != nil {
		return fmt.Errorf("--authz reads the nginx configuration from %s; run keyward-bench from the repository root: %w", integrationsDoc, err)
	}
	m := regexp.MustCompile("(?s)<!-- config: nginx -->\n```nginx\n(.*?)\n```").FindSubmatch(doc)
	if m == nil {
		return fmt.Errorf("%s has no nginx configuration", integrationsDoc)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyward-bench-authz-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Workers run as nobody when started as root and write their
	// temporary files here.
	os.Chmod(dir, 0o777)
	kw, err := keywardBinary(ctx, o, dir, progress)
	if err != nil {
		return err
	}
	env := cleanEnv()
	upAddr, nullAddr := freeAddr(), freeAddr()
	up, err := startChild("upstream", self, []string{"--serve", "upstream", "--addr", upAddr}, env, filepath.Join(dir, "upstream.log"))
	if err != nil {
		return err
	}
	defer up.stop()
	null, err := startChild("null responder", self, []string{"--serve", "null", "--addr", nullAddr}, env, filepath.Join(dir, "null.log"))
	if err != nil {
		return err
	}
	defer null.stop()
	for c, a := range map[*child]string{up: upAddr, null: nullAddr} {
		if err := waitFor(ctx, c, 60*time.Second, "listener", func() bool { return listening(a) }); err != nil {
			return err
		}
	}
	authzAddr := freeAddr()
	n, err := startNode(ctx, o, dir, kw, upAddr, env, o.gatewayProfile, []string{"--authz-addr", authzAddr})
	if err != nil {
		return err
	}
	defer n.child.stop()
	if err := waitFor(ctx, n.child, 30*time.Second, "forward-auth listener", func() bool { return listening(authzAddr) }); err != nil {
		return err
	}

	direct, withKeyward, withNull := freeAddr(), freeAddr(), freeAddr()
	site := func(listen, auth, suffix string) string {
		return strings.NewReplacer("127.0.0.1:8000", listen, "127.0.0.1:8082", auth, "127.0.0.1:9090", upAddr,
			"keyward_authz", "keyward_authz"+suffix, "platform_api", "platform_api"+suffix).Replace(string(m[1]))
	}
	conf := fmt.Sprintf(`worker_processes %[1]d;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    # The load keeps its connections for the whole run.
    keepalive_requests 1000000;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream direct_api { server %[3]s; keepalive 64; }
    server {
        listen %[4]s;
        location / {
            proxy_set_header Host $host;
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            proxy_pass http://direct_api;
        }
    }
%[5]s
%[6]s
}
`, o.nginxWorkers, dir, upAddr, direct, site(withKeyward, authzAddr, ""), site(withNull, nullAddr, "_null"))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	// One nginx for every setup, so they share its costs alike.
	ngx, err := startChild("nginx", nginx, []string{"-p", dir, "-c", confPath, "-g", "daemon off;"}, env, filepath.Join(dir, "nginx.log"))
	if err != nil {
		return err
	}
	defer ngx.stop()
	for _, a := range []string{direct, withKeyward, withNull} {
		if err := waitFor(ctx, ngx, 30*time.Second, "listener "+a, func() bool { return listening(a) }); err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return fmt.Errorf("%w\n%s", err, b)
		}
	}
	for _, a := range []string{direct, withKeyward, withNull} {
		if s := statusOf(a, n.key); s != http.StatusOK {
			return fmt.Errorf("nginx on %s answered %d for the bench key, not 200", a, s)
		}
	}

	fmt.Fprintf(out, "keyward-bench --authz: %d CPUs shared by every process; keyward %s; nginx with %d worker(s)\n", runtime.NumCPU(), kw, o.nginxWorkers)
	fmt.Fprintln(out, "Upstream, null responder, keyward node and nginx in processes of their own; wrk in its own, on 127.0.0.1.")
	fmt.Fprintf(out, "wrk -t%d, %s warm-up then %s measured per run, %d alternating round(s) per connection count; tenant without rate limit.\n",
		o.wrkThreads, o.warmup, o.duration, o.rounds)
	loadStart := loadAverage()
	fmt.Fprintf(out, "Load average before: %s\n", loadStart)
	type level struct {
		conns  int
		setups []*authzSetup
	}
	var levels []level
	for _, c := range o.connList {
		setups := []*authzSetup{
			{short: "N", label: "N nginx proxying to the upstream", addr: direct},
			{short: "NZ", label: "NZ nginx asking the null responder", addr: withNull, auth: null},
			{short: "NK", label: "NK nginx asking keyward's forward-auth", addr: withKeyward, auth: n.child},
		}
		for r := 1; r <= o.rounds; r++ {
			for _, s := range setups {
				run, err := authzRunOnce(ctx, o, wrkBin, s, n.key, ngx, up, c)
				if err != nil {
					return err
				}
				s.runs = append(s.runs, run)
				fmt.Fprintf(progress, "  %3d conns round %d/%d %-40s %8s req/s  p99 %s  auth %.1f µs/req  nginx %.1f µs/req  load %s\n",
					c, r, o.rounds, s.label, thousands(int64(run.wrk.rps)), ms(run.wrk.p99),
					run.perRequest(run.authCPU), run.perRequest(run.nginxCPU), run.loadAfter)
			}
		}
		levels = append(levels, level{c, setups})
	}
	loadEnd := loadAverage()
	for _, l := range levels {
		fmt.Fprintf(out, "\n## %d connections: GET %s with X-API-Key through nginx\n\n", l.conns, extPath)
		printAuthzTable(out, l.setups)
		printAuthzRounds(out, l.setups)
	}
	fmt.Fprintln(out, "\n## Summary: medians [min–max] of the per-round figures")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| connections | NK/NZ (target ≥ 0.9) | NZ/N | NK/N | keyward CPU per decision | null responder CPU per answer |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, l := range levels {
		nn, nz, nk := l.setups[0], l.setups[1], l.setups[2]
		us := func(v float64) string { return fmt.Sprintf("%.1f µs", v) }
		fmt.Fprintf(out, "| %d | %s | %s | %s | %s | %s |\n", l.conns, ratioSummary(nk, nz), ratioSummary(nz, nn), ratioSummary(nk, nn),
			nk.cpuSummary().format(us), nz.cpuSummary().format(us))
	}
	fmt.Fprintf(out, "\nLoad average before: %s; after: %s\n", loadStart, loadEnd)
	if o.gatewayProfile != "" {
		fmt.Fprintf(out, "CPU profile of the keyward node (the whole run): %s (go tool pprof -top %s)\n", o.gatewayProfile, o.gatewayProfile)
	}
	return nil
}

// authzSetup is one thing --authz loads: nginx on addr, asking auth (nil
// for none) for each request.
type authzSetup struct {
	short, label, addr string
	auth               *child
	runs               []*authzRun
}

// authzRun is one wrk run of a setup and the CPU each process used.
type authzRun struct {
	wrk                      *wrkResult
	authCPU, nginxCPU, upCPU time.Duration
	loadBefore, loadAfter    string
}

func (r *authzRun) perRequest(d time.Duration) float64 {
	return d.Seconds() * 1e6 / float64(max(r.wrk.requests, 1))
}

// cpuSummary is the auth responder's CPU per request over the rounds.
func (s *authzSetup) cpuSummary() summary {
	vs := make([]float64, len(s.runs))
	for i, r := range s.runs {
		vs[i] = r.perRequest(r.authCPU)
	}
	return summaryOf(vs)
}

// ratioSummary is x's rate over y's per round: median [min–max].
func ratioSummary(x, y *authzSetup) string {
	var rs []float64
	for i := range min(len(x.runs), len(y.runs)) {
		rs = append(rs, x.runs[i].wrk.rps/y.runs[i].wrk.rps)
	}
	if len(rs) == 0 {
		return "–"
	}
	s := summaryOf(rs)
	return fmt.Sprintf("**%.2f** [%.2f–%.2f]", s.median, s.lo, s.hi)
}

// authzRunOnce warms s up, then measures one wrk run of it with the CPU
// its auth responder, nginx (master and workers) and the upstream used.
func authzRunOnce(ctx context.Context, o *options, wrkBin string, s *authzSetup, key string, ngx, up *child, conns int) (*authzRun, error) {
	headers := []string{"X-API-Key: " + key}
	target := "http://" + s.addr + extPath
	if o.warmup > 0 {
		if _, err := wrkRun(ctx, wrkBin, target, o.wrkThreads, conns, o.warmup, headers); err != nil {
			return nil, err
		}
	}
	run := &authzRun{loadBefore: loadAverage()}
	cpu := func() (a, n, u time.Duration, err error) {
		if s.auth != nil {
			if a, err = s.auth.cpu(); err != nil {
				return
			}
		}
		if n, err = treeCPU(ngx.cmd.Process.Pid); err != nil {
			return
		}
		u, err = up.cpu()
		return
	}
	a0, n0, u0, err := cpu()
	if err != nil {
		return nil, err
	}
	if run.wrk, err = wrkRun(ctx, wrkBin, target, o.wrkThreads, conns, o.duration, headers); err != nil {
		return nil, err
	}
	a1, n1, u1, err := cpu()
	if err != nil {
		return nil, err
	}
	run.authCPU, run.nginxCPU, run.upCPU = a1-a0, n1-n0, u1-u0
	run.loadAfter = loadAverage()
	if run.wrk.non2xx > 0 || run.wrk.errors > 0 {
		fmt.Fprintf(os.Stderr, "keyward-bench: %s at %d connections: %d answers other than 2xx, %d socket errors\n",
			s.label, conns, run.wrk.non2xx, run.wrk.errors)
	}
	return run, nil
}

// treeCPU is the user and system time of a process and its children
// (nginx's workers), from /proc.
func treeCPU(pid int) (time.Duration, error) {
	total, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			if d, err := procCPU(c); err == nil {
				total += d
			}
		}
	}
	return total, nil
}

func printAuthzTable(out io.Writer, setups []*authzSetup) {
	fmt.Fprintln(out, "| setup | req/s | p50 | p99 | auth responder CPU per request | nginx CPU per request | upstream CPU per request |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, s := range setups {
		f := func(g func(r *authzRun) float64) summary {
			vs := make([]float64, len(s.runs))
			for i, r := range s.runs {
				vs[i] = g(r)
			}
			return summaryOf(vs)
		}
		us := func(v float64) string { return fmt.Sprintf("%.1f µs", v) }
		auth := "(none)"
		if s.auth != nil {
			auth = s.cpuSummary().format(us)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s |\n", s.label,
			f(func(r *authzRun) float64 { return r.wrk.rps }).format(func(v float64) string { return thousands(int64(v)) }),
			f(func(r *authzRun) float64 { return r.wrk.p50.Seconds() * 1e3 }).format(msText),
			f(func(r *authzRun) float64 { return r.wrk.p99.Seconds() * 1e3 }).format(msText),
			auth,
			f(func(r *authzRun) float64 { return r.perRequest(r.nginxCPU) }).format(us),
			f(func(r *authzRun) float64 { return r.perRequest(r.upCPU) }).format(us))
	}
}

// printAuthzRounds prints each round's ratios, CPU per decision and load
// average, then the medians and spread.
func printAuthzRounds(out io.Writer, setups []*authzSetup) {
	nn, nz, nk := setups[0], setups[1], setups[2]
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| round | N req/s | NZ req/s | NK req/s | NK/NZ | NZ/N | NK/N | keyward µs per decision | null µs per answer | load average before → after |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for i := range min(len(nn.runs), len(nz.runs), len(nk.runs)) {
		a, z, k := nn.runs[i], nz.runs[i], nk.runs[i]
		fmt.Fprintf(out, "| %d | %s | %s | %s | %.2f | %.2f | %.2f | %.1f | %.1f | %s → %s |\n", i+1,
			thousands(int64(a.wrk.rps)), thousands(int64(z.wrk.rps)), thousands(int64(k.wrk.rps)),
			k.wrk.rps/z.wrk.rps, z.wrk.rps/a.wrk.rps, k.wrk.rps/a.wrk.rps,
			k.perRequest(k.authCPU), z.perRequest(z.authCPU), a.loadBefore, k.loadAfter)
	}
	fmt.Fprintf(out, "\nNK/NZ %s (target ≥ 0.9); NZ/N %s; NK/N %s: medians [min–max] over the rounds.\n",
		ratioSummary(nk, nz), ratioSummary(nz, nn), ratioSummary(nk, nn))
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// observedProxy is the gateway as proxy builds it, with Prometheus metrics
// on, as --metrics-addr turns them on.
func (e *env) observedProxy(up *url.URL) (http.Handler, error) {
	key := make([]byte, 32)
	rand.Read(key)
	return gateway.NewProxy(gateway.ProxyConfig{
		Upstream: up, Replica: e.rep, IdentityKey: key, Transport: tunedTransport(),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Observer: &gateway.Observer{Metrics: metrics.New()},
	})
}
