package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/demoapi"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// clientFrom is an HTTP client whose connections come from the loopback
// address local, so that a test can tell a client from the proxy in front
// of keyward (127.0.0.1).
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// call sends a GET with headers and returns the status and problem.
func call(t *testing.T, hc *http.Client, target string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// clientAddr is the client address a problem names.
func clientAddr(problem map[string]any) any {
	d, _ := problem["details"].(map[string]any)
	return d["client_address"]
}

// spoofed are the headers a client sends to pass for an allowed address.
var spoofed = map[string]string{"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Real-Ip": "203.0.113.7"}

func withHeaders(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Through each documented proxy configuration, with keyward trusting the
// proxy (127.0.0.1) and the client on 127.0.0.2: a key or merchant
// credential limited to other addresses is refused 403 IP_NOT_ALLOWED,
// whatever X-Forwarded-For or Forwarded the client sends, and one allowing
// the client's address passes.
func TestRealProxiesRefuseOutsideAllowlist(t *testing.T) {
	for _, name := range []string{"nginx", "caddy", "haproxy"} {
		t.Run(name, func(t *testing.T) {
			b := newProxyBench(t, storetest.Open(t, store.SQLite), netip.MustParsePrefix("127.0.0.1/32"))
			listen := keywardtest.FreeAddr(t)
			b.startProxy(t, name, listen)
			base := "http://" + listen
			perms := keyward.Permissions{"orders": "read"}
			here := b.CreateKey(keyward.KeyCreate{Name: "Here", Permissions: perms, AllowedAddresses: []string{"127.0.0.2", "2001:db8::/32"}})
			away := b.CreateKey(keyward.KeyCreate{Name: "Away", Permissions: perms, AllowedAddresses: []string{"203.0.113.0/24"}})
			mu := b.MerchantUser("Acme Couriers", "ops@acme.test")
			patch := []string{"203.0.113.0/24"}
			if _, err := b.Svc.UpdateMerchantUser(b.Ctx, mu.MerchantID, mu.ID, keyward.MerchantUserUpdate{AllowedAddresses: &patch}); err != nil {
				t.Fatal(err)
			}
			basic := func() string {
				r, _ := http.NewRequest("GET", "/", nil)
				r.SetBasicAuth(mu.AccountID, mu.AuthKey)
				return r.Header.Get("Authorization")
			}()
			hc := clientFrom("127.0.0.2")
			target := base + "/api/v5/orders?store=main"
			if status, out := call(t, hc, target, map[string]string{"X-API-Key": here.Secrets[0].Secret}); status != 200 {
				t.Fatalf("a key allowing the client's address: %d %v", status, out)
			}
			refusals := []struct {
				name    string
				target  string
				headers map[string]string
			}{
				{"a key limited to other addresses", target, map[string]string{"X-API-Key": away.Secrets[0].Secret}},
				{"the same with a forged X-Forwarded-For, Forwarded and X-Real-IP", target, withHeaders(spoofed, map[string]string{"X-API-Key": away.Secrets[0].Secret})},
				{"a merchant credential limited to other addresses", base + "/api/v5/jobs", withHeaders(spoofed, map[string]string{"Authorization": basic})},
			}
			for _, c := range refusals {
				before := b.count()
				status, out := call(t, hc, c.target, c.headers)
				if status != 403 || out["code"] != keyward.CodeIPNotAllowed || clientAddr(out) != "127.0.0.2" {
					t.Errorf("%s: %d %v, want 403 %s for 127.0.0.2", c.name, status, out, keyward.CodeIPNotAllowed)
				}
				if b.count() != before {
					t.Errorf("%s: the request reached the API", c.name)
				}
			}
		})
	}
}

// Forward-auth asked directly by a peer that is not a trusted proxy reads
// the client as that peer: X-Forwarded-For and Forwarded naming an allowed
// address are ignored.
func TestForwardAuthIgnoresUntrustedForwarding(t *testing.T) {
	b := newProxyBench(t, storetest.Open(t, store.SQLite), netip.MustParsePrefix("10.0.0.0/8"))
	away := b.CreateKey(keyward.KeyCreate{Name: "Away", Permissions: keyward.Permissions{"orders": "read"}, AllowedAddresses: []string{"203.0.113.0/24"}})
	h := withHeaders(spoofed, map[string]string{"X-API-Key": away.Secrets[0].Secret, "X-Original-Method": "GET", "X-Original-Uri": "/api/v5/orders?store=main"})
	status, out := call(t, clientFrom("127.0.0.2"), "http://"+b.authzAddr+gateway.AuthzHAProxy, h)
	if status != 403 || out["code"] != keyward.CodeIPNotAllowed || clientAddr(out) != "127.0.0.2" {
		t.Fatalf("a forged X-Forwarded-For from an untrusted peer: %d %v", status, out)
	}
}

// The gateway reads the client behind --trusted-proxies only: from an
// untrusted peer a forged X-Forwarded-For never passes an allowlist and
// is replaced by the peer's address upstream; from a trusted proxy the
// client it names is checked and the peer is appended.
func TestGatewayAllowlistAndForwardedFor(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "untrusted peer", true: "trusted proxy"}[trusted], func(t *testing.T) {
			p := keywardtest.New(t, storetest.Open(t, store.SQLite))
			key := []byte(strings.Repeat("k", 32))
			api := demoapi.New(demoapi.Options{IdentityKey: key})
			seen := make(chan string, 10)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got := strings.Join(r.Header.Values("X-Forwarded-For"), ", ")
				for _, name := range []string{"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Forwarded"} {
					if v := r.Header.Get(name); v != "" {
						got += " and the client's " + name + " " + v
					}
				}
				seen <- got
				api.ServeHTTP(w, r)
			}))
			t.Cleanup(up.Close)
			u, _ := url.Parse(up.URL)
			var proxies []netip.Prefix
			if trusted {
				proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")}
			}
			gw, err := gateway.NewProxy(gateway.ProxyConfig{Upstream: u, Replica: p.Rep, IdentityKey: key, TrustedProxies: proxies})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gw)
			t.Cleanup(srv.Close)
			perms := keyward.Permissions{"orders": "read"}
			away := p.CreateKey(keyward.KeyCreate{Name: "Away", Permissions: perms, AllowedAddresses: []string{"203.0.113.0/24"}})
			here := p.CreateKey(keyward.KeyCreate{Name: "Here", Permissions: perms, AllowedAddresses: []string{"127.0.0.2"}})
			hc := clientFrom("127.0.0.2")
			target := srv.URL + "/api/v5/orders?store=main"
			forged := map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7", "True-Client-IP": "203.0.113.7", "X-Client-IP": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
			status, out := call(t, hc, target, withHeaders(forged, map[string]string{"X-API-Key": away.Secrets[0].Secret}))
			if trusted {
				if status != 200 || <-seen != "203.0.113.7, 127.0.0.2" {
					t.Fatalf("the client a trusted proxy names: %d %v", status, out)
				}
				return
			}
			if status != 403 || out["code"] != keyward.CodeIPNotAllowed || clientAddr(out) != "127.0.0.2" {
				t.Fatalf("a forged X-Forwarded-For: %d %v", status, out)
			}
			if status, out := call(t, hc, target, withHeaders(forged, map[string]string{"X-API-Key": here.Secrets[0].Secret})); status != 200 {
				t.Fatalf("the client's own address: %d %v", status, out)
			}
			if got := <-seen; got != "127.0.0.2" {
				t.Fatalf("the upstream saw X-Forwarded-For %q, want the peer's address alone and no other address header", got)
			}
		})
	}
}

// POST /v1/verify checks the key's allowlist against the client address
// it is given, and refuses a key with one when none is given.
func TestVerifyClientAddress(t *testing.T) {
	p := keywardtest.New(t, storetest.Open(t, store.SQLite))
	k := p.CreateKey(keyward.KeyCreate{Name: "Office", Permissions: keyward.Permissions{"orders": "read"}, AllowedAddresses: []string{"203.0.113.0/24", "2001:db8::/32"}})
	v := &gateway.Verifier{Replica: p.Rep}
	for _, c := range []struct {
		client, code string
	}{
		{"203.0.113.9", keyward.CodeValid},
		{"2001:db8::5", keyward.CodeValid},
		{"::ffff:203.0.113.9", keyward.CodeValid},
		{"198.51.100.1", keyward.CodeIPNotAllowed},
		{"", keyward.CodeIPNotAllowed},
	} {
		out, err := v.Decide(context.Background(), gateway.VerifyRequest{Key: k.Secrets[0].Secret, Method: "orders.list", Store: "main", ClientAddress: c.client})
		if err != nil || out.Code != c.code {
			t.Errorf("client %q: %+v, %v; want %s", c.client, out, err, c.code)
		}
	}
	_, err := v.Decide(context.Background(), gateway.VerifyRequest{Key: k.Secrets[0].Secret, Method: "orders.list", Store: "main", ClientAddress: "somewhere"})
	if keyward.ErrorCode(err) != keyward.EInvalid {
		t.Fatalf("client_address \"somewhere\": %v", err)
	}
}

// Envoy's gRPC service believes the source address Envoy reports, and a
// forwarded client behind it, only when Envoy is a trusted proxy;
// otherwise the client is Envoy itself.
func TestEnvoyGRPCClientAddress(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(map[bool]string{true: "trusted", false: "untrusted"}[trusted], func(t *testing.T) {
			p := keywardtest.New(t, storetest.Open(t, store.SQLite))
			var proxies []netip.Prefix
			if trusted {
				proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
			a, err := gateway.NewAuthz(gateway.AuthzConfig{Replica: p.Rep, IdentityKey: authzIdentityKey, TrustedProxies: proxies})
			if err != nil {
				t.Fatal(err)
			}
			k := p.CreateKey(keyward.KeyCreate{Name: "Office", Permissions: keyward.Permissions{"orders": "read"}, AllowedAddresses: []string{"198.51.100.0/24"}})
			res, err := serveEnvoy(t, a).Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: "198.51.100.4"}}}},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: "GET", Path: "/api/v5/orders?store=main", Headers: map[string]string{"x-api-key": k.Secrets[0].Secret},
				}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if allowed := res.GetOkResponse() != nil; allowed != trusted {
				t.Fatalf("allowed %t, want %t: %v", allowed, trusted, res)
			}
			if !trusted && !strings.Contains(res.GetDeniedResponse().GetBody(), `"client_address":"127.0.0.1"`) {
				t.Fatalf("refusal: %v", res.GetDeniedResponse().GetBody())
			}
		})
	}
}
