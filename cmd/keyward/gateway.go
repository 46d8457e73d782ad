package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/ratelimit"
)

// openGateway starts the gateway listener when an upstream is configured;
// with --demo and no upstream, the demo platform API is started on a
// loopback port and put behind the gateway.
func (m *Main) openGateway() error {
	upstream := m.Config.Upstream
	if upstream == "" && m.Config.Demo {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		m.demoServer = newServer(demoapi.New(m.demoAPIOptions()), m.Config.ReadTimeout)
		go m.demoServer.Serve(ln)
		upstream = "http://" + ln.Addr().String()
		fmt.Fprintf(m.Out, "demo platform API on %s, behind the gateway\n", upstream)
	}
	if upstream == "" {
		return nil
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("--upstream: %w", err)
	}
	p, err := gateway.NewProxy(gateway.ProxyConfig{
		Upstream: u, Replica: m.Replica, Sources: splitList(m.Config.CredentialSources),
		PassUnknown: m.Config.PassUnknown, IdentitySigner: m.obs.signer, Limiter: m.Limiter, Logger: slog.Default(), Quota: m.Quota,
		MaxBody: m.Config.MaxBody, Observer: m.obs.observer, Events: m.eventsHandler(),
		TrustedProxies: m.Config.TrustedProxies,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	m.gatewayListener = ln
	m.gatewayServer = newServer(m.withHealth(p, gatewayHealthPath, gatewayReadyPath), m.Config.ReadTimeout)
	fmt.Fprintf(m.Out, "gateway listening on http://%s, proxying to %s\n", ln.Addr(), upstream)
	return nil
}

// demoAPIOptions has the demo platform API accept the identity keys the
// node signs with.
func (m *Main) demoAPIOptions() demoapi.Options {
	if m.obs.verifier != nil {
		return demoapi.Options{IdentityVerifier: m.obs.verifier}
	}
	return demoapi.Options{IdentityKey: []byte(m.Config.IdentityKey)}
}

// newLimiter returns the rate limiter the gateway and /v1/verify share:
// in process, or in Redis with --redis so that every node shares it.
func (m *Main) newLimiter() (*ratelimit.Limiter, error) {
	if m.Config.Redis == "" {
		return ratelimit.New(), nil
	}
	opts, err := redisOptions(m.Config.Redis)
	if err != nil {
		return nil, err
	}
	m.redis = redis.NewClient(opts)
	return ratelimit.NewRedis(m.redis), nil
}

// redisOptions reads a Redis address: host:port or a redis:// URL.
func redisOptions(s string) (*redis.Options, error) {
	if strings.Contains(s, "://") {
		o, err := redis.ParseURL(s)
		if err != nil {
			return nil, fmt.Errorf("--redis: %w", err)
		}
		return o, nil
	}
	return &redis.Options{Addr: s}, nil
}
