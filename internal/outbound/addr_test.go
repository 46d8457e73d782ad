package outbound

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	strict := &Config{}
	loopbackAllowed := &Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	tests := []struct {
		name   string
		cfg    *Config
		addr   string
		reason string // "" when allowed
	}{
		{"public v4", strict, "93.184.215.14:443", ""},
		{"public v6", strict, "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", ""},
		{"public v4 mapped in v6", strict, "[::ffff:93.184.215.14]:443", ""},
		{"NAT64 of a public v4", strict, "[64:ff9b::5db8:d70e]:443", ""},
		{"public v4 on a port not allowed", strict, "93.184.215.14:22", "port"},
		{"public v4 on port 80, https only", strict, "93.184.215.14:80", "port"},
		{"public v4 on port 80, http allowed", &Config{AllowHTTP: true}, "93.184.215.14:80", ""},
		{"public v4 on a port the operator lists", &Config{Ports: []uint16{8443}}, "93.184.215.14:8443", ""},
		{"listed ports replace 443", &Config{Ports: []uint16{8443}}, "93.184.215.14:443", "port"},

		{"loopback", strict, "127.0.0.1:443", "loopback"},
		{"loopback elsewhere in 127/8", strict, "127.255.0.9:443", "loopback"},
		{"loopback v6", strict, "[::1]:443", "loopback"},
		{"loopback mapped in v6", strict, "[::ffff:127.0.0.1]:443", "loopback"},
		{"loopback as NAT64", strict, "[64:ff9b::7f00:1]:443", "NAT64 to loopback"},
		{"private 10/8", strict, "10.1.2.3:443", "private"},
		{"private 172.16/12", strict, "172.31.255.255:443", "private"},
		{"just outside 172.16/12", strict, "172.32.0.1:443", ""},
		{"private 192.168/16", strict, "192.168.1.1:443", "private"},
		{"private mapped in v6", strict, "[::ffff:10.0.0.1]:443", "private"},
		{"private as NAT64", strict, "[64:ff9b::c0a8:101]:443", "NAT64 to private"},
		{"unique local v6", strict, "[fd12:3456::1]:443", "private"},
		{"unique local v6 fc", strict, "[fc00::1]:443", "private"},
		{"link-local", strict, "169.254.1.1:443", "link-local"},
		{"link-local v6", strict, "[fe80::1]:443", "link-local"},
		{"link-local v6 with a zone", strict, "[fe80::1%eth0]:443", "link-local"},
		{"metadata", strict, "169.254.169.254:80", "metadata"},
		{"metadata mapped in v6", strict, "[::ffff:169.254.169.254]:80", "metadata"},
		{"metadata as NAT64", strict, "[64:ff9b::a9fe:a9fe]:80", "NAT64 to metadata"},
		{"metadata AWS v6", strict, "[fd00:ec2::254]:80", "metadata"},
		{"metadata Alibaba", strict, "100.100.100.200:80", "metadata"},
		{"unspecified", strict, "0.0.0.0:443", "unspecified"},
		{"this network", strict, "0.1.2.3:443", "unspecified"},
		{"unspecified v6", strict, "[::]:443", "unspecified"},
		{"IPv4-compatible v6", strict, "[::7f00:1]:443", "reserved"},
		{"shared address space", strict, "100.64.0.1:443", "shared address space"},
		{"multicast", strict, "224.0.0.1:443", "multicast"},
		{"multicast v6", strict, "[ff02::1]:443", "multicast"},
		{"broadcast", strict, "255.255.255.255:443", "broadcast"},
		{"reserved 240/4", strict, "240.0.0.1:443", "reserved"},
		{"documentation", strict, "192.0.2.1:443", "documentation"},
		{"documentation v6", strict, "[2001:db8::1]:443", "documentation"},
		{"benchmarking", strict, "198.18.0.1:443", "benchmarking"},
		{"6to4", strict, "[2002:7f00:1::1]:443", "reserved"},
		{"Teredo", strict, "[2001:0:4136:e378::1]:443", "protocol assignments"},
		{"local-use NAT64", strict, "[64:ff9b:1::a00:1]:443", "reserved"},
		{"outside global unicast v6", strict, "[4000::1]:443", "reserved"},

		{"allowed loopback, any port", loopbackAllowed, "127.0.0.1:8080", ""},
		{"allowed loopback mapped in v6", loopbackAllowed, "[::ffff:127.0.0.1]:8080", ""},
		{"allowing 127/8 allows not ::1", loopbackAllowed, "[::1]:443", "loopback"},
		{"allowing 127/8 allows not its NAT64 form", loopbackAllowed, "[64:ff9b::7f00:1]:443", "NAT64 to loopback"},
		{"allowing 127/8 allows not 10/8", loopbackAllowed, "10.0.0.1:443", "private"},
		{"an allowed range written as IPv6", &Config{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}}, "127.0.0.1:8080", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := *tt.cfg
			err := cfg.CheckAddr(netip.MustParseAddrPort(tt.addr))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want allowed", tt.addr, err)
				}
				return
			}
			var ae *AddressError
			if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &ae) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrForbiddenAddress", tt.addr, err)
			}
			if ae.Reason != tt.reason {
				t.Errorf("CheckAddr(%s) reason %q, want %q", tt.addr, ae.Reason, tt.reason)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	strict := &Config{}
	httpOK := &Config{AllowHTTP: true}
	loopbackAllowed := &Config{AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	allowed := []struct {
		cfg *Config
		url string
	}{
		{strict, "https://hooks.example.com/keyward"},
		{strict, "https://hooks.example.com:443/keyward?store=1"},
		{strict, "https://HOOKS.Example.com/"},
		{strict, "https://xn--bcher-kva.example/"},
		{strict, "https://93.184.215.14/hook"},
		{strict, "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook"},
		{strict, "https://1password.com/"},
		{httpOK, "http://hooks.example.com/"},
		{loopbackAllowed, "http://127.0.0.1:8080/hook"},
		{loopbackAllowed, "http://localhost:8080/hook"},
	}
	for _, tt := range allowed {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.cfg.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v, want allowed", tt.url, err)
		}
	}

	refused := []struct {
		cfg       *Config
		url       string
		isAddress bool // the refusal also wraps ErrForbiddenAddress
	}{
		{strict, "http://hooks.example.com/", false},
		{strict, "ftp://hooks.example.com/", false},
		{strict, "file:///etc/passwd", false},
		{strict, "gopher://hooks.example.com/", false},
		{httpOK, "ws://hooks.example.com/", false},
		{strict, "https:hooks.example.com", false},
		{strict, "//hooks.example.com/", false},
		{strict, "/hook", false},
		{strict, "https:///hook", false},
		{strict, "https://user:pass@hooks.example.com/", false},
		{strict, "https://user@hooks.example.com/", false},
		{strict, "https://hooks.example.com/#frag", false},
		{strict, "https://hooks.example.com:8443/", false},
		{strict, "https://hooks.example.com:0443/", false},
		{strict, "https://hooks.example.com:/", false},
		{httpOK, "http://hooks.example.com:22/", false},
		{strict, "https://hooks_example.com/", false},
		{strict, "https://-hooks.example.com/", false},
		{strict, "https://hooks..example.com/", false},
		{strict, "https://hooks.example.com./", false},
		{strict, "https://bücher.example/", false},
		{strict, "https://127.1/", false},
		{strict, "https://2130706433/", false},
		{strict, "https://0x7f000001/", false},
		{strict, "https://0x7f.0.0.1/", false},
		{strict, "https://0177.0.0.1/", false},
		{strict, "https://127.0.0.01/", false},
		{strict, "https://[fe80::1%25eth0]/", false},
		{strict, "https://127.0.0.1/", true},
		{strict, "https://localhost/", true},
		{strict, "https://api.localhost/", true},
		{strict, "https://[::1]/", true},
		{strict, "https://[::ffff:127.0.0.1]/", true},
		{strict, "https://[::ffff:7f00:1]/", true},
		{strict, "https://[64:ff9b::7f00:1]/", true},
		{strict, "https://0.0.0.0/", true},
		{strict, "https://[::]/", true},
		{strict, "https://169.254.169.254/latest/meta-data/", true},
		{strict, "https://[::ffff:169.254.169.254]/", true},
		{strict, "https://metadata.google.internal/computeMetadata/v1/", true},
		{strict, "https://METADATA.google.internal/", true},
		{strict, "https://metadata/", true},
		{strict, "https://instance-data/", true},
		{strict, "https://10.0.0.1/", true},
		{strict, "https://172.16.0.1/", true},
		{strict, "https://192.168.0.1/", true},
		{strict, "https://100.64.0.1/", true},
		{strict, "https://[fc00::1]/", true},
		{strict, "https://[fd00:ec2::254]/", true},
		{strict, "https://[fe80::1]/", true},
		{strict, "https://224.0.0.1/", true},
		{strict, "https://255.255.255.255/", true},
		{loopbackAllowed, "http://10.0.0.1:8080/", true},
		{loopbackAllowed, "http://[::1]:8080/", true},
	}
	for _, tt := range refused {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Errorf("url.Parse(%s): %v; the case tests nothing", tt.url, err)
			continue
		}
		err = tt.cfg.CheckURL(u)
		var ue *URLError
		if !errors.Is(err, ErrForbiddenURL) || !errors.As(err, &ue) {
			t.Errorf("CheckURL(%s) = %v, want ErrForbiddenURL", tt.url, err)
			continue
		}
		if got := errors.Is(err, ErrForbiddenAddress); got != tt.isAddress {
			t.Errorf("CheckURL(%s) = %v: wraps ErrForbiddenAddress %v, want %v", tt.url, err, got, tt.isAddress)
		}
	}
}

func TestURLErrorHoldsNoSecret(t *testing.T) {
	u, _ := url.Parse("https://alice:s3cr3t-pass@10.0.0.1/hook?token=t0ken-value")
	err := (&Config{}).CheckURL(u)
	if err == nil {
		t.Fatal("CheckURL accepted a URL with a password")
	}
	for _, secret := range []string{"s3cr3t-pass", "t0ken-value", "alice"} {
		if msg := err.Error(); strings.Contains(msg, secret) {
			t.Errorf("error %q shows %q", msg, secret)
		}
	}
}
