package gateway

import "net/netip"

// requestAddr is the address a request came from, read from its
// RemoteAddr ("ip:port"); the zero Addr when it names none. An allowed
// request's use of a secret is recorded with it.
func requestAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
