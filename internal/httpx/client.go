package httpx

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Front describes what stands in front of keyward: the reverse proxies
// trusted to name the client, and whether users reach keyward over HTTPS
// even when the connection keyward sees is plain HTTP (a TLS-terminating
// proxy).
type Front struct {
	// TrustedProxies are the networks of proxies whose X-Forwarded-For or
	// Forwarded entries are believed. Empty: the client is the peer.
	TrustedProxies []netip.Prefix
	// HTTPS is true when the address users type starts with https://.
	HTTPS bool
	// PublicURL is the address users type, such as
	// https://keys.example.com, without a trailing slash; "" when unknown.
	PublicURL string
}

type frontKey struct{}

// client is what Front.Wrap learns about a request.
type client struct {
	addr   string
	https  bool
	public string
}

// Wrap resolves each request's client address and HTTPS-ness once, for
// ClientAddr and IsHTTPS.
func (f Front) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := client{addr: f.ClientAddr(r), https: f.HTTPS || r.TLS != nil, public: f.PublicURL}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), frontKey{}, c)))
	})
}

// ClientAddr returns the client's IP address (without port), as resolved
// by Front.Wrap; without it, the connection's peer.
func ClientAddr(r *http.Request) string {
	if c, ok := r.Context().Value(frontKey{}).(client); ok {
		return c.addr
	}
	return peerAddr(r)
}

// IsHTTPS reports whether the user reached keyward over HTTPS: the
// connection is TLS, or the public address is https.
func IsHTTPS(r *http.Request) bool {
	if c, ok := r.Context().Value(frontKey{}).(client); ok {
		return c.https
	}
	return r.TLS != nil
}

// BaseURL is the address to build links to keyward with: the public
// address when configured, else the scheme and Host the request came with.
func BaseURL(r *http.Request) string {
	if c, ok := r.Context().Value(frontKey{}).(client); ok && c.public != "" {
		return c.public
	}
	scheme := "http"
	if IsHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return host
}

// ClientAddr finds the client of r. Starting from the connection's peer,
// it walks the forwarding chain from the right (the entry the nearest
// proxy appended) and stops at the first address that is not a trusted
// proxy: entries left of it were written by whoever sent the request to
// that untrusted hop, so anyone could have forged them. The chain is
// X-Forwarded-For when present, else the for= parameters of Forwarded.
// An entry that is not an IP address (Forwarded's "unknown" or an
// obfuscated name) ends the walk at the last trusted hop.
func (f Front) ClientAddr(r *http.Request) string {
	if ip := f.Client(r); ip.IsValid() {
		return ip.String()
	}
	return peerAddr(r)
}

// Client is ClientAddr as an address: the zero Addr when the peer is not
// an IP address (a Unix socket). Without trusted proxies it allocates
// nothing.
func (f Front) Client(r *http.Request) netip.Addr {
	return f.ClientOf(PeerIP(r.RemoteAddr), r.Header)
}

// PeerIP reads a connection's remote address (host:port, or a bare
// address) as an IP address, without zone; the zero Addr when it is none.
func PeerIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// ClientOf finds the client of a request that came from peer with the
// headers h, as ClientAddr does; peer is returned when it is not a
// trusted proxy.
func (f Front) ClientOf(peer netip.Addr, h http.Header) netip.Addr {
	cur := peer
	if !cur.IsValid() || !f.Trusted(cur) {
		return cur
	}
	hops := forwardedFor(h)
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			break
		}
		cur = ip
		if !f.Trusted(ip) {
			break
		}
	}
	return cur
}

// Trusted reports whether ip is one of the trusted proxies.
func (f Front) Trusted(ip netip.Addr) bool {
	for _, p := range f.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor lists the chain's entries, leftmost (furthest) first.
func forwardedFor(h http.Header) []string {
	var out []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			for _, e := range strings.Split(line, ",") {
				out = append(out, strings.TrimSpace(e))
			}
		}
		return out
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			// An element without for= still marks a hop, which names no one.
			v := ""
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					v = strings.Trim(val, `"`)
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// parseHop reads one entry: an IPv4 or IPv6 address, optionally with a
// port, IPv6 optionally in brackets.
func parseHop(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return ip.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// ParseProxies reads a comma-separated list of CIDRs or single addresses,
// as --trusted-proxies takes them.
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", e)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
