package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/peer"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/replica"
)

// addressDetails are the problem's extra members for IP_NOT_ALLOWED: the
// client address keyward saw, so the caller knows what to have allowed.
func addressDetails(res *replica.Result) map[string]any {
	if c := res.Decision.Client; c.IsValid() {
		return map[string]any{"client_address": c.String()}
	}
	return nil
}

// client finds the client of a request Envoy describes. The source
// address Envoy reports, and then the forwarding headers, are believed
// only when Envoy, the gRPC peer, is a trusted proxy; else the client is
// the peer itself.
func (e *EnvoyAuthz) client(ctx context.Context, req *authv3.CheckRequest, h http.Header) netip.Addr {
	front := e.a.p.front
	var from netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		from = peerAddr(p.Addr)
	}
	if !from.IsValid() || !front.Trusted(from) {
		return from
	}
	src := req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress()
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return netip.Addr{}
	}
	return front.ClientOf(ip.Unmap().WithZone(""), h)
}

func peerAddr(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// clientAddress reads VerifyRequest.ClientAddress: "" is the zero Addr
// (unknown).
func clientAddress(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, keyward.Invalid("client_address", "client_address %q is not an IP address such as 203.0.113.7 or 2001:db8::1", s)
	}
	return ip.Unmap(), nil
}
