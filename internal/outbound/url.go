package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrForbiddenURL is wrapped by every refusal of CheckURL; errors.As with
// *URLError gives the reason.
var ErrForbiddenURL = errors.New("outbound: URL not allowed")

// URLError tells why a URL was refused. It never holds the URL itself,
// which may carry a password or a token.
type URLError struct {
	// Reason is a sentence fit for the person who typed the URL.
	Reason string
	// Err is the address refusal when the host is an IP address or a
	// metadata name, so that errors.Is(err, ErrForbiddenAddress) holds.
	Err error
}

func (e *URLError) Error() string { return "outbound: URL refused: " + e.Reason }

// Unwrap gives ErrForbiddenURL and, for a refused address, the
// *AddressError.
func (e *URLError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrForbiddenURL, e.Err}
	}
	return []error{ErrForbiddenURL}
}

func urlErr(format string, args ...any) error {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// CheckURL checks an endpoint URL when it is saved, so that the person
// typing it learns at once what the dialer would refuse later: the scheme
// must be https (or http when AllowHTTP), the URL must hold no user
// information or fragment, the host must be a DNS name or an IP address in
// its canonical spelling (127.1, 2130706433 or 0x7f000001 are refused, as
// are zones), an IP address must pass CheckAddr, metadata names are
// refused, and an explicit port must be allowed. localhost names are
// judged as 127.0.0.1.
//
// A DNS name is not resolved here: what it resolves to when the request is
// made is checked then, by the dialer.
func (c *Config) CheckURL(u *url.URL) error {
	if u == nil {
		return urlErr("the URL is empty")
	}
	switch {
	case u.Opaque != "":
		return urlErr("the URL must be absolute, with a scheme and a host")
	case u.Scheme == "http" && !c.AllowHTTP:
		return urlErr("the URL must use https")
	case u.Scheme != "https" && u.Scheme != "http":
		if c.AllowHTTP {
			return urlErr("the URL must use https or http")
		}
		return urlErr("the URL must use https")
	case u.User != nil:
		return urlErr("the URL must not hold a user name or password")
	case u.Fragment != "":
		return urlErr("the URL must not hold a fragment (#…)")
	}
	host := u.Hostname()
	if host == "" {
		return urlErr("the URL names no host")
	}
	if strings.Contains(host, "%") {
		return urlErr("the host must not name a network interface")
	}

	port := defaultPort(u.Scheme)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != p {
			return urlErr("the port is not a number from 1 to 65535")
		}
		port = uint16(n)
	} else if strings.HasSuffix(u.Host, ":") {
		return urlErr("the port is not a number from 1 to 65535")
	}

	addr, err := netip.ParseAddr(host)
	if err == nil {
		if addr.Is4() && strings.HasPrefix(u.Host, "[") {
			return urlErr("the host is not a canonical IP address")
		}
	} else {
		if err := checkHostName(host); err != nil {
			return err
		}
		name := strings.ToLower(host)
		if isMetadataName(name) {
			return &URLError{Reason: "the host serves cloud instance metadata",
				Err: &AddressError{Host: host, Reason: "metadata"}}
		}
		if name != "localhost" && !strings.HasSuffix(name, ".localhost") {
			// Where the name leads is judged when it is dialled.
			if !slices.Contains(c.ports(), port) {
				return urlErr("port %d is not allowed", port)
			}
			return nil
		}
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if err := c.CheckAddr(netip.AddrPortFrom(addr, port)); err != nil {
		var ae *AddressError
		if errors.As(err, &ae) && ae.Reason == "port" {
			return &URLError{Reason: fmt.Sprintf("port %d is not allowed", port), Err: err}
		}
		return &URLError{Reason: "the host is not allowed: " + ae.Reason + " address", Err: err}
	}
	return nil
}

func defaultPort(scheme string) uint16 {
	if scheme == "http" {
		return 80
	}
	return 443
}

// checkHostName accepts a DNS name in ASCII (an international name in its
// xn-- form): labels of letters, digits and hyphens, not starting or ending
// with a hyphen, and a last label that is not numeric, so that numeric
// spellings of addresses that some resolvers accept (127.1, 2130706433,
// 0x7f000001, 0177.0.0.1) are refused rather than guessed at.
func checkHostName(host string) error {
	if len(host) > 253 {
		return urlErr("the host name is too long")
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return urlErr("the host is not a valid DNS name")
		}
		for i := 0; i < len(l); i++ {
			b := l[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return urlErr("the host is not a valid DNS name")
			}
		}
	}
	if isNumericLabel(labels[len(labels)-1]) {
		return urlErr("the host is not a canonical IP address or DNS name")
	}
	return nil
}

// isNumericLabel reports whether l reads as a number in decimal, octal or
// hexadecimal (0x…), as inet_aton reads the parts of an IPv4 address.
func isNumericLabel(l string) bool {
	s := strings.ToLower(l)
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		s = rest
		return strings.Trim(s, "0123456789abcdef") == ""
	}
	return strings.Trim(s, "0123456789") == ""
}
