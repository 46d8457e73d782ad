package httpx

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientAddrTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.168.1.5, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	trusting := Front{TrustedProxies: proxies}
	cases := []struct {
		name   string
		front  Front
		remote string
		header map[string][]string
		want   string
	}{
		{"no proxies configured: headers ignored", Front{}, "203.0.113.9:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer spoofing X-Forwarded-For", trusting, "203.0.113.9:5000",
			map[string][]string{"X-Forwarded-For": {"10.0.0.7, 198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer spoofing Forwarded", trusting, "203.0.113.9:5000",
			map[string][]string{"Forwarded": {"for=198.51.100.1"}}, "203.0.113.9"},
		{"trusted proxy names the client", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"client's forged entry left of the real one is skipped", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.1"}}, "198.51.100.1"},
		{"forged trusted-looking entry left of an untrusted hop", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"10.9.9.9, 198.51.100.1"}}, "198.51.100.1"},
		{"two trusted hops", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.1, 192.168.1.5"}}, "198.51.100.1"},
		{"header split over lines", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"6.6.6.6", "198.51.100.1, 10.1.1.1"}}, "198.51.100.1"},
		{"every hop trusted: the leftmost", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"10.3.3.3, 10.1.1.1"}}, "10.3.3.3"},
		{"trusted proxy without a header", trusting, "10.0.0.2:5000", nil, "10.0.0.2"},
		{"garbage entry stops at the last trusted hop", trusting, "10.0.0.2:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.1, not-an-ip"}}, "10.0.0.2"},
		{"Forwarded with quoted IPv6 and port", trusting, "[fd00::1]:5000",
			map[string][]string{"Forwarded": {`for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`}}, "2001:db8::1"},
		{"Forwarded unknown stops at the proxy", trusting, "10.0.0.2:5000",
			map[string][]string{"Forwarded": {"for=198.51.100.1, for=unknown"}}, "10.0.0.2"},
		{"X-Forwarded-For wins over Forwarded", trusting, "10.0.0.2:5000",
			map[string][]string{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"IPv4-mapped peer", trusting, "[::ffff:10.0.0.2]:5000",
			map[string][]string{"X-Forwarded-For": {"198.51.100.1:1234"}}, "198.51.100.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			var got string
			tc.front.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientAddr(r) })).
				ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("client address = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseProxiesRefusesGarbage(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8,nope"} {
		if _, err := ParseProxies(s); err == nil {
			t.Errorf("ParseProxies(%q) accepted it", s)
		}
	}
}

func TestIsHTTPSFollowsThePublicAddress(t *testing.T) {
	cases := []struct {
		name  string
		front Front
		tls   bool
		want  bool
	}{
		{"plain http, public http", Front{}, false, false},
		{"plain http behind a TLS-terminating proxy", Front{HTTPS: true}, false, true},
		{"TLS served directly", Front{}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			var got bool
			tc.front.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = IsHTTPS(r) })).
				ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("IsHTTPS = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBaseURLPrefersThePublicAddress(t *testing.T) {
	r := httptest.NewRequest("GET", "http://evil.example/x", nil)
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = BaseURL(r) })
	Front{PublicURL: "https://keys.example.com", HTTPS: true}.Wrap(h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "https://keys.example.com" {
		t.Fatalf("BaseURL with a public address = %q", got)
	}
	Front{}.Wrap(h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "http://evil.example" {
		t.Fatalf("BaseURL without a public address = %q", got)
	}
}
