package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults applied to a zero field of Config.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 15 * time.Second
	DefaultTimeout               = 15 * time.Second
	DefaultMaxResponseBytes      = 1 << 20
	DefaultUserAgent             = "keyward"
)

// Config is the outbound policy and the limits of a Client. Its zero value
// is the strict policy: HTTPS only, port 443, no private address, no
// redirect followed, default timeouts and limits.
type Config struct {
	// Allow lists ranges the operator allows although they would be
	// refused (for example 127.0.0.0/8 for a receiver on the same host).
	// An address inside one may be dialled on any port.
	Allow []netip.Prefix
	// AllowHTTP permits http:// URLs and port 80; false means HTTPS only.
	AllowHTTP bool
	// Ports are the ports public addresses may be dialled on. Empty means
	// 443, and 80 too when AllowHTTP is set.
	Ports []uint16

	// DialTimeout bounds one TCP connection attempt.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request is written.
	ResponseHeaderTimeout time.Duration
	// Timeout bounds the whole exchange, reading the body included.
	Timeout time.Duration

	// MaxResponseBytes is the most of a response body a caller can read;
	// reading further fails with ErrResponseTooLarge.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects are followed, each checked as
	// the first URL was. Zero: none; the 3xx response is returned as is.
	MaxRedirects int
	// UserAgent is sent when a request sets none.
	UserAgent string

	// TLS, when set, is the TLS configuration (for example RootCAs naming
	// a private CA). Certificate verification cannot be turned off.
	TLS *tls.Config
	// Resolver, when set, resolves host names instead of the system's.
	Resolver *net.Resolver
}

func (c *Config) ports() []uint16 {
	if len(c.Ports) > 0 {
		return c.Ports
	}
	if c.AllowHTTP {
		return []uint16{443, 80}
	}
	return []uint16{443}
}

// validate reports every invalid setting at once.
func (c *Config) validate() error {
	var errs []error
	for _, p := range c.Allow {
		if !p.IsValid() {
			errs = append(errs, errors.New("outbound: an allowed range is invalid"))
		}
	}
	for _, p := range c.Ports {
		if p == 0 {
			errs = append(errs, errors.New("outbound: port 0 cannot be allowed"))
		}
	}
	if c.DialTimeout < 0 || c.TLSHandshakeTimeout < 0 || c.ResponseHeaderTimeout < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("outbound: a timeout is negative"))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("outbound: the response size limit is negative"))
	}
	if c.MaxRedirects < 0 {
		errs = append(errs, errors.New("outbound: the redirect limit is negative"))
	}
	if c.TLS != nil && c.TLS.InsecureSkipVerify {
		errs = append(errs, errors.New("outbound: TLS certificate verification cannot be turned off"))
	}
	return errors.Join(errs...)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Client sends requests under a Config. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
}

// NewClient returns a Client enforcing cfg, or an error naming every
// invalid setting.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Allow = append([]netip.Prefix(nil), cfg.Allow...)
	for i, p := range cfg.Allow {
		cfg.Allow[i] = p.Masked()
	}
	cfg.Ports = append([]uint16(nil), cfg.Ports...)
	cfg.DialTimeout = orDefault(cfg.DialTimeout, DefaultDialTimeout)
	cfg.TLSHandshakeTimeout = orDefault(cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	cfg.ResponseHeaderTimeout = orDefault(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.MaxResponseBytes = orDefault(cfg.MaxResponseBytes, int64(DefaultMaxResponseBytes))
	cfg.UserAgent = orDefault(cfg.UserAgent, DefaultUserAgent)
	var tlsConfig *tls.Config
	if cfg.TLS != nil {
		tlsConfig = cfg.TLS.Clone()
	} else {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)

	c := &Client{cfg: cfg}
	dialer := &net.Dialer{
		Timeout:  cfg.DialTimeout,
		Resolver: cfg.Resolver,
		// Control runs once per address attempted, after resolution: the
		// address it sees is the one the connection goes to.
		Control: c.control,
	}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would hide the real destination
		DialContext:            c.dialContext(dialer),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	c.hc = &http.Client{
		Transport:     transport,
		Timeout:       cfg.Timeout,
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

// control refuses a connection to anything but a TCP connection to an
// allowed address and port.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &AddressError{Host: address, Reason: "network " + network}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &AddressError{Host: address, Reason: "not an IP address"}
	}
	return c.cfg.CheckAddr(ap)
}

// dialContext refuses metadata names before they are resolved, then dials
// through dialer, whose Control hook judges every resolved address.
func (c *Client) dialContext(dialer *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return nil, &AddressError{Host: address, Reason: "network " + network}
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if isMetadataName(host) {
			return nil, &AddressError{Host: host, Reason: "metadata"}
		}
		return dialer.DialContext(ctx, network, address)
	}
}

func isMetadataName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range metadataNames {
		if host == n {
			return true
		}
	}
	return false
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if c.cfg.MaxRedirects == 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > c.cfg.MaxRedirects {
		return fmt.Errorf("outbound: stopped after %d redirects", c.cfg.MaxRedirects)
	}
	return c.cfg.CheckURL(req.URL)
}

// CheckURL checks u as Config.CheckURL does, under this client's Config.
func (c *Client) CheckURL(u *url.URL) error { return c.cfg.CheckURL(u) }

// Do sends req once its URL passes CheckURL. The response body, which
// the caller must close, yields at most MaxResponseBytes and then fails
// with ErrResponseTooLarge. Errors name the host, never the whole URL,
// whose path or query may carry a token.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if err := c.cfg.CheckURL(req.URL); err != nil {
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("outbound: %s %s: %w", req.Method, req.URL.Host, err)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: c.cfg.MaxResponseBytes}
	return resp, nil
}
