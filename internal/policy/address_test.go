package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

func TestParseAddresses(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"none", nil, nil, ""},
		{"sorted, repeats dropped, IPv4-mapped unmapped", []string{" 203.0.113.7 ", "2001:db8::/32", "::ffff:198.51.100.0/120", "203.0.113.7/32"},
			[]string{"198.51.100.0/24", "203.0.113.7", "2001:db8::/32"}, ""},
		{"host bits", []string{"10.1.2.3/8"}, nil, "10.0.0.0/8"},
		{"a name", []string{"example.com"}, nil, "neither an IP address"},
		{"empty entry", []string{""}, nil, "empty"},
		{"zone", []string{"fe80::1%eth0"}, nil, "zone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := ParseAddresses("allowed_addresses", c.in)
			if c.err != "" {
				if keyward.ErrorCode(err) != keyward.EInvalid || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("%v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func TestAllowsFrom(t *testing.T) {
	cat := catalog.Builtin()
	open, err := Compile(cat, Spec{Permissions: keyward.Permissions{}})
	if err != nil {
		t.Fatal(err)
	}
	if open.Restricted() || !open.AllowsFrom(netip.Addr{}) {
		t.Fatal("a policy without an allowlist must allow any address, known or not")
	}
	p, err := Compile(cat, Spec{Permissions: keyward.Permissions{}, Addresses: []string{"203.0.113.0/24", "2001:db8::1"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"203.0.113.9": true, "::ffff:203.0.113.9": true, "2001:db8::1": true,
		"203.0.114.1": false, "2001:db8::2": false, "": false,
	} {
		var a netip.Addr
		if addr != "" {
			a = netip.MustParseAddr(addr)
		}
		if got := p.AllowsFrom(a); got != want {
			t.Errorf("AllowsFrom(%q) = %t, want %t", addr, got, want)
		}
	}
}

func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::ffff:1.2.3.4/128", "1.2.3.4/33", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, prefixes, err := ParseAddresses("allowed_addresses", []string{s})
		if err != nil {
			return
		}
		if len(out) != 1 || len(prefixes) != 1 {
			t.Fatalf("%q: %v %v", s, out, prefixes)
		}
		// The canonical form reads back as itself.
		again, _, err := ParseAddresses("allowed_addresses", out)
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("%q -> %v -> %v, %v", s, out, again, err)
		}
	})
}
