package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// canary is an HTTP receiver that counts the connections it accepts, so a
// test can tell a refused dial from a refused request.
type canary struct {
	*httptest.Server
	conns atomic.Int64
}

// newCanary starts a receiver on ip (a loopback address) answering with h.
func newCanary(t *testing.T, ip string, h http.HandlerFunc, tls bool) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{Server: httptest.NewUnstartedServer(h)}
	c.Listener.Close()
	c.Listener = ln
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	if tls {
		c.StartTLS()
	} else {
		c.Start()
	}
	t.Cleanup(c.Close)
	return c
}

func (c *canary) port() uint16 {
	return netip.MustParseAddrPort(c.Listener.Addr().String()).Port()
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "received") }

// fakeDNS answers A queries from names and nothing else, on 127.0.0.1. Its
// Resolver sends every query there, as a hostile or rebinding DNS server
// would answer whatever it likes.
type fakeDNS struct {
	mu    sync.Mutex
	names map[string]netip.Addr // lower-case name without the final dot
}

func startFakeDNS(t *testing.T, names map[string]string) (*fakeDNS, *net.Resolver) {
	t.Helper()
	d := &fakeDNS{names: map[string]netip.Addr{}}
	for n, a := range names {
		d.names[n] = netip.MustParseAddr(a)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go d.serve(pc)
	addr := pc.LocalAddr().String()
	return d, &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "udp", addr)
		},
	}
}

func (d *fakeDNS) set(name, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names[name] = netip.MustParseAddr(addr)
}

func (d *fakeDNS) serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			pc.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query: the question echoed, and one A
// record when the name is known and the query asks for A.
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	end := i + 5 // the zero byte, QTYPE, QCLASS
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	d.mu.Lock()
	addr, known := d.names[strings.ToLower(strings.Join(labels, "."))]
	d.mu.Unlock()

	resp := append([]byte(nil), q[:end]...)
	resp[2], resp[3] = 0x81, 0x80 // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[8:], 0)
	binary.BigEndian.PutUint16(resp[10:], 0)
	if !known {
		resp[3] |= 3 // NXDOMAIN
		binary.BigEndian.PutUint16(resp[6:], 0)
		return resp
	}
	if qtype != 1 || !addr.Is4() {
		binary.BigEndian.PutUint16(resp[6:], 0)
		return resp
	}
	binary.BigEndian.PutUint16(resp[6:], 1)
	a := addr.As4()
	resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
	return append(resp, a[:]...)
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, c *Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func TestLocalReceiverOnlyWhenAllowed(t *testing.T) {
	recv := newCanary(t, "127.0.0.1", ok, false)

	strict := newClient(t, Config{AllowHTTP: true, Ports: []uint16{recv.port()}})
	_, err := get(t, strict, recv.URL+"/hook")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("GET %s without an allowed range: %v, want ErrForbiddenAddress", recv.URL, err)
	}
	if n := recv.conns.Load(); n != 0 {
		t.Fatalf("the receiver accepted %d connections while refused", n)
	}

	allowing := newClient(t, Config{AllowHTTP: true, Allow: loopback})
	resp, err := get(t, allowing, recv.URL+"/hook")
	if err != nil {
		t.Fatalf("GET %s with 127.0.0.0/8 allowed: %v", recv.URL, err)
	}
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "received" {
		t.Fatalf("got %d %q, want 200 received", resp.StatusCode, body)
	}
}

// A name resolving to a public address when an endpoint is saved may
// resolve to a loopback address when it is called. The URL check cannot
// see that; the dialer must.
func TestRebindingRefusedAtDial(t *testing.T) {
	recv := newCanary(t, "127.0.0.1", ok, false)
	dns, resolver := startFakeDNS(t, map[string]string{"hooks.example.com": "93.184.215.14"})
	hookURL := fmt.Sprintf("http://hooks.example.com:%d/hook", recv.port())
	cfg := Config{AllowHTTP: true, Ports: []uint16{recv.port()}, Resolver: resolver}
	c := newClient(t, cfg)
	u := mustParseURL(t, hookURL)
	if err := c.CheckURL(u); err != nil {
		t.Fatalf("CheckURL(%s) at save time: %v", hookURL, err)
	}

	dns.set("hooks.example.com", "127.0.0.1")
	_, err := get(t, c, hookURL)
	var ae *AddressError
	if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &ae) || ae.Reason != "loopback" {
		t.Fatalf("GET %s resolving to 127.0.0.1: %v, want a loopback refusal", hookURL, err)
	}
	if n := recv.conns.Load(); n != 0 {
		t.Fatalf("the receiver accepted %d connections", n)
	}

	cfg.Allow = loopback
	resp, err := get(t, newClient(t, cfg), hookURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s with 127.0.0.0/8 allowed: %v", hookURL, err)
	}
}

// The dialer refuses by itself, whatever checked the URL before: these
// requests go through the client's transport without CheckURL.
func TestDialerRefusesWithoutURLCheck(t *testing.T) {
	recv := newCanary(t, "127.0.0.1", ok, false)
	// A resolver answering the metadata name with an allowed address does
	// not lead there either.
	_, resolver := startFakeDNS(t, map[string]string{
		"metadata.google.internal": "127.0.0.1",
		"rebound.example.com":      "127.0.0.1",
	})
	strict := newClient(t, Config{AllowHTTP: true, Ports: []uint16{recv.port()}, Resolver: resolver})
	allowing := newClient(t, Config{AllowHTTP: true, Allow: loopback, Resolver: resolver})
	tests := []struct {
		name string
		c    *Client
		url  string
	}{
		{"loopback literal", strict, recv.URL},
		{"loopback mapped in v6", strict, fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", recv.port())},
		{"name resolving to loopback", strict, fmt.Sprintf("http://rebound.example.com:%d/", recv.port())},
		{"metadata name", allowing, fmt.Sprintf("http://metadata.google.internal:%d/", recv.port())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.c.hc.Get(tt.url)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("GET %s: %v, want ErrForbiddenAddress", tt.url, err)
			}
		})
	}
	if n := recv.conns.Load(); n != 0 {
		t.Fatalf("the receiver accepted %d connections", n)
	}
}

func TestHTTPSOnly(t *testing.T) {
	plain := newCanary(t, "127.0.0.1", ok, false)
	c := newClient(t, Config{Allow: loopback})
	_, err := get(t, c, plain.URL)
	if !errors.Is(err, ErrForbiddenURL) {
		t.Fatalf("GET %s with https only: %v, want ErrForbiddenURL", plain.URL, err)
	}
	if n := plain.conns.Load(); n != 0 {
		t.Fatalf("the receiver accepted %d connections", n)
	}

	secure := newCanary(t, "127.0.0.1", ok, true)
	// The test server's certificate is self-signed: refused unless trusted.
	_, err = get(t, c, secure.URL)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("GET to a self-signed certificate: %v, want a certificate verification error", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	tlsConfig := &tls.Config{RootCAs: roots}
	trusting := newClient(t, Config{Allow: loopback, TLS: tlsConfig})
	resp, err := get(t, trusting, secure.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s trusting its certificate: %v", secure.URL, err)
	}

	tlsConfig.InsecureSkipVerify = true
	if _, err := NewClient(Config{TLS: tlsConfig}); err == nil {
		t.Fatal("NewClient accepted InsecureSkipVerify")
	}
}

func TestRedirects(t *testing.T) {
	canaryLn := newCanary(t, "127.0.0.2", ok, false) // outside the allowed 127.0.0.1/32
	_, resolver := startFakeDNS(t, map[string]string{"rebound.example.com": "127.0.0.2"})
	redirectTo := func(target string) *canary {
		return newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}, false)
	}
	allowOne := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	ports := []uint16{80, 443, canaryLn.port()}

	t.Run("not followed by default", func(t *testing.T) {
		allowedTarget := newCanary(t, "127.0.0.1", ok, false)
		from := redirectTo(allowedTarget.URL)
		c := newClient(t, Config{AllowHTTP: true, Allow: allowOne})
		resp, err := get(t, c, from.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, want the 302 itself", resp.StatusCode)
		}
		if n := allowedTarget.conns.Load(); n != 0 {
			t.Fatalf("the redirect was followed: %d connections", n)
		}
	})

	refused := []struct {
		name   string
		target string
		want   error
	}{
		{"to a private address", "http://10.0.0.1/", ErrForbiddenAddress},
		{"to metadata", "http://169.254.169.254/latest/meta-data/", ErrForbiddenAddress},
		{"to a loopback address not allowed", canaryLn.URL, ErrForbiddenAddress},
		{"to a name resolving to one", fmt.Sprintf("http://rebound.example.com:%d/", canaryLn.port()), ErrForbiddenAddress},
		{"to a user and password", "http://user:pass@hooks.example.com/", ErrForbiddenURL},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			from := redirectTo(tt.target)
			c := newClient(t, Config{AllowHTTP: true, Allow: allowOne, Ports: ports, Resolver: resolver, MaxRedirects: 3})
			_, err := get(t, c, from.URL)
			if !errors.Is(err, tt.want) {
				t.Fatalf("redirect %s: %v, want %v", tt.target, err, tt.want)
			}
		})
	}
	if n := canaryLn.conns.Load(); n != 0 {
		t.Fatalf("a refused redirect reached 127.0.0.2: %d connections", n)
	}

	t.Run("https to http refused when http is not allowed", func(t *testing.T) {
		plain := newCanary(t, "127.0.0.1", ok, false)
		secure := newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, plain.URL, http.StatusFound)
		}, true)
		roots := x509.NewCertPool()
		roots.AddCert(secure.Certificate())
		c := newClient(t, Config{Allow: allowOne, TLS: &tls.Config{RootCAs: roots}, MaxRedirects: 3})
		_, err := get(t, c, secure.URL)
		if !errors.Is(err, ErrForbiddenURL) {
			t.Fatalf("redirect to %s: %v, want ErrForbiddenURL", plain.URL, err)
		}
		if n := plain.conns.Load(); n != 0 {
			t.Fatalf("the plain receiver accepted %d connections", n)
		}
	})

	t.Run("a chain longer than allowed", func(t *testing.T) {
		var loop *canary
		loop = newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loop.URL, http.StatusFound)
		}, false)
		c := newClient(t, Config{AllowHTTP: true, Allow: allowOne, MaxRedirects: 2})
		if _, err := get(t, c, loop.URL); err == nil {
			t.Fatal("an endless redirect chain succeeded")
		}
	})
}

func TestSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	headersLate := newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, false)
	bodyLate := newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, false)
	t.Cleanup(func() { close(release) }) // runs before the servers close

	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}

	// A listener that accepts connections and never speaks TLS.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var heldMu sync.Mutex
	t.Cleanup(func() {
		silent.Close()
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, conn := range held {
			conn.Close()
		}
	})
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
		}
	}()
	c := newClient(t, Config{Allow: loopback, TLSHandshakeTimeout: 50 * time.Millisecond})
	if _, err := get(t, c, "https://"+silent.Addr().String()+"/"); !isTimeout(err) {
		t.Fatalf("TLS handshake never answered: %v, want a timeout", err)
	}

	c = newClient(t, Config{AllowHTTP: true, Allow: loopback, ResponseHeaderTimeout: 50 * time.Millisecond})
	if _, err := get(t, c, headersLate.URL); !isTimeout(err) {
		t.Fatalf("headers never sent: %v, want a timeout", err)
	}

	c = newClient(t, Config{AllowHTTP: true, Allow: loopback, Timeout: time.Second})
	resp, err := get(t, c, bodyLate.URL)
	if err != nil {
		t.Fatalf("headers were sent: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); !isTimeout(err) {
		t.Fatalf("body never finished: %v, want a timeout", err)
	}
}

func TestBodyBounded(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	recv := newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/exact":
			io.WriteString(w, big[:1000])
		default:
			io.WriteString(w, big)
		}
	}, false)
	c := newClient(t, Config{AllowHTTP: true, Allow: loopback, MaxResponseBytes: 1000})

	resp, err := get(t, c, recv.URL+"/big")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, ErrResponseTooLarge) || len(body) != 1000 {
		t.Fatalf("reading 10000 bytes under a 1000-byte limit: %d bytes, %v; want 1000 and ErrResponseTooLarge", len(body), err)
	}

	resp, err = get(t, c, recv.URL+"/exact")
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || len(body) != 1000 {
		t.Fatalf("reading exactly the limit: %d bytes, %v", len(body), err)
	}

	tests := []struct {
		path, want string
		n          int64
		truncated  bool
	}{
		{"/exact", big[:1000], 1000, false},
		{"/exact", big[:100], 100, true},
		{"/big", big[:100], 100, true},
		{"/big", big[:1000], 5000, true}, // the client's limit comes first
	}
	for _, tt := range tests {
		resp, err := get(t, c, recv.URL+tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, truncated, err := ReadExcerpt(resp.Body, tt.n)
		if err != nil || string(got) != tt.want || truncated != tt.truncated {
			t.Errorf("ReadExcerpt(%s, %d) = %d bytes, truncated %v, %v; want %d bytes, truncated %v",
				tt.path, tt.n, len(got), truncated, err, len(tt.want), tt.truncated)
		}
	}
}

func TestNewClientRefusesInvalidConfig(t *testing.T) {
	_, err := NewClient(Config{
		Allow:            []netip.Prefix{{}},
		Ports:            []uint16{0},
		Timeout:          -time.Second,
		MaxResponseBytes: -1,
		MaxRedirects:     -1,
		TLS:              &tls.Config{InsecureSkipVerify: true},
	})
	if err == nil {
		t.Fatal("NewClient accepted an invalid config")
	}
	for _, want := range []string{"allowed range", "port 0", "timeout", "size limit", "redirect limit", "verification"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUserAgentAndErrorsWithoutURL(t *testing.T) {
	var gotUA atomic.Value
	recv := newCanary(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.UserAgent())
	}, false)
	c := newClient(t, Config{AllowHTTP: true, Allow: loopback, UserAgent: "keyward-webhooks/1"})
	if _, err := get(t, c, recv.URL); err != nil {
		t.Fatal(err)
	}
	if ua, _ := gotUA.Load().(string); ua != "keyward-webhooks/1" {
		t.Errorf("User-Agent %q, want keyward-webhooks/1", ua)
	}

	_, resolver := startFakeDNS(t, map[string]string{"hooks.example.com": "127.0.0.1"})
	strict := newClient(t, Config{AllowHTTP: true, Ports: []uint16{recv.port()}, Resolver: resolver})
	_, err := get(t, strict, fmt.Sprintf("http://hooks.example.com:%d/hook/s3cr3t?token=t0ken", recv.port()))
	if err == nil {
		t.Fatal("request to a loopback name succeeded")
	}
	for _, secret := range []string{"s3cr3t", "t0ken"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the URL's %q", err, secret)
		}
	}
}

// A proxy taken from HTTPS_PROXY would make the dialled address the
// proxy's, and the destination unchecked.
func TestNoProxyFromEnvironment(t *testing.T) {
	c := newClient(t, Config{})
	if tr, ok := c.hc.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatal("the transport may use a proxy")
	}
}

// The hostile URLs of an SSRF review, aimed at a loopback receiver: none
// reaches it, whether the URL check runs first (Client.Do) or not (the
// transport alone).
func TestHostileURLsReachNothing(t *testing.T) {
	recv := newCanary(t, "127.0.0.1", ok, false)
	p := recv.port()
	_, resolver := startFakeDNS(t, map[string]string{
		"metadata.google.internal": "127.0.0.1",
		"loopback.example.com":     "127.0.0.1",
		"zero.example.com":         "0.0.0.0",
		"private.example.com":      "10.0.0.1",
		"metadata.example.com":     "169.254.169.254",
		"cgnat.example.com":        "100.64.0.1",
	})
	c := newClient(t, Config{AllowHTTP: true, Ports: []uint16{p, 80, 443}, Resolver: resolver, DialTimeout: time.Second})
	hosts := []string{
		"127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
		"017700000001", "127.000.000.001", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
		"[0:0:0:0:0:ffff:127.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "0.0.0.0", "0", "[::]",
		"localhost", "LOCALHOST", "api.localhost", "metadata.google.internal", "169.254.169.254",
		"[::ffff:169.254.169.254]", "[64:ff9b::a9fe:a9fe]", "[fd00:ec2::254]", "10.0.0.1",
		"172.16.0.1", "192.168.0.1", "100.64.0.1", "[fc00::1]", "[fe80::1]", "224.0.0.1",
		"255.255.255.255", "loopback.example.com", "zero.example.com", "private.example.com",
		"metadata.example.com", "cgnat.example.com",
	}
	var urls []string
	for _, h := range hosts {
		urls = append(urls, fmt.Sprintf("http://%s:%d/", h, p), fmt.Sprintf("https://%s:%d/", h, p))
	}
	for _, u := range urls {
		if _, err := get(t, c, u); err == nil {
			t.Errorf("Do(%s) succeeded", u)
		}
		if resp, err := c.hc.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("transport GET %s succeeded", u)
		}
	}
	if n := recv.conns.Load(); n != 0 {
		t.Fatalf("%d hostile URLs, %d connections accepted by the receiver, want 0", len(urls), n)
	}
	t.Logf("%d hostile URLs, 0 connections accepted", len(urls))
}
