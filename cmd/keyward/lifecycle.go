package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// The gateway forwards every other path upstream, so its health checks
// live under a prefix no platform API uses. The admin and forward-auth
// listeners answer /healthz and /readyz.
const (
	gatewayHealthPath = "/.well-known/keyward/healthz"
	gatewayReadyPath  = "/.well-known/keyward/readyz"
)

// errDrainCut says the shutdown timeout passed with requests still
// running: they were cut, and the exit status says so.
var errDrainCut = errors.New("shutdown: --shutdown-timeout passed with requests still running; they were cut")

// ready reports whether this node's listeners can answer correctly now:
// it is not shutting down, and its replica of credentials is within
// --max-staleness. The database is not a condition: the data plane
// answers from memory through a database outage (fail-static), and every
// node shares the one database, so pulling nodes for it helps no one.
func (m *Main) ready(*http.Request) error {
	if m.draining.Load() {
		return keyward.Errorf(keyward.EUnavailable, "This node is shutting down.")
	}
	if m.Replica.Stale() {
		return keyward.Errorf(keyward.EUnavailable, "The replica of credentials is older than --max-staleness.")
	}
	return nil
}

// withHealth answers a listener's liveness and readiness checks at the
// paths given, and passes every other request to h.
func (m *Main) withHealth(h http.Handler, health, ready string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case health:
			httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case ready:
			if err := m.ready(r); err != nil {
				w.Header().Set("Retry-After", "1")
				httpx.WriteProblem(w, httpx.ProblemFor(err))
				return
			}
			httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// shutdown stops the node in order: readiness fails first, then, after
// --shutdown-delay for load balancers to notice, every listener stops
// taking connections and in-flight requests, webhook deliveries included,
// finish within --shutdown-timeout. Each step is logged.
func (m *Main) shutdown() error {
	m.draining.Store(true)
	if d := m.Config.ShutdownDelay; d > 0 {
		slog.Info("shutting down: readiness fails from now on; waiting for load balancers to notice", "shutdown_delay", d.String())
		time.Sleep(d)
	}
	slog.Info("shutting down: listeners closed; draining requests", "shutdown_timeout", m.Config.ShutdownTimeout.String())
	if m.stopDispatch != nil {
		m.stopDispatch()
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	servers := append([]*http.Server{m.server, m.gatewayServer, m.demoServer}, m.obs.servers...)
	var wg sync.WaitGroup
	for _, s := range servers {
		if s != nil {
			wg.Go(func() { s.Shutdown(ctx) })
		}
	}
	if g := m.obs.grpc; g != nil {
		wg.Go(func() {
			stopped := make(chan struct{})
			go func() { g.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-ctx.Done():
				g.Stop()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		for _, s := range servers {
			if s != nil {
				s.Close()
			}
		}
		slog.Error(errDrainCut.Error())
		return errDrainCut
	}
	slog.Info("shutting down: requests drained")
	return nil
}

// ignoreHangUp keeps SIGHUP, which a closing terminal or a process
// manager's reload sends, from stopping the node: settings are read at
// start, so it logs that a restart applies them.
func ignoreHangUp() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	go func() {
		for range c {
			slog.Warn("SIGHUP ignored: keyward reads its settings at start; restart it to apply changes")
		}
	}()
}
