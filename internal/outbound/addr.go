package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrForbiddenAddress is wrapped by every refusal of an address: a dial to
// a refused IP or port, or a name known to serve cloud metadata. Test for it
// with errors.Is; errors.As with *AddressError gives the reason.
var ErrForbiddenAddress = errors.New("outbound: address not allowed")

// AddressError tells which address was refused and why.
type AddressError struct {
	// Addr is the address being dialled, or the zero AddrPort when a host
	// name was refused before resolution.
	Addr netip.AddrPort
	// Host is the refused host name, when the refusal came before
	// resolution.
	Host string
	// Reason is a short stable phrase: "loopback", "private",
	// "link-local", "metadata", "port", … .
	Reason string
}

func (e *AddressError) Error() string {
	target := e.Host
	if e.Addr.IsValid() {
		target = e.Addr.String()
	}
	return fmt.Sprintf("outbound: connection to %s refused: %s", target, e.Reason)
}

// Unwrap makes errors.Is(err, ErrForbiddenAddress) hold.
func (e *AddressError) Unwrap() error { return ErrForbiddenAddress }

type deniedRange struct {
	prefix netip.Prefix
	reason string
}

func ranges(pairs ...string) []deniedRange {
	out := make([]deniedRange, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, deniedRange{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// deniedV4 is the IANA IPv4 special-purpose address registry, every entry
// not globally reachable plus a few that are but that no webhook receiver
// lives at, with the known metadata addresses named first so that the
// reason says so. The first matching entry gives the reason.
var deniedV4 = ranges(
	"169.254.169.254/32", "metadata", // AWS, GCP, Azure, OpenStack
	"169.254.170.2/32", "metadata", // AWS ECS task metadata
	"100.100.100.200/32", "metadata", // Alibaba Cloud
	"192.0.0.192/32", "metadata", // Oracle Cloud
	"0.0.0.0/8", "unspecified",
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "shared address space",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "protocol assignments",
	"192.0.2.0/24", "documentation",
	"192.31.196.0/24", "reserved",
	"192.52.193.0/24", "reserved",
	"192.88.99.0/24", "reserved",
	"192.168.0.0/16", "private",
	"192.175.48.0/24", "reserved",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// deniedV6 is the IANA IPv6 special-purpose address registry within the
// global unicast range 2000::/3 plus the ranges outside it that are worth
// naming; every other address outside 2000::/3 is refused as well.
// ::ffff:0:0/96 and 64:ff9b::/96 are judged by the IPv4 address they carry
// before this table is read.
var deniedV6 = ranges(
	"fd00:ec2::254/128", "metadata", // AWS over IPv6
	"::/128", "unspecified",
	"::1/128", "loopback",
	"::/96", "reserved", // IPv4-compatible, deprecated
	"64:ff9b:1::/48", "reserved", // local-use NAT64
	"100::/64", "reserved", // discard-only
	"2001::/23", "protocol assignments", // Teredo, benchmarking, ORCHID …
	"2001:db8::/32", "documentation",
	"2002::/16", "reserved", // 6to4
	"3fff::/20", "documentation",
	"5f00::/16", "reserved", // SRv6 SIDs
	"fc00::/7", "private",
	"fe80::/10", "link-local",
	"fec0::/10", "link-local", // site-local, deprecated
	"ff00::/8", "multicast",
)

var (
	globalUnicast = netip.MustParsePrefix("2000::/3")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
)

// refusal says why addr may not be dialled, or "" when it may. It knows
// nothing of the operator's allowed ranges.
func refusal(addr netip.Addr) string {
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		for _, r := range deniedV4 {
			if r.prefix.Contains(addr) {
				return r.reason
			}
		}
		return ""
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		if why := refusal(netip.AddrFrom4([4]byte(b[12:]))); why != "" {
			return "NAT64 to " + why
		}
		return ""
	}
	for _, r := range deniedV6 {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	if !globalUnicast.Contains(addr) {
		return "reserved"
	}
	return ""
}

// allowed reports whether the operator allowed addr explicitly.
func (c *Config) allowed(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	for _, p := range c.Allow {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// ::ffff:127.0.0.0/104 is 127.0.0.0/8 written as IPv6.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// CheckAddr reports whether a connection to ap may be made: nil, or an
// *AddressError wrapping ErrForbiddenAddress. An address inside an allowed
// range may be dialled on any port; any other must be a public address and
// the port one of the allowed ports.
func (c *Config) CheckAddr(ap netip.AddrPort) error {
	addr := ap.Addr()
	if !addr.IsValid() {
		return &AddressError{Addr: ap, Reason: "not an IP address"}
	}
	if c.allowed(addr) {
		return nil
	}
	if why := refusal(addr); why != "" {
		return &AddressError{Addr: ap, Reason: why}
	}
	if !slices.Contains(c.ports(), ap.Port()) {
		return &AddressError{Addr: ap, Reason: "port"}
	}
	return nil
}

// metadataNames are host names that cloud providers answer with their
// instance metadata service. They resolve to refused addresses anyway; they
// are refused by name too so that the reason says so, and so that a
// resolver configured to answer them otherwise changes nothing.
var metadataNames = []string{
	"metadata",
	"metadata.google.internal",
	"metadata.goog",
	"metadata.azure.internal",
	"instance-data",
	"instance-data.ec2.internal",
}
