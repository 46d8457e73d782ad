package outproxy_test

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/connector/outproxy"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

var loopback = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}

type proxyEnv struct {
	svc   *service.Service
	srv   *httptest.Server
	h     *outproxy.Handler
	now   time.Time
	admin string // a personal access token holding every feature
	sys   context.Context
}

func newProxyEnv(t *testing.T, db *store.DB) *proxyEnv {
	t.Helper()
	ctx := context.Background()
	kr, _ := seal.ParseKeyring(seal.GenerateKey())
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(kr), service.WithOutbound(loopback))
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client, err := outbound.NewClient(loopback)
	if err != nil {
		t.Fatal(err)
	}
	e := &proxyEnv{svc: svc, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e.h = &outproxy.Handler{Svc: svc, Client: client, Now: func() time.Time { return e.now }}
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	ten, err := svc.TenantByDomain(ctx, demo.Domain)
	if err != nil {
		t.Fatal(err)
	}
	e.admin, e.sys = demo.Token, keyward.WithActor(ctx, service.SystemActor(ten, "test"))
	return e
}

func (e *proxyEnv) call(t *testing.T, token, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// A platform service calls Shopify through the proxy with its keyward
// token: the proxy sends the connection's access token, not the caller's
// credentials, and the answer comes back without the token.
func TestProxyAddsCredentialsAndStripsThem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newProxyEnv(t, db)
		f := connectortest.New(t, "shopify")
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatal(err)
		}
		res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json?limit=1",
			map[string]string{"X-Shopify-Access-Token": "caller-supplied", "Cookie": "a=b"})
		if res.StatusCode != 200 || !strings.Contains(body, `"orders"`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		if got := f.LastHeader.Get("X-Shopify-Access-Token"); got != connectortest.Token {
			t.Fatalf("the system got token %q", got)
		}
		if f.LastHeader.Get("Authorization") != "" || f.LastHeader.Get("Cookie") != "" || f.LastURL.Query().Get("limit") != "1" {
			t.Fatalf("forwarded %v %v", f.LastHeader, f.LastURL)
		}
		if strings.Contains(body, connectortest.Token) || res.Header.Get("X-Shopify-Access-Token") != "" {
			t.Fatalf("the answer carries the token: %v %s", res.Header, body)
		}
		if res.Header.Get("X-Keyward-Connection") != c.ID {
			t.Fatal("the answer does not name the connection")
		}

		// Refusals: no token, a profile without Connectors, a disabled
		// connection, another tenant's or an unknown id, a path with dot segments.
		if res, _ := e.call(t, "", "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 401 {
			t.Fatalf("no token: %d", res.StatusCode)
		}
		p, _ := e.svc.CreateProfile(e.sys, keyward.ProfileCreate{Name: "Keys only", Features: []keyward.Feature{keyward.FeatureAPIManagement}})
		u, _, err := e.svc.CreateUser(e.sys, keyward.UserCreate{Email: "keys@demo.test", ProfileID: p.ID, Password: "a long enough password 1"})
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := e.svc.CreateToken(e.sys, u.Email, keyward.TokenCreate{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if res, body := e.call(t, tok, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 403 || !strings.Contains(body, "feature_required") {
			t.Fatalf("without Connectors: %d %s", res.StatusCode, body)
		}
		calls := f.Calls()
		if res, _ := e.call(t, e.admin, "GET", "/connections/con_nope/x", nil); res.StatusCode != 404 {
			t.Fatalf("unknown connection: %d", res.StatusCode)
		}
		if res, _ := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/%2e%2e/secret", nil); res.StatusCode != 400 {
			t.Fatalf("dot segments: %d", res.StatusCode)
		}
		off := false
		if _, err := e.svc.UpdateConnection(e.sys, c.ID, keyward.ConnectionUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if res, _ := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/admin/api/2025-10/orders.json", nil); res.StatusCode != 403 {
			t.Fatalf("disabled: %d", res.StatusCode)
		}
		if f.Calls() != calls {
			t.Fatalf("refused requests reached the system: %d", f.Calls()-calls)
		}
	})
}

// A system compressing its answers cannot slip a credential past the
// proxy: an answer it compressed because keyward asked is read decoded and
// redacted, whatever the caller accepts; one compressed unasked, which
// keyward cannot redact, is refused.
func TestProxyRedactsCompressedAnswers(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	var unasked atomic.Value // the content coding to use whatever is asked; "" for none
	unasked.Store("")
	sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := `{"error": "token ` + r.Header.Get("X-Shopify-Access-Token") + ` lacks a scope"}`
		coding := unasked.Load().(string)
		if coding == "" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			coding = "gzip"
		}
		if coding == "" {
			io.WriteString(w, echo)
			return
		}
		w.Header().Set("Content-Encoding", coding)
		gz := gzip.NewWriter(w)
		io.WriteString(gz, echo)
		gz.Close()
	}))
	t.Cleanup(sys.Close)
	c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: sys.URL,
		Fields: connectortest.New(t, "shopify").Values()})
	if err != nil {
		t.Fatal(err)
	}
	path := "/connections/" + c.ID + "/admin/api/2025-10/orders.json"
	for _, accept := range []string{"", "gzip", "gzip, deflate, br"} {
		res, body := e.call(t, e.admin, "GET", path, map[string]string{"Accept-Encoding": accept})
		if res.StatusCode != 200 || strings.Contains(body, connectortest.Token) || !strings.Contains(body, "[redacted]") {
			t.Errorf("Accept-Encoding %q: %d %q", accept, res.StatusCode, body)
		}
		if ce := res.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("Accept-Encoding %q: the redacted answer is labelled %q", accept, ce)
		}
	}
	// keyward asks for gzip itself; any other coding is one it did not ask for.
	for _, coding := range []string{"br", "deflate"} {
		unasked.Store(coding)
		res, body := e.call(t, e.admin, "GET", path, map[string]string{"Accept-Encoding": coding})
		if res.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, connectortest.Token) {
			t.Errorf("compressed unasked with %s: %d %q", coding, res.StatusCode, body)
		}
	}
}

// Each system gets its credentials in its own form through the proxy.
func TestProxyAuthorizesEachSystem(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	for typ, check := range map[string]func(h http.Header) bool{
		"bigcommerce": func(h http.Header) bool { return h.Get("X-Auth-Token") == connectortest.Token },
		"mirakl":      func(h http.Header) bool { return h.Get("Authorization") == connectortest.Token },
		"recharge":    func(h http.Header) bool { return h.Get("X-Recharge-Access-Token") == connectortest.Token },
		"retailcrm":   func(h http.Header) bool { return h.Get("X-Api-Key") == connectortest.Token },
		"klaviyo":     func(h http.Header) bool { return h.Get("Authorization") == "Klaviyo-API-Key pk_"+connectortest.Token },
		"woocommerce": func(h http.Header) bool {
			u, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && u == "ck_"+connectortest.Token && p == "cs_"+connectortest.Secret
		},
		"retailexpress": func(h http.Header) bool { return h.Get("X-Api-Key") == connectortest.Token },
	} {
		f := connectortest.New(t, typ)
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: typ, Name: typ, APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		e.call(t, e.admin, "GET", "/connections/"+c.ID+"/some/path", nil)
		if !check(f.LastHeader) {
			t.Errorf("%s: the system got %v", typ, f.LastHeader)
		}
		if f.LastURL.Path != "/some/path" {
			t.Errorf("%s: path %s", typ, f.LastURL.Path)
		}
	}
}

// Retail Express data calls need a bearer token besides the API key: the
// proxy gets one, keeps it until it runs out, and never hands it out.
func TestProxyKeepsRetailExpressSession(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	f := connectortest.New(t, "retailexpress")
	c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "retailexpress", Name: "REX", APIURL: f.URL, Fields: f.Values()})
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	for range 2 {
		res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/v2.1/outlets?page_size=1", nil)
		if res.StatusCode != 200 || !strings.Contains(body, "Fake Outlet") {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	}
	if n := f.Calls() - calls; n != 3 {
		t.Fatalf("%d calls for two requests, want one token call and two data calls", n)
	}
	res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/v2/auth/token", nil)
	if res.StatusCode != 200 || strings.Contains(body, "rex-bearer") || !strings.Contains(body, "[redacted]") {
		t.Fatalf("the token call through the proxy: %d %s", res.StatusCode, body)
	}
}

// Fortnox access tokens last an hour and refresh tokens work once: the
// proxy gets a fresh access token, stores the rotated refresh token at
// once, reuses the token until shortly before it runs out, then refreshes
// with the stored one.
func TestProxyRefreshesFortnoxTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newProxyEnv(t, db)
		f := connectortest.New(t, "fortnox")
		c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "fortnox", Name: "Books", APIURL: f.URL, Fields: f.Values()})
		if err != nil {
			t.Fatal(err)
		}
		calls := f.Calls()
		for range 2 {
			if res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/3/companyinformation", nil); res.StatusCode != 200 || !strings.Contains(body, "Fake AB") {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
		}
		if n := f.Calls() - calls; n != 3 {
			t.Fatalf("%d calls for two requests, want one refresh and two data calls", n)
		}
		if got, _ := e.svc.RevealConnectionSecret(e.sys, c.ID, "refresh_token"); got != f.RefreshToken() {
			t.Fatalf("stored refresh token %q, the system's current one %q", got, f.RefreshToken())
		}
		e.now = e.now.Add(time.Hour)
		if res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/3/companyinformation", nil); res.StatusCode != 200 {
			t.Fatalf("an hour later: %d %s", res.StatusCode, body)
		}
		if n := f.Calls() - calls; n != 5 {
			t.Fatalf("%d calls, want a second refresh", n)
		}
		if got, _ := e.svc.RevealConnectionSecret(e.sys, c.ID, "refresh_token"); got != f.RefreshToken() {
			t.Fatalf("after the second refresh: stored %q, current %q", got, f.RefreshToken())
		}
		if v, err := e.svc.VerifyConnection(e.sys, c.ID); err != nil || !v.OK() {
			t.Fatalf("verify after the proxy's refreshes: %+v, %v", v, err)
		}
	})
}

// odd are characters every escaping changes, added to the secrets the
// echo test connects with where the type's checks allow.
const odd = `/+=&"<>%?#'\é`

// An external system echoing back everything it received, in every
// encoding and in every place of its answer (header names and values,
// Set-Cookie, Location, Link, a trailer, a gzip body flushed in pieces
// that split each value), hands the caller no form of a credential, for
// every type of connection; what carries none comes back as it was.
func TestProxyRedactsEchoedCredentials(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	for _, typ := range connector.Types() {
		t.Run(typ.ID, func(t *testing.T) {
			f := connectortest.New(t, typ.ID)
			sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/echo" {
					f.ServeHTTP(w, r) // sessions: Retail Express's token call
					return
				}
				echo(w, r)
			}))
			t.Cleanup(sys.Close)
			values := f.Values()
			if !typ.HasSession() {
				for _, name := range typ.SecretFields() {
					if values[name] != "" {
						values[name] += odd
					}
				}
			}
			c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: typ.ID, Name: typ.ID, APIURL: sys.URL, Fields: values, SaveUnverified: true})
			if err != nil {
				t.Fatal(err)
			}
			res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/echo?limit=5&note=2024-10-15", nil)
			if res.StatusCode != 200 || !strings.Contains(body, "limit=5&note=2024-10-15") {
				t.Fatalf("%d %.300s", res.StatusCode, body)
			}
			secrets := []string{f.AccessToken(), "rex-bearer"}
			for _, name := range typ.SecretFields() {
				secrets = append(secrets, values[name])
			}
			var answer strings.Builder
			for name, vs := range res.Header {
				fmt.Fprintf(&answer, "%s: %s\n", name, strings.Join(vs, ", "))
			}
			for name, vs := range res.Trailer {
				fmt.Fprintf(&answer, "%s: %s\n", name, strings.Join(vs, ", "))
			}
			answer.WriteString(body)
			if s, ok := exposes(answer.String(), secrets); ok {
				t.Fatalf("the caller got %q:\n%.3000s", s, answer.String())
			}
		})
	}
}

// echo answers with every header and the query the request carried, each
// in many encodings, in headers and a gzip body flushed mid-value.
func echo(w http.ResponseWriter, r *http.Request) {
	items := []string{r.URL.RawQuery, r.URL.Path}
	for name, vs := range r.Header {
		for _, v := range vs {
			items = append(items, v, name+": "+v)
		}
	}
	jsonOf := func(s string) string { b, _ := json.Marshal(s); return strings.Trim(string(b), `"`) }
	var forms []string
	for _, s := range items {
		forms = append(forms, s, strings.ToUpper(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
			base64.URLEncoding.EncodeToString([]byte("x"+s)), base64.RawStdEncoding.EncodeToString([]byte("xy"+s)),
			url.QueryEscape(s), url.PathEscape(s), strings.ToLower(url.QueryEscape(s)), url.QueryEscape(url.QueryEscape(s)),
			jsonOf(s), strings.ReplaceAll(jsonOf(s), "/", `\/`), html.EscapeString(s), url.QueryEscape(jsonOf(s)))
	}
	h := w.Header()
	h.Set("Trailer", "X-Echo-Trailer")
	for i, s := range forms {
		h.Add(fmt.Sprintf("X-Echo-%d", i), s)
		if len(s) < 200 && !strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune(tokenChars, r) }) {
			h.Add("X-"+s, "1") // the value as a header name
		}
		h.Add("Set-Cookie", "echo"+strconv.Itoa(i)+"="+url.QueryEscape(s))
		h.Add("Location", "/next?v="+url.QueryEscape(s))
		h.Add("Link", "</page?v="+url.QueryEscape(s)+`>; rel="next"`)
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	for _, s := range items { // in the body alone: UTF-16LE, as a caller may ask for
		for _, u := range utf16.Encode([]rune(s)) {
			gz.Write([]byte{byte(u), byte(u >> 8)})
		}
	}
	for _, s := range forms {
		io.WriteString(gz, `{"echo": "`+s[:len(s)/2])
		gz.Flush()
		w.(http.Flusher).Flush()
		io.WriteString(gz, s[len(s)/2:]+"\"}\n")
	}
	gz.Close()
	h.Set("X-Echo-Trailer", strings.Join(items, " "))
}

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// lowerASCII lower-cases ASCII letters alone, as header names are cased.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// exposes reports whether text holds one of secrets, in any ASCII case,
// as it is or undone of up to three layers of percent-encoding, JSON and
// HTML escapes, UTF-16 and base64 (at any offset); it is written apart from the
// redactor, as the caller reading an answer would decode it.
func exposes(text string, secrets []string) (string, bool) {
	jsonEsc := regexp.MustCompile(`\\u[0-9a-fA-F]{4}|\\.`)
	b64run := regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}`)
	undo := []func(string) string{
		func(s string) string {
			if u, err := url.QueryUnescape(s); err == nil {
				return u
			}
			return lenientUnescape(s)
		},
		func(s string) string {
			return jsonEsc.ReplaceAllStringFunc(s, func(m string) string {
				if u, err := strconv.Unquote(`"` + m + `"`); err == nil {
					return u
				}
				return m[1:]
			})
		},
		html.UnescapeString,
		func(s string) string { return strings.ReplaceAll(s, "\x00", "") }, // UTF-16 of ASCII
		func(s string) string {
			var out strings.Builder
			for _, run := range b64run.FindAllString(s, -1) {
				run = strings.NewReplacer("-", "+", "_", "/").Replace(run)
				for off := range 4 {
					part := run[off:]
					part = part[:len(part)/4*4]
					if d, err := base64.StdEncoding.DecodeString(part); err == nil {
						out.Write(d)
						out.WriteByte('\n')
					}
				}
			}
			return out.String()
		},
	}
	texts := []string{text}
	for range 3 {
		for _, t := range texts {
			for _, u := range undo {
				if d := u(t); d != t {
					texts = append(texts, d)
				}
			}
		}
	}
	for _, t := range texts {
		for _, s := range secrets {
			if len(s) >= 6 && strings.Contains(lowerASCII(t), lowerASCII(s)) {
				return s, true
			}
		}
	}
	return "", false
}

// lenientUnescape decodes the valid %XX escapes of s and keeps the rest.
func lenientUnescape(s string) string {
	return regexp.MustCompile(`%[0-9a-fA-F]{2}`).ReplaceAllStringFunc(s, func(m string) string {
		b, _ := strconv.ParseUint(m[1:], 16, 8)
		return string([]byte{byte(b)})
	})
}

// A caller cannot fetch an echoed credential piece by piece with Range
// requests, each piece too short to be recognised: the proxy asks for
// the whole answer and redacts it.
func TestProxyAnswersWholeToRangeRequests(t *testing.T) {
	e := newProxyEnv(t, storetest.Open(t, store.SQLite))
	sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := `{"debug": "received token ` + r.Header.Get("X-Shopify-Access-Token") + `"}`
		http.ServeContent(w, r, "echo.json", time.Time{}, strings.NewReader(doc))
	}))
	t.Cleanup(sys.Close)
	c, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "shopify", Name: "Shop", APIURL: sys.URL,
		Fields: connectortest.New(t, "shopify").Values(), SaveUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	var pieced strings.Builder
	for at := 0; at < 80; at += 5 {
		res, body := e.call(t, e.admin, "GET", "/connections/"+c.ID+"/echo.json",
			map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", at, at+4)})
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"debug"`) {
			t.Fatalf("Range from %d: %d %q", at, res.StatusCode, body)
		}
		pieced.WriteString(body)
	}
	if strings.Contains(pieced.String(), connectortest.Token) {
		t.Fatal("the pieces make up the token")
	}
}
