package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/keyward/keyward/internal/gateway"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/webhook"
)

// OutboundConfig is what keyward may dial on its own: webhook receivers
// and external systems. By default only public addresses over HTTPS.
type OutboundConfig struct {
	// AllowText is --outbound-allow as given; finish reads it into Allow.
	AllowText string
	Allow     []netip.Prefix
	AllowHTTP bool
	// Webhook dispatch on this node.
	Dispatch       bool
	WebhookWorkers int
	WebhookLease   time.Duration
}

func (o *OutboundConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.AllowText, "outbound-allow", envOr("OUTBOUND_ALLOW", ""), "CIDRs or addresses webhooks and connectors may reach although they are loopback, private or link-local, comma-separated; none when empty (env KEYWARD_OUTBOUND_ALLOW)")
	fs.BoolVar(&o.AllowHTTP, "outbound-allow-http", envBool("OUTBOUND_ALLOW_HTTP", false), "let webhook and connector URLs use plain http:// (env KEYWARD_OUTBOUND_ALLOW_HTTP=true)")
	fs.BoolVar(&o.Dispatch, "webhook-dispatch", envBool("WEBHOOK_DISPATCH", true), "send webhook deliveries from this node; nodes sharing a database share the work (env KEYWARD_WEBHOOK_DISPATCH)")
	fs.IntVar(&o.WebhookWorkers, "webhook-workers", envInt("WEBHOOK_WORKERS", webhook.DefaultWorkers), "webhook deliveries this node sends at once (env KEYWARD_WEBHOOK_WORKERS)")
	fs.DurationVar(&o.WebhookLease, "webhook-lease", envDuration("WEBHOOK_LEASE", webhook.DefaultLease), "how long a node holds a delivery it is sending; one a stopped node held is sent again after this (env KEYWARD_WEBHOOK_LEASE)")
}

func (o *OutboundConfig) finish() []error {
	var errs []error
	ps, err := httpx.ParseProxies(o.AllowText)
	if err != nil {
		errs = append(errs, fmt.Errorf("--outbound-allow: %v", err))
	}
	o.Allow = ps
	if o.WebhookWorkers < 1 {
		errs = append(errs, errors.New("--webhook-workers must be at least 1"))
	}
	if o.WebhookLease < 5*time.Second {
		errs = append(errs, errors.New("--webhook-lease must be at least 5s"))
	}
	return errs
}

// Config returns the dialling policy of webhooks and connectors.
func (o *OutboundConfig) Config() outbound.Config {
	return outbound.Config{Allow: o.Allow, AllowHTTP: o.AllowHTTP}
}

// envInt reads KEYWARD_<name> as a whole number; a bad value is reported
// by finish through the flag's default staying in place.
func envInt(name string, def int) int {
	if v, ok := os.LookupEnv("KEYWARD_" + name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		badEnv = append(badEnv, fmt.Errorf("KEYWARD_%s=%q is not a whole number", name, v))
	}
	return def
}

// startDispatcher runs this node's webhook dispatcher until ctx ends,
// unless --webhook-dispatch=false.
func (m *Main) startDispatcher(ctx context.Context) error {
	o := m.Config.Outbound
	if !o.Dispatch {
		return nil
	}
	d, err := webhook.New(m.Service, webhook.Config{Workers: o.WebhookWorkers, Lease: o.WebhookLease, Outbound: o.Config(),
		Drain: m.Config.ShutdownTimeout})
	if err != nil {
		return err
	}
	m.Dispatcher = d
	// The dispatcher stops when shutdown begins draining, beside the
	// listeners, rather than after them.
	ctx, m.stopDispatch = context.WithCancel(ctx)
	m.background.Add(1)
	go func() { defer m.background.Done(); d.Run(ctx) }()
	return nil
}

// eventsHandler serves POST /v1/events, on the API listener and the
// gateway alike.
func (m *Main) eventsHandler() http.Handler {
	return &gateway.Events{Replica: m.Replica, Limiter: m.Limiter, Send: m.Service.SendEvent}
}
