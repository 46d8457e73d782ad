package policy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// MaxAddresses bounds a credential's address allowlist.
const MaxAddresses = 100

// ParseAddresses reads an address allowlist: each entry an IPv4 or IPv6
// address or a CIDR range, which field names in errors. It returns the
// entries in canonical form (an address as itself, a range with its
// network address) sorted and without repeats, and the ranges to match
// against. A range with bits set past its prefix is refused rather than
// widened: "10.1.2.3/8" more likely means a typing slip than 10.0.0.0/8.
func ParseAddresses(field string, entries []string) ([]string, []netip.Prefix, error) {
	if len(entries) > MaxAddresses {
		return nil, nil, keyward.Invalid(field, "at most %d addresses or ranges; use wider CIDR ranges", MaxAddresses)
	}
	var prefixes []netip.Prefix
	for _, e := range entries {
		p, err := parseAddress(strings.TrimSpace(e))
		if err != nil {
			return nil, nil, keyward.Invalid(field, "%s", err.Error())
		}
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, netip.Prefix.Compare)
	prefixes = slices.Compact(prefixes)
	if len(prefixes) == 0 {
		return nil, nil, nil
	}
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out, prefixes, nil
}

type addressError string

func (e addressError) Error() string { return string(e) }

func parseAddress(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, addressError("an entry is empty; give an address such as 203.0.113.7 or a range such as 203.0.113.0/24")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, addressError(quoteEntry(s) + " has a zone; give the address without %zone")
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, addressError(quoteEntry(s) + " is neither an IP address such as 203.0.113.7 or 2001:db8::1 nor a CIDR range such as 203.0.113.0/24")
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, addressError(quoteEntry(s) + " has bits set past its prefix length; the range is " + m.String() +
			", or give the single address " + p.Addr().String())
	}
	return p, nil
}

func quoteEntry(s string) string {
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return `"` + s + `"`
}

// Restricted reports whether the credential may be used only from the
// addresses of its allowlist.
func (p *Policy) Restricted() bool { return len(p.addrs) > 0 }

// AllowsFrom reports whether a request from client may use the
// credential: always when it has no allowlist; else when client is in one
// of its ranges. An invalid client (the address is unknown) is allowed
// only without an allowlist.
func (p *Policy) AllowsFrom(client netip.Addr) bool {
	if len(p.addrs) == 0 {
		return true
	}
	if !client.IsValid() {
		return false
	}
	client = client.Unmap().WithZone("")
	for _, r := range p.addrs {
		if r.Contains(client) {
			return true
		}
	}
	return false
}
