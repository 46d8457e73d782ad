package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/tracing"
)

// ObserveConfig is where keyward answers forward-auth, exposes metrics and
// sends traces, and whether it writes an access log.
type ObserveConfig struct {
	// AuthzAddr is the forward-auth listener (/v1/authz/…); "" for none.
	AuthzAddr string
	// AuthzGRPCAddr is the Envoy gRPC ext_authz listener; "" for none.
	AuthzGRPCAddr string
	// MetricsAddr serves Prometheus metrics at /metrics; "" for none.
	MetricsAddr string
	// OTLPEndpoint is the OTLP/HTTP collector traces go to; "" traces nothing.
	OTLPEndpoint string
	// AccessLog writes a JSON line per gateway and forward-auth request.
	AccessLog bool
}

func (c *ObserveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.AuthzAddr, "authz-addr", envOr("AUTHZ_ADDR", ""), "address of the forward-auth listener for nginx, Caddy, Traefik, HAProxy and Envoy (/v1/authz/…); off when empty (env KEYWARD_AUTHZ_ADDR)")
	fs.StringVar(&c.AuthzGRPCAddr, "authz-grpc-addr", envOr("AUTHZ_GRPC_ADDR", ""), "address of the Envoy gRPC ext_authz service (envoy.service.auth.v3.Authorization); off when empty (env KEYWARD_AUTHZ_GRPC_ADDR)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", envOr("METRICS_ADDR", ""), "address serving Prometheus metrics at /metrics; off when empty (env KEYWARD_METRICS_ADDR)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", envOr("OTLP_ENDPOINT", ""), "OTLP/HTTP collector URL for traces, such as http://127.0.0.1:4318; off when empty (env KEYWARD_OTLP_ENDPOINT)")
	fs.BoolVar(&c.AccessLog, "access-log", envBool("ACCESS_LOG", false), "log one JSON line per gateway and forward-auth request to stderr (env KEYWARD_ACCESS_LOG=true)")
}

func (c *ObserveConfig) finish() []error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"--authz-addr", c.AuthzAddr}, {"--authz-grpc-addr", c.AuthzGRPCAddr}, {"--metrics-addr", c.MetricsAddr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: use host:port such as 127.0.0.1:8082", a.flag, a.addr))
		}
	}
	return errs
}

// observe is what a node runs for forward-auth, metrics and traces.
type observe struct {
	// signer signs identity headers for the gateway and forward-auth;
	// verifier, set when the keys are kept in the database, accepts every
	// key listed, for the demo platform API.
	signer   *identity.Signer
	verifier *identity.Verifier
	observer *gateway.Observer
	tracing  *tracing.Provider
	servers  []*http.Server
	grpc     *grpc.Server
	// metrics is set once the registry exists; the usage flusher, already
	// running, reads it.
	metrics atomic.Pointer[metrics.Registry]
	// addrs holds each listener's address by what it serves:
	// "metrics", "forward-auth", "grpc".
	addrs map[string]string
}

// openObserve sets up metrics, tracing and the access log, and starts the
// metrics and forward-auth listeners that are configured.
func (m *Main) openObserve(ctx context.Context) error {
	c := m.Config.Observe
	o := &gateway.Observer{}
	if c.AccessLog {
		o.AccessLog = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("log", "access")
	}
	if c.OTLPEndpoint != "" {
		tp, err := tracing.New(ctx, c.OTLPEndpoint, "keyward")
		if err != nil {
			return fmt.Errorf("--otlp-endpoint: %w", err)
		}
		m.obs.tracing = tp
		o.Tracer = tp.Tracer("keyward/gateway")
	}
	if c.MetricsAddr != "" {
		reg := metrics.New()
		reg.Replica(metrics.ReplicaStats{
			Credentials: m.Replica.Len,
			LastSync:    m.Replica.LastSync,
			Lag: func() (int64, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				last, err := m.DB.Read().LastChange(ctx)
				if err != nil {
					return 0, err
				}
				return max(last-m.Replica.Applied(), 0), nil
			},
		})
		reg.Build(buildVersion())
		reg.Database(metrics.DatabaseStats{
			Pool:        m.DB.SQL().Stats,
			Unavailable: store.UnavailableErrors,
			OldestPending: func() (time.Time, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return m.DB.Read().OldestPendingDelivery(ctx)
			},
		})
		m.obs.metrics.Store(reg)
		o.Metrics = reg
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", reg.Handler())
		if err := m.listen(c.MetricsAddr, "metrics", mux); err != nil {
			return err
		}
	}
	if o.Metrics != nil || o.AccessLog != nil || o.Tracer != nil {
		m.obs.observer = o
	}
	if c.AuthzAddr == "" && c.AuthzGRPCAddr == "" {
		return nil
	}
	a, err := gateway.NewAuthz(gateway.AuthzConfig{
		Replica: m.Replica, Sources: authzSources(splitList(m.Config.CredentialSources)), IdentitySigner: m.obs.signer,
		Limiter: m.Limiter, Logger: slog.Default(), Observer: m.obs.observer, Quota: m.Quota,
		TrustedProxies: m.Config.TrustedProxies,
	})
	if err != nil {
		return err
	}
	if c.AuthzAddr != "" {
		if err := m.listen(c.AuthzAddr, "forward-auth", m.withHealth(a, "/healthz", "/readyz")); err != nil {
			return err
		}
	}
	if c.AuthzGRPCAddr != "" {
		ln, err := net.Listen("tcp", c.AuthzGRPCAddr)
		if err != nil {
			return fmt.Errorf("--authz-grpc-addr: %w", err)
		}
		m.obs.grpc = grpc.NewServer()
		a.Envoy().Register(m.obs.grpc)
		go m.obs.grpc.Serve(ln)
		m.setAddr("grpc", ln.Addr().String())
		fmt.Fprintf(m.Out, "Envoy gRPC ext_authz listening on %s\n", ln.Addr())
	}
	return nil
}

// usageFlushed counts a write of usage counts, once metrics are on.
func (m *Main) usageFlushed(requests int64, err error) {
	if reg := m.obs.metrics.Load(); reg != nil {
		reg.UsageFlushed(requests, err)
	}
}

// authzSources drops the query from the gateway's credential sources:
// through a forward-auth proxy a key in the query would reach the upstream.
func authzSources(names []string) []string {
	var out []string
	for _, n := range names {
		if n != gateway.SourceQuery {
			out = append(out, n)
		}
	}
	return out
}

// listen starts serving h on addr in the background.
func (m *Main) listen(addr, what string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", what, err)
	}
	s := newServer(h, m.Config.ReadTimeout)
	m.obs.servers = append(m.obs.servers, s)
	m.setAddr(what, ln.Addr().String())
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error(what+" listener stopped", "err", err)
		}
	}()
	fmt.Fprintf(m.Out, "%s listening on http://%s\n", what, ln.Addr())
	return nil
}

func (m *Main) setAddr(what, addr string) {
	if m.obs.addrs == nil {
		m.obs.addrs = map[string]string{}
	}
	m.obs.addrs[what] = addr
}

// adminTracing wraps the admin handler in a span per request when tracing
// is on.
func (m *Main) adminTracing(h http.Handler) http.Handler {
	if m.obs.tracing == nil {
		return h
	}
	return tracing.Middleware(m.obs.tracing.Tracer("keyward/admin"), h)
}

// closeObserve stops the forward-auth and metrics listeners and sends the
// spans not yet sent.
func (m *Main) closeObserve(ctx context.Context) {
	for _, s := range m.obs.servers {
		s.Shutdown(ctx)
	}
	if m.obs.grpc != nil {
		m.obs.grpc.GracefulStop()
	}
	if m.obs.tracing != nil {
		m.obs.tracing.Shutdown(ctx)
	}
}
