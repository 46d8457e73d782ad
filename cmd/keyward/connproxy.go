package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/connector/outproxy"
	"github.com/keyward/keyward/internal/outbound"
)

// connectorProxyFlag adds --connector-proxy-addr: keyward's outbound proxy
// to external systems, off unless an address is given.
func (c *Config) connectorProxyFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.ConnectorProxyAddr, "connector-proxy-addr", envOr("CONNECTOR_PROXY_ADDR", ""),
		"address of the outbound proxy, where services call external systems at /connections/{id}/… with a personal access token holding Connectors, and keyward adds the connection's credentials; off when empty (env KEYWARD_CONNECTOR_PROXY_ADDR)")
}

// openConnectorProxy listens on --connector-proxy-addr, when set, and
// serves the outbound proxy until ctx ends.
func (m *Main) openConnectorProxy(ctx context.Context) error {
	if m.Config.ConnectorProxyAddr == "" {
		return nil
	}
	client, err := outbound.NewClient(m.Config.Outbound.Config())
	if err != nil {
		return fmt.Errorf("--connector-proxy-addr: %w", err)
	}
	ln, err := net.Listen("tcp", m.Config.ConnectorProxyAddr)
	if err != nil {
		return fmt.Errorf("--connector-proxy-addr: %w", err)
	}
	m.ConnectorProxyListener = ln
	srv := newServer(&outproxy.Handler{Svc: m.Service, Client: client, MaxBody: m.Config.MaxBody}, m.Config.ReadTimeout)
	m.background.Add(2)
	go func() {
		defer m.background.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("connector proxy stopped", "err", err)
		}
	}()
	go func() {
		defer m.background.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(m.Out, "outbound proxy to external systems listening on http://%s/connections/{id}/…\n", ln.Addr())
	return nil
}
