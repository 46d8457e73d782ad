package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to dir, and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyward test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

var demoSignInRE = regexp.MustCompile(`sign-in:\s+(\S+) / (\S+)`)

// signInCookie signs in to the back office with the demo credentials the
// node printed and returns the session cookie set.
func signInCookie(t *testing.T, n *node, hc *http.Client, base string) *http.Cookie {
	t.Helper()
	m := demoSignInRE.FindStringSubmatch(n.out.String())
	if m == nil {
		t.Fatalf("no demo sign-in printed:\n%s", n.out.String())
	}
	res, err := hc.PostForm(base+"/signin", url.Values{"email": {m[1]}, "password": {m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "keyward_session") {
			return c
		}
	}
	t.Fatal("sign in set no session cookie")
	return nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestServeTLSDirectly(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	n := startNode(t, "--demo", "--data", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	base := "https://" + n.m.Listener.Addr().String()
	if !strings.Contains(n.out.String(), "keyward listening on "+base) || !strings.Contains(n.out.String(), "back office at "+base+"/signin") {
		t.Fatalf("the printed addresses are not https:\n%s", n.out.String())
	}
	hc := &http.Client{CheckRedirect: noRedirects, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := hc.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /signin over TLS: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	if ck := signInCookie(t, n, hc, base); ck.Name != "__Host-keyward_session" || !ck.Secure {
		t.Fatalf("session cookie over TLS: %+v", ck)
	}
	// Plain HTTP on the TLS port gets no page.
	if res, err := http.Get("http://" + n.m.Listener.Addr().String() + "/signin"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("the TLS listener served plain HTTP")
		}
	}
}

func TestPublicURLBehindATLSTerminatingProxy(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--public-url", "https://keys.example.com/")
	if !strings.Contains(n.out.String(), "back office at https://keys.example.com/signin") {
		t.Fatalf("the printed back-office link ignores --public-url:\n%s", n.out.String())
	}
	hc := &http.Client{CheckRedirect: noRedirects}
	res, err := hc.Get(n.url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS behind an https public address")
	}
	if ck := signInCookie(t, n, hc, n.url); ck.Name != "__Host-keyward_session" || !ck.Secure {
		t.Fatalf("session cookie behind an https public address: %+v", ck)
	}
	// Links keyward builds use the public address, not the Host header.
	op := regexp.MustCompile(`Operator token \(shown once; keep it safe\): (kwo_\S+)`).FindStringSubmatch(n.out.String())
	if op == nil {
		t.Fatalf("no operator token printed:\n%s", n.out.String())
	}
	status, out := n.call(op[1], "POST", "/operator/v1/tenants/demo/admins", map[string]any{"email": "first@demo.test"})
	if u, _ := out["sign_in_url"].(string); status != http.StatusCreated || !strings.HasPrefix(u, "https://keys.example.com/signin/link/") {
		t.Fatalf("tenant admin: %d, sign_in_url %q; want it under https://keys.example.com", status, out["sign_in_url"])
	}
}

func TestTrustedProxiesNameTheClientInTheAuditLog(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--trusted-proxies", "127.0.0.1/32")
	tok := n.adminToken()
	for _, tc := range []struct{ forwarded, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"6.6.6.6, 198.51.100.8", "198.51.100.8"},
	} {
		req, _ := http.NewRequest("POST", n.url+"/api/v1/keys", strings.NewReader(`{"name":"K`+strings.ReplaceAll(tc.want, ".", "")+`","permissions":{"orders":"read"}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", tc.forwarded)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create a key: %d", res.StatusCode)
		}
		_, out := n.call(tok, "GET", "/api/v1/audit", nil)
		data, _ := out["data"].([]any)
		if len(data) == 0 {
			t.Fatalf("no audit entries: %v", out)
		}
		if got := data[0].(map[string]any)["address"]; got != tc.want {
			t.Fatalf("X-Forwarded-For %q: the audit log says the change came from %v, want %s", tc.forwarded, got, tc.want)
		}
	}
}

func TestFrontSettingsAreChecked(t *testing.T) {
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	t.Setenv("KEYWARD_DATABASE_URL", "")
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	c, err := parseServe(t, "--trusted-proxies", "10.0.0.0/8, 192.168.1.5", "--public-url", "https://keys.example.com/", "--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 2 || c.PublicURL != "https://keys.example.com" || c.Certificate == nil || !c.HTTPS() {
		t.Fatalf("config %+v", c)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--trusted-proxies", "10.0.0.0/33"}, want: `--trusted-proxies: "10.0.0.0/33" is neither a CIDR`},
		{env: map[string]string{"KEYWARD_TRUSTED_PROXIES": "proxy.local"}, want: `--trusted-proxies: "proxy.local" is neither`},
		{args: []string{"--public-url", "keys.example.com"}, want: `--public-url "keys.example.com": use an http:// or https:// address`},
		{args: []string{"--public-url", "ftp://keys.example.com"}, want: `--public-url "ftp://keys.example.com"`},
		{args: []string{"--public-url", "https://keys.example.com/?a=b"}, want: `without a query`},
		{args: []string{"--gateway-public-url", "api.example.com"}, want: `--gateway-public-url "api.example.com": use an http:// or https:// address`},
		{args: []string{"--tls-cert", certFile}, want: "--tls-cert and --tls-key go together"},
		{args: []string{"--tls-cert", keyFile, "--tls-key", certFile}, want: "--tls-cert/--tls-key:"},
		{args: []string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", keyFile}, want: "--tls-cert/--tls-key:"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := parseServe(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The merchant portal's guide sends its requests to this node's gateway:
// --gateway-public-url, or else the address the gateway listens on; never
// a placeholder host.
func TestPortalGuideNamesTheGateway(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want func(*node) string
	}{
		{"listener", nil, func(n *node) string { return "http://" + n.m.gatewayListener.Addr().String() }},
		{"public", []string{"--gateway-public-url", "https://api.shop.test/"}, func(*node) string { return "https://api.shop.test" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startNode(t, append([]string{"--demo", "--data", t.TempDir()}, c.args...)...)
			m := regexp.MustCompile(`merchant:\s+(\S+) / (\S+)`).FindStringSubmatch(n.out.String())
			if m == nil {
				t.Fatalf("no merchant sign-in printed:\n%s", n.out.String())
			}
			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, CheckRedirect: noRedirects}
			res, err := hc.PostForm(n.url+"/signin", url.Values{"email": {m[1]}, "password": {m[2]}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			res, err = hc.Get(n.url + "/portal/api-settings")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := "export API=" + c.want(n) + "\n"
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) || strings.Contains(string(body), "example.com") {
				t.Fatalf("%d: want %q in the guide:\n%s", res.StatusCode, want, body)
			}
		})
	}
}
