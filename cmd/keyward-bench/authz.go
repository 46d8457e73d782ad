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
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/metrics"
)

// integrationsDoc holds the nginx configuration --authz runs: the one the
// docs give and the tests run.
const integrationsDoc = "docs/integrations.md"

// authzScenario measures forward-auth behind nginx: nginx asking keyward
// for each request (NA) against the same nginx proxying straight to the
// upstream (N), in alternating rounds.
func authzScenario(ctx context.Context, e *env, o *options, upAddr string, out, progress io.Writer) error {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		return errors.New("--authz needs nginx (apt-get install nginx)")
	}
	doc, err := os.ReadFile(integrationsDoc)
	if err != nil {
		return fmt.Errorf("--authz reads the nginx configuration from %s; run keyward-bench from the repository root: %w", integrationsDoc, err)
	}
	m := regexp.MustCompile("(?s)<!-- config: nginx -->\n```nginx\n(.*?)\n```").FindSubmatch(doc)
	if m == nil {
		return fmt.Errorf("%s has no nginx configuration", integrationsDoc)
	}
	key := make([]byte, 32)
	rand.Read(key)
	a, err := gateway.NewAuthz(gateway.AuthzConfig{Replica: e.rep, IdentityKey: key,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	as, err := serve(a)
	if err != nil {
		return err
	}
	defer as.Close()
	direct, withAuth := freeAddr(), freeAddr()
	dir, err := os.MkdirTemp("", "keyward-bench-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	authCfg := strings.NewReplacer("127.0.0.1:8000", withAuth, "127.0.0.1:8082", as.addr, "127.0.0.1:9090", upAddr).Replace(string(m[1]))
	// Workers run as nobody when started as root and write their
	// temporary files here.
	os.Chmod(dir, 0o777)
	conf := fmt.Sprintf(`worker_processes %[5]d;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    # The load keeps its connections for the whole run.
    keepalive_requests 1000000;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream direct_api { server %[2]s; keepalive 64; }
    server {
        listen %[3]s;
        location / {
            proxy_set_header Host $host;
            proxy_set_header Connection "";
            proxy_http_version 1.1;
            proxy_pass http://direct_api;
        }
    }
%[4]s
}
`, dir, upAddr, direct, authCfg, o.nginxWorkers)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	nctx, cancel := context.WithCancel(ctx)
	// One nginx for both setups, so they share its costs alike.
	cmd := exec.CommandContext(nctx, nginx, "-p", dir, "-c", confPath, "-g", "daemon off;")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) } // a graceful stop, workers included
	var nout strings.Builder
	cmd.Stdout, cmd.Stderr = &nout, &nout
	if err := cmd.Start(); err != nil {
		cancel()
		return err
	}
	defer func() { cancel(); cmd.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.DialTimeout("tcp", withAuth, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return fmt.Errorf("nginx did not start: %s%s", nout.String(), b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	const path = "/api/v5/orders?store=main"
	setups := []*setup{
		{label: "N nginx proxying to the upstream", t: target{addr: direct, request: getRequest(direct, path, "X-API-Key", e.secret), want: 200}},
		{label: "NA nginx with keyward forward-auth (valid key)", t: target{addr: withAuth, request: getRequest(withAuth, path, "X-API-Key", e.secret), want: 200}},
	}
	opts := loadOpts{connections: o.connections, duration: o.duration, maxRequests: o.requests}
	warm := loadOpts{connections: o.connections, duration: o.warmup, maxRequests: o.requests}
	fmt.Fprintf(out, "\n## Forward-auth: GET %s with X-API-Key through nginx (%d worker(s))\n\n", path, o.nginxWorkers)
	if err := rounds(ctx, setups, o.rounds, warm, opts, progress); err != nil {
		return err
	}
	printTable(out, setups)
	printRatio(out, setups[0], setups[1], "NA/N")
	return nil
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
