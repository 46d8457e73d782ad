package connector_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/outbound"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// loopbackClient is the outbound client with 127.0.0.1 allowed, as an
// operator would allow a range, so the fakes can be reached.
func loopbackClient(t *testing.T) *outbound.Client {
	t.Helper()
	c, err := outbound.NewClient(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verify normalises values for typ and runs its probe against url.
func verify(t *testing.T, d connector.Doer, typ, url string, values map[string]string, scopes []string) connector.Result {
	t.Helper()
	ty, ok := connector.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	u, v, sc, err := ty.Normalize(url, values, scopes)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	return ty.Verify(context.Background(), d, connector.Creds{APIURL: u, Values: v, RequiredScopes: sc}, now)
}

// scenario is one answer a type's fake gives and the outcome it must map to.
type scenario struct {
	name    string
	setup   func(f *connectortest.Fake, values map[string]string, url *string) // may change the fake, the values or the URL
	scopes  []string
	want    keyward.Outcome
	missing []string // for insufficient_scope
	retry   int      // for rate_limited
	account string   // for ok
	say     string   // a phrase the message must hold
}

func bad(f *connectortest.Fake, v map[string]string, _ *string) {
	for k, b := range f.BadValues() {
		v[k] = b
	}
}
func limited(f *connectortest.Fake, _ map[string]string, _ *string) { f.Limited = true }
func locked(f *connectortest.Fake, _ map[string]string, _ *string)  { f.Locked = true }
func grant(scopes ...string) func(f *connectortest.Fake, _ map[string]string, _ *string) {
	return func(f *connectortest.Fake, _ map[string]string, _ *string) { f.Granted = scopes }
}

// Every type against its fake: success, wrong credentials, a missing
// scope, rate limiting and a wrong host, and the traps of each system.
func TestEveryTypeAgainstItsFake(t *testing.T) {
	cases := map[string][]scenario{
		"shopify": {
			{name: "ok", scopes: []string{"read_orders", "read_products"}, want: keyward.OutcomeOK, account: "Fake Shop"},
			{name: "bad token", setup: bad, want: keyward.OutcomeInvalidCredentials, say: "access token"},
			{name: "missing scope", scopes: []string{"read_orders", "write_orders", "read_customers"}, want: keyward.OutcomeInsufficientScope, missing: []string{"write_orders", "read_customers"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
			{name: "frozen shop", setup: locked, want: keyward.OutcomeAccountLocked, say: "unpaid"},
		},
		"magento": {
			{name: "ok", scopes: []string{"Magento_Sales::sales"}, want: keyward.OutcomeOK, account: "https://shop.example.com/"},
			// A wrong token and a missing Magento_Backend::store answer alike.
			{name: "bad token", setup: bad, want: keyward.OutcomeInvalidCredentials, say: "standalone Bearer"},
			{name: "no store resource", setup: grant("Magento_Sales::sales"), want: keyward.OutcomeInvalidCredentials, say: "Magento_Backend::store"},
			{name: "missing resource", scopes: []string{"Magento_Sales::sales", "Magento_Catalog::products"}, want: keyward.OutcomeInsufficientScope, missing: []string{"Magento_Catalog::products"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
			{name: "wrong store code", setup: func(_ *connectortest.Fake, v map[string]string, _ *string) { v["store_code"] = "nope" }, want: keyward.OutcomeNotFoundOrWrongHost},
		},
		"mirakl": {
			{name: "ok", want: keyward.OutcomeOK, account: "Fake Seller"},
			{name: "bad key", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "shop of another user", setup: func(_ *connectortest.Fake, v map[string]string, _ *string) { v["shop_id"] = "9999" }, want: keyward.OutcomeInsufficientScope, missing: []string{"shop 9999"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
			{name: "suspended shop", setup: locked, want: keyward.OutcomeAccountLocked, say: "suspended"},
		},
		"woocommerce": {
			{name: "ok", scopes: []string{"read", "write"}, want: keyward.OutcomeOK, account: "Fake Woo", say: "Write access is not tested"},
			// Three refusals, all 401, told apart by the body.
			{name: "bad secret", setup: bad, want: keyward.OutcomeInvalidCredentials, say: "consumer key or secret"},
			{name: "unknown key", setup: func(_ *connectortest.Fake, v map[string]string, _ *string) { v["access_token"] = "ck_unknown_key_1234" }, want: keyward.OutcomeInvalidCredentials, say: "does not know this consumer key"},
			{name: "write-only key", setup: grant("write"), want: keyward.OutcomeInsufficientScope, missing: []string{"read"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
		},
		"bigcommerce": {
			{name: "ok", want: keyward.OutcomeOK, account: "Fake Big Store"},
			{name: "bad token", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "missing scope", setup: grant(), want: keyward.OutcomeInsufficientScope, missing: []string{"store_v2_information_read_only"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 5},
			{name: "wrong store hash", setup: func(_ *connectortest.Fake, v map[string]string, _ *string) { v["store_hash"] = "zzz999" }, want: keyward.OutcomeNotFoundOrWrongHost, say: "zzz999"},
		},
		"fortnox": {
			{name: "ok", scopes: []string{"companyinformation"}, want: keyward.OutcomeOK, account: "Fake AB"},
			{name: "bad refresh token", setup: bad, want: keyward.OutcomeInvalidCredentials, say: "refresh token"},
			{name: "missing scope", scopes: []string{"companyinformation", "salary"}, want: keyward.OutcomeInsufficientScope, missing: []string{"salary"}},
			{name: "no companyinformation", setup: grant("invoice"), want: keyward.OutcomeInsufficientScope, missing: []string{"companyinformation"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
			{name: "no API licence", setup: locked, want: keyward.OutcomeAccountLocked, say: "licence"},
		},
		"retailcrm": {
			{name: "ok", scopes: []string{"order_read"}, want: keyward.OutcomeOK, account: "stores main"},
			{name: "bad key", setup: bad, want: keyward.OutcomeInvalidCredentials, say: "API key"},
			{name: "missing scope", scopes: []string{"order_read", "order_write"}, want: keyward.OutcomeInsufficientScope, missing: []string{"order_write"}},
			// RetailCRM's limit answers 503, not 429.
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 60},
		},
		"recharge": {
			{name: "ok", scopes: []string{"read_subscriptions"}, want: keyward.OutcomeOK, account: "Fake Subscriptions"},
			{name: "bad token", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "missing scope", scopes: []string{"read_orders", "write_orders"}, want: keyward.OutcomeInsufficientScope, missing: []string{"write_orders"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
			{name: "unpaid", setup: locked, want: keyward.OutcomeAccountLocked},
		},
		"klaviyo": {
			{name: "ok", want: keyward.OutcomeOK, account: "Fake Mail Co"},
			{name: "bad key", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "missing scope", setup: grant(), want: keyward.OutcomeInsufficientScope, missing: []string{"accounts:read"}},
			// A 403 HTML page from the firewall is not a missing scope.
			{name: "firewall challenge", setup: func(f *connectortest.Fake, _ map[string]string, _ *string) { f.Challenge = true }, want: keyward.OutcomeUpstreamError, say: "firewall"},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
		},
		"retailexpress": {
			{name: "ok", want: keyward.OutcomeOK, account: "Fake Outlet"},
			{name: "bad key", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "missing scope", setup: grant(), want: keyward.OutcomeInsufficientScope, missing: []string{"outlets"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 2},
		},
		"keyward": {
			{name: "ok", scopes: []string{"orders:read", "customers:read"}, want: keyward.OutcomeOK, account: "demo-THQ"},
			{name: "bad key", setup: bad, want: keyward.OutcomeInvalidCredentials},
			{name: "missing permission", scopes: []string{"orders:write", "payments:read"}, want: keyward.OutcomeInsufficientScope, missing: []string{"payments:read"}},
			{name: "method refused", setup: func(_ *connectortest.Fake, v map[string]string, _ *string) { v["method"] = "payments.create" }, want: keyward.OutcomeInsufficientScope, missing: []string{"payments:write"}},
			{name: "rate limited", setup: limited, want: keyward.OutcomeRateLimited, retry: 3},
			{name: "licence inactive", setup: locked, want: keyward.OutcomeAccountLocked},
		},
	}
	for _, ty := range connector.Types() {
		if _, ok := cases[ty.ID]; !ok {
			t.Errorf("type %s has no scenarios", ty.ID)
		}
	}
	client := loopbackClient(t)
	for typ, scenarios := range cases {
		// Every type also meets a web site where its API should be.
		scenarios = append(scenarios, scenario{name: "wrong host", want: keyward.OutcomeNotFoundOrWrongHost,
			setup: func(f *connectortest.Fake, v map[string]string, url *string) {
				site := connectortest.Website(t)
				*url = site.URL
				if _, ok := v["auth_url"]; ok {
					v["auth_url"] = site.URL
				}
			}})
		for _, sc := range scenarios {
			t.Run(typ+"/"+sc.name, func(t *testing.T) {
				f := connectortest.New(t, typ)
				values, url := f.Values(), f.URL
				if sc.setup != nil {
					f.Set(func(f *connectortest.Fake) { sc.setup(f, values, &url) })
				}
				r := verify(t, client, typ, url, values, sc.scopes)
				if r.Outcome != sc.want {
					t.Fatalf("outcome %s (%q), want %s", r.Outcome, r.Message, sc.want)
				}
				if r.Message == "" || strings.Contains(r.Message, connectortest.Token) || strings.Contains(r.Message, connectortest.Secret) {
					t.Errorf("message %q: empty or holding a secret", r.Message)
				}
				if sc.say != "" && !strings.Contains(r.Message, sc.say) {
					t.Errorf("message %q does not say %q", r.Message, sc.say)
				}
				if sc.missing != nil && !slices.Equal(r.MissingScopes, sc.missing) {
					t.Errorf("missing scopes %v, want %v", r.MissingScopes, sc.missing)
				}
				if sc.retry != 0 && r.RetryAfter != sc.retry {
					t.Errorf("retry after %d, want %d", r.RetryAfter, sc.retry)
				}
				if sc.account != "" && r.Account != sc.account {
					t.Errorf("account %q, want %q", r.Account, sc.account)
				}
				if !r.CheckedAt.Equal(now) {
					t.Errorf("checked at %v", r.CheckedAt)
				}
			})
		}
	}
}

// RetailCRM answers 403 both for a wrong key (JSON) and for an account
// that does not exist (an HTML page): the body decides.
func TestRetailCRMUnknownAccountIsWrongHost(t *testing.T) {
	site := connectortest.Website(t)
	r := verify(t, loopbackClient(t), "retailcrm", site.URL, map[string]string{"access_token": "x"}, nil)
	if r.Outcome != keyward.OutcomeNotFoundOrWrongHost || !strings.Contains(r.Message, "no account") {
		t.Fatalf("%s: %s", r.Outcome, r.Message)
	}
}

// Shopify lists scopes; a write scope covers its read scope, and the
// granted scopes come back sorted.
func TestShopifyReportsGrantedScopes(t *testing.T) {
	f := connectortest.New(t, "shopify")
	r := verify(t, loopbackClient(t), "shopify", f.URL, f.Values(), []string{"read_products"})
	if r.Outcome != keyward.OutcomeOK || !slices.Equal(r.Scopes, []string{"read_orders", "write_products"}) {
		t.Fatalf("%s %v", r.Outcome, r.Scopes)
	}
}

// Fortnox refresh tokens are single-use: the check returns the new one,
// and the old one no longer works.
func TestFortnoxRotatesTheRefreshToken(t *testing.T) {
	f := connectortest.New(t, "fortnox")
	client := loopbackClient(t)
	v := f.Values()
	r := verify(t, client, "fortnox", f.URL, v, nil)
	if r.Outcome != keyward.OutcomeOK || r.Rotated["refresh_token"] == "" || r.Rotated["refresh_token"] == v["refresh_token"] || r.Rotated["access_token"] == "" {
		t.Fatalf("%s, rotated %v", r.Outcome, r.Rotated)
	}
	if again := verify(t, client, "fortnox", f.URL, v, nil); again.Outcome != keyward.OutcomeInvalidCredentials {
		t.Fatalf("the used refresh token: %s", again.Outcome)
	}
	v["refresh_token"] = r.Rotated["refresh_token"]
	if again := verify(t, client, "fortnox", f.URL, v, nil); again.Outcome != keyward.OutcomeOK {
		t.Fatalf("the rotated refresh token: %s %s", again.Outcome, again.Message)
	}
}

// No answer at all is a network error; an address keyward may not dial
// (loopback, without the operator allowing it) is refused before anything
// is sent.
func TestNetworkErrorsAndRefusedAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	r := verify(t, loopbackClient(t), "mirakl", closed, map[string]string{"access_token": "x"}, nil)
	if r.Outcome != keyward.OutcomeNetworkError {
		t.Fatalf("closed port: %s %s", r.Outcome, r.Message)
	}

	f := connectortest.New(t, "mirakl")
	strict, err := outbound.NewClient(outbound.Config{AllowHTTP: true, Ports: []uint16{80, 443, uint16(f.Listener.Addr().(*net.TCPAddr).Port)}})
	if err != nil {
		t.Fatal(err)
	}
	r = verify(t, strict, "mirakl", f.URL, f.Values(), nil)
	if r.Outcome != keyward.OutcomeNotFoundOrWrongHost || !strings.Contains(r.Message, "private") || f.Calls() != 0 {
		t.Fatalf("loopback without an allowed range: %s %q, %d calls", r.Outcome, r.Message, f.Calls())
	}
}

// Over HTTPS the certificate is verified: a fake with a certificate the
// client does not trust gets nothing, one it trusts answers.
func TestTLSIsVerified(t *testing.T) {
	f := connectortest.NewTLS(t, "bigcommerce")
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	untrusting, _ := outbound.NewClient(outbound.Config{Allow: allow})
	r := verify(t, untrusting, "bigcommerce", f.URL, f.Values(), nil)
	if r.Outcome != keyward.OutcomeNetworkError || !strings.Contains(r.Message, "certificate") || f.Calls() != 0 {
		t.Fatalf("untrusted certificate: %s %q", r.Outcome, r.Message)
	}
	tlsConfig := f.Client().Transport.(*http.Transport).TLSClientConfig
	trusting, err := outbound.NewClient(outbound.Config{Allow: allow, TLS: tlsConfig})
	if err != nil {
		t.Fatal(err)
	}
	if r := verify(t, trusting, "bigcommerce", f.URL, f.Values(), nil); r.Outcome != keyward.OutcomeOK {
		t.Fatalf("trusted certificate: %s %q", r.Outcome, r.Message)
	}
}

// A slow system is cut off by the probe's own deadline.
func TestProbeHonoursTheContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block })}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	ty, _ := connector.Lookup("mirakl")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := ty.Verify(ctx, loopbackClient(t), connector.Creds{APIURL: "http://" + ln.Addr().String(), Values: map[string]string{"access_token": "x"}}, now)
	if r.Outcome != keyward.OutcomeNetworkError {
		t.Fatalf("%s %s", r.Outcome, r.Message)
	}
}

// Field checks: each type refuses what its system would never accept, and
// normalises what it can read.
func TestFieldsAreCheckedAndNormalised(t *testing.T) {
	type tc struct {
		typ     string
		url     string
		values  map[string]string
		scopes  []string
		field   string // "" when it must pass
		wantURL string
		want    map[string]string
	}
	for name, c := range map[string]tc{
		"shopify from a URL":         {typ: "shopify", values: map[string]string{"shop_domain": "https://MyStore.myshopify.com/admin", "access_token": "x"}, wantURL: "https://mystore.myshopify.com", want: map[string]string{"shop_domain": "mystore.myshopify.com", "api_version": "2025-10"}},
		"shopify own domain":         {typ: "shopify", values: map[string]string{"shop_domain": "shop.example.com", "access_token": "x"}, field: "fields.shop_domain"},
		"shopify version":            {typ: "shopify", values: map[string]string{"shop_domain": "a", "api_version": "2025-13", "access_token": "x"}, field: "fields.api_version"},
		"token required":             {typ: "shopify", values: map[string]string{"shop_domain": "a"}, field: "access_token"},
		"unknown field":              {typ: "mirakl", url: "https://m.example.com", values: map[string]string{"access_token": "x", "colour": "red"}, field: "fields.colour"},
		"mirakl needs a URL":         {typ: "mirakl", values: map[string]string{"access_token": "x"}, field: "api_url"},
		"URL with credentials":       {typ: "mirakl", url: "https://u:p@m.example.com", values: map[string]string{"access_token": "x"}, field: "api_url"},
		"URL with query":             {typ: "mirakl", url: "https://m.example.com/?a=1", values: map[string]string{"access_token": "x"}, field: "api_url"},
		"URL not http":               {typ: "mirakl", url: "ftp://m.example.com", values: map[string]string{"access_token": "x"}, field: "api_url"},
		"mirakl shop id":             {typ: "mirakl", url: "https://m.example.com/", values: map[string]string{"access_token": "x", "shop_id": "12a"}, field: "fields.shop_id"},
		"trailing slash dropped":     {typ: "mirakl", url: "https://M.example.com/", values: map[string]string{"access_token": "x"}, wantURL: "https://m.example.com"},
		"woo consumer key":           {typ: "woocommerce", url: "https://w.example.com", values: map[string]string{"access_token": "pk_123456789", "secret": "cs_123456789"}, field: "access_token"},
		"bigcommerce from API path":  {typ: "bigcommerce", values: map[string]string{"store_hash": "https://api.bigcommerce.com/stores/Abc123/v3/", "access_token": "x"}, wantURL: "https://api.bigcommerce.com", want: map[string]string{"store_hash": "abc123"}},
		"bigcommerce hash":           {typ: "bigcommerce", values: map[string]string{"store_hash": "a b", "access_token": "x"}, field: "fields.store_hash"},
		"klaviyo public key":         {typ: "klaviyo", values: map[string]string{"access_token": "AbC123"}, field: "access_token"},
		"magento resource":           {typ: "magento", url: "https://m.example.com", values: map[string]string{"access_token": "x"}, scopes: []string{"Magento_Nope::x"}, field: "required_scopes"},
		"magento store code default": {typ: "magento", url: "https://m.example.com", values: map[string]string{"access_token": "x"}, want: map[string]string{"store_code": "default"}},
		"keyward scope":              {typ: "keyward", url: "https://k.example.com", values: map[string]string{"access_token": "x"}, scopes: []string{"orders"}, field: "required_scopes"},
		"control character":          {typ: "recharge", values: map[string]string{"access_token": "a\nb"}, field: "access_token"},
		"fortnox needs client id":    {typ: "fortnox", values: map[string]string{"secret": "s", "refresh_token": "r"}, field: "fields.client_id"},
	} {
		t.Run(name, func(t *testing.T) {
			ty, _ := connector.Lookup(c.typ)
			u, v, _, err := ty.Normalize(c.url, c.values, c.scopes)
			if c.field != "" {
				var e *keyward.Error
				if !asError(err, &e) || e.Code != keyward.EInvalid || e.Field != c.field {
					t.Fatalf("err = %v, want invalid_argument on %s", err, c.field)
				}
				for _, s := range c.values {
					if len(s) > 3 && strings.Contains(e.Message, s) && strings.Contains(s, "_") {
						t.Errorf("the error quotes a value: %s", e.Message)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.wantURL != "" && u != c.wantURL {
				t.Errorf("url %q, want %q", u, c.wantURL)
			}
			for k, want := range c.want {
				if v[k] != want {
					t.Errorf("%s = %q, want %q", k, v[k], want)
				}
			}
		})
	}
}

// Authorize puts each type's credentials where its system reads them, and
// the fake accepts the result.
func TestAuthorizeMatchesWhatTheSystemReads(t *testing.T) {
	for _, ty := range connector.Types() {
		t.Run(ty.ID, func(t *testing.T) {
			f := connectortest.New(t, ty.ID)
			u, v, _, err := ty.Normalize(f.URL, f.Values(), nil)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", u+"/x", nil)
			ty.Authorize(req, connector.Creds{APIURL: u, Values: v})
			found := false
			for _, h := range connector.CredentialHeaders {
				if req.Header.Get(h) != "" {
					found = true
				}
			}
			if !found {
				t.Fatalf("no credential header set: %v", req.Header)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]int{"": 60, "2": 2, "2.0": 2, "0.2": 1, "-5": 1, "1e9": 86400, "NaN": 60, "soon": 60,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90} {
		if got := connector.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %d, want %d", in, got, want)
		}
	}
}

func asError(err error, e **keyward.Error) bool { return errors.As(err, e) }
