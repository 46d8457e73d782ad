package outbound

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL feeds outside input to CheckURL: it must not panic, and
// what it accepts must be an https URL without user information whose host
// is a DNS name or an address that CheckAddr allows.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/keyward",
		"https://93.184.215.14/hook",
		"https://[::ffff:127.0.0.1]/",
		"https://127.1/",
		"https://0x7f000001/",
		"https://user:pass@hooks.example.com/",
		"https://metadata.google.internal/",
		"https://[fe80::1%25eth0]:443/",
		"http://hooks.example.com:80/",
		"https://hooks.example.com:0443/",
		"https://localhost./",
	} {
		f.Add(s)
	}
	cfg := &Config{}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		if err := cfg.CheckURL(u); err != nil {
			if strings.Contains(err.Error(), "://") {
				t.Fatalf("refusal %q shows a URL", err)
			}
			return
		}
		if u.Scheme != "https" || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q: scheme %q, user %v, opaque %q", s, u.Scheme, u.User, u.Opaque)
		}
		host := u.Hostname()
		if addr, err := netip.ParseAddr(host); err == nil {
			if err := cfg.CheckAddr(netip.AddrPortFrom(addr, 443)); err != nil {
				t.Fatalf("accepted %q with a refused address: %v", s, err)
			}
			return
		}
		if isMetadataName(host) || strings.EqualFold(host, "localhost") || host == "" {
			t.Fatalf("accepted %q with host %q", s, host)
		}
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			t.Fatalf("accepted %q with a bracketed host %q", s, host)
		}
	})
}
