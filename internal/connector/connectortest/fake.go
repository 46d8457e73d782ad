// Package connectortest runs local fakes of the external systems keyward
// connects to, answering as each system's documentation says: success,
// wrong credentials, a missing scope, rate limiting, a locked account, and
// the traps (two outcomes under one status, HTML where JSON was expected).
package connectortest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Fake is one external system's fake.
type Fake struct {
	*httptest.Server
	Type string

	mu sync.Mutex
	// Granted are the scopes (or resources, or permissions) the valid
	// credentials hold.
	Granted []string
	// Limited answers every request as rate limited.
	Limited bool
	// Locked answers as a locked, closed or unpaid account.
	Locked bool
	// Challenge answers as a firewall's bot challenge (an HTML 403).
	Challenge bool
	// refresh is Fortnox's current refresh token; it changes on each use.
	refresh string
	access  string
	n       int

	calls atomic.Int64
	// LastRequest is the last request's headers and URL, for tests of
	// credential injection.
	LastHeader http.Header
	LastURL    *url.URL
}

// The valid credentials of every fake.
const (
	Token  = "tok_good_0123456789abcdef"
	Secret = "sec_good_0123456789abcdef"
)

// New starts a fake of typeID over plain HTTP on 127.0.0.1.
func New(tb testing.TB, typeID string) *Fake {
	f := newFake(typeID)
	f.Server = httptest.NewServer(f)
	tb.Cleanup(f.Close)
	return f
}

// NewTLS starts a fake of typeID over HTTPS with a test certificate.
func NewTLS(tb testing.TB, typeID string) *Fake {
	f := newFake(typeID)
	f.Server = httptest.NewTLSServer(f)
	tb.Cleanup(f.Close)
	return f
}

func newFake(typeID string) *Fake {
	f := &Fake{Type: typeID, refresh: "refresh-1"}
	switch typeID {
	case "shopify":
		f.Granted = []string{"read_orders", "write_products"}
	case "magento":
		f.Granted = []string{"Magento_Backend::store", "Magento_Sales::sales"}
	case "fortnox":
		f.Granted = []string{"companyinformation", "invoice"}
	case "retailcrm":
		f.Granted = []string{"order_read", "customer_read"}
	case "recharge":
		f.Granted = []string{"read_orders", "write_subscriptions", "read_store"}
	case "woocommerce":
		f.Granted = []string{"read", "write"}
	case "keyward":
		f.Granted = []string{"orders:write", "customers:read"}
	default:
		f.Granted = []string{"all"}
	}
	return f
}

// Calls counts the requests the fake has answered.
func (f *Fake) Calls() int64 { return f.calls.Load() }

// Set changes the fake's state; call it between requests.
func (f *Fake) Set(fn func(f *Fake)) { fn(f) }

// RefreshToken is Fortnox's currently valid refresh token.
func (f *Fake) RefreshToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refresh
}

// AccessToken is the Fortnox access token last issued, "" before any.
func (f *Fake) AccessToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access
}

// Values returns fields that pass the fake's checks: the valid access token
// and secret and the type's own fields.
func (f *Fake) Values() map[string]string {
	v := map[string]string{"access_token": Token}
	switch f.Type {
	case "shopify":
		v["shop_domain"] = "fake.myshopify.com"
	case "woocommerce":
		v["access_token"], v["secret"] = "ck_"+Token, "cs_"+Secret
	case "bigcommerce":
		v["store_hash"] = "abc123"
	case "fortnox":
		v = map[string]string{"client_id": "client-1", "secret": Secret, "refresh_token": f.RefreshToken(), "auth_url": f.URL}
	case "klaviyo":
		v["access_token"] = "pk_" + Token
	case "keyward":
		v["access_token"] = "kwk_" + Token
	}
	return v
}

// BadValues returns Values with a wrong secret: the access token, or the
// secret for systems whose secret is checked on its own.
func (f *Fake) BadValues() map[string]string {
	v := f.Values()
	switch f.Type {
	case "woocommerce":
		v["secret"] = "cs_wrong_secret_000"
	case "fortnox":
		v["refresh_token"] = "refresh-wrong"
	case "klaviyo":
		v["access_token"] = "pk_wrong_0000"
	case "keyward":
		v["access_token"] = "kwk_wrong_0000"
	default:
		v["access_token"] = "tok_wrong_0000"
	}
	return v
}

func (f *Fake) has(scope string) bool { return slices.Contains(f.Granted, scope) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeHTML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, "<!DOCTYPE html><html><body>"+body+"</body></html>")
}

// ServeHTTP answers as the system would.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.LastHeader, f.LastURL = r.Header.Clone(), r.URL
	if f.Limited {
		switch f.Type {
		case "bigcommerce":
			w.Header().Set("X-Rate-Limit-Time-Reset-Ms", "4500")
			writeJSON(w, 429, map[string]any{"status": 429, "title": "Too many requests"})
		case "retailcrm":
			writeJSON(w, 503, map[string]any{"success": false, "errorMsg": "Service temporarily unavailable"})
		case "keyward":
			writeJSON(w, 200, map[string]any{"valid": false, "code": "RATE_LIMITED", "message": "Too many requests", "retry_after": 3})
		default:
			w.Header().Set("Retry-After", "2.0")
			writeJSON(w, 429, map[string]any{"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})
		}
		return
	}
	switch f.Type {
	case "shopify":
		f.shopify(w, r)
	case "magento":
		f.magento(w, r)
	case "mirakl":
		f.mirakl(w, r)
	case "woocommerce":
		f.woocommerce(w, r)
	case "bigcommerce":
		f.bigcommerce(w, r)
	case "fortnox":
		f.fortnox(w, r)
	case "retailcrm":
		f.retailcrm(w, r)
	case "recharge":
		f.recharge(w, r)
	case "klaviyo":
		f.klaviyo(w, r)
	case "retailexpress":
		f.retailexpress(w, r)
	case "keyward":
		f.keyward(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *Fake) shopify(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Shopify-Access-Token") != Token {
		writeJSON(w, 401, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	if f.Locked {
		writeJSON(w, 402, map[string]any{"errors": "Unavailable Shop"})
		return
	}
	switch r.URL.Path {
	case "/admin/oauth/access_scopes.json":
		var s []map[string]string
		for _, g := range f.Granted {
			s = append(s, map[string]string{"handle": g})
		}
		writeJSON(w, 200, map[string]any{"access_scopes": s})
	case "/admin/api/2025-10/shop.json":
		writeJSON(w, 200, map[string]any{"shop": map[string]any{"name": "Fake Shop", "myshopify_domain": "fake.myshopify.com"}})
	case "/admin/api/2025-10/orders.json":
		w.Header().Set("X-Shopify-Access-Token", Token) // a careless upstream echoing the credential
		writeJSON(w, 200, map[string]any{"orders": []any{map[string]any{"id": 1}}, "echo": Token})
	default:
		writeJSON(w, 404, map[string]any{"errors": "Not Found"})
	}
}

func (f *Fake) magento(w http.ResponseWriter, r *http.Request) {
	need := map[string]string{
		"/rest/default/V1/store/storeConfigs": "Magento_Backend::store",
		"/rest/default/V1/orders":             "Magento_Sales::sales",
		"/rest/default/V1/products":           "Magento_Catalog::products",
	}[r.URL.Path]
	if need == "" {
		writeJSON(w, 404, map[string]any{"message": "Request does not match any route."})
		return
	}
	// One answer for a wrong token and a missing resource, as Magento gives.
	if r.Header.Get("Authorization") != "Bearer "+Token || !f.has(need) {
		writeJSON(w, 401, map[string]any{"message": "The consumer isn't authorized to access %resources.", "parameters": map[string]string{"resources": need}})
		return
	}
	if r.URL.Path == "/rest/default/V1/store/storeConfigs" {
		writeJSON(w, 200, []any{map[string]any{"id": 1, "code": "default", "base_url": "https://shop.example.com/"}})
		return
	}
	writeJSON(w, 200, map[string]any{"items": []any{}, "total_count": 0})
}

func (f *Fake) mirakl(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/account" {
		writeJSON(w, 404, map[string]any{"message": "Not Found", "status": 404})
		return
	}
	if r.Header.Get("Authorization") != Token {
		writeJSON(w, 401, map[string]any{"message": "Unauthorized", "status": 401})
		return
	}
	if id := r.URL.Query().Get("shop_id"); id != "" && id != "2001" {
		writeJSON(w, 403, map[string]any{"message": "Forbidden", "status": 403})
		return
	}
	state := "OPEN"
	if f.Locked {
		state = "SUSPENDED"
	}
	writeJSON(w, 200, map[string]any{"shop_id": 2001, "shop_name": "Fake Seller", "shop_state": state, "currency_iso_code": "EUR"})
}

func (f *Fake) woocommerce(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/wp-json/", "/wp-json":
		writeJSON(w, 200, map[string]any{"name": "Fake Woo", "url": f.URL, "namespaces": []string{"wp/v2", "wc/v3"}})
		return
	case "/wp-json/wc/v3/orders":
	default:
		writeJSON(w, 404, map[string]any{"code": "rest_no_route", "message": "No route was found matching the URL and request method.", "data": map[string]int{"status": 404}})
		return
	}
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok || user != "ck_"+Token:
		// Basic auth with an unknown key raises no authentication error:
		// the route itself refuses.
		writeJSON(w, 401, map[string]any{"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": map[string]int{"status": 401}})
	case pass != "cs_"+Secret:
		writeJSON(w, 401, map[string]any{"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.", "data": map[string]int{"status": 401}})
	case !f.has("read"):
		writeJSON(w, 401, map[string]any{"code": "woocommerce_rest_authentication_error", "message": "The API key provided does not have read permissions.", "data": map[string]int{"status": 401}})
	default:
		w.Header().Set("X-WP-Total", "0")
		writeJSON(w, 200, []any{})
	}
}

func (f *Fake) bigcommerce(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/stores/") {
		writeJSON(w, 404, map[string]any{"status": 404, "title": "Not Found"})
		return
	}
	if r.URL.Path != "/stores/abc123/v2/store" {
		writeJSON(w, 404, map[string]any{"status": 404, "title": "The requested store was not found."})
		return
	}
	if r.Header.Get("X-Auth-Token") != Token {
		writeJSON(w, 401, map[string]any{"status": 401, "title": "Unauthorized"})
		return
	}
	if !f.has("all") {
		writeJSON(w, 403, map[string]any{"status": 403, "title": "You don't have a required scope to access the endpoint"})
		return
	}
	writeJSON(w, 200, map[string]any{"id": "abc123", "name": "Fake Big Store", "domain": "big.example.com", "plan_name": "Standard"})
}

func (f *Fake) fortnox(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth-v1/token":
		r.ParseForm()
		if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("client-1:"+Secret)) {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "Invalid client credentials"})
			return
		}
		if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != f.refresh {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh token"})
			return
		}
		f.n++
		f.refresh = fmt.Sprintf("refresh-%d", f.n+1)
		f.access = fmt.Sprintf("access-%d", f.n)
		writeJSON(w, 200, map[string]any{"access_token": f.access, "refresh_token": f.refresh, "scope": strings.Join(f.Granted, " "), "expires_in": 3600, "token_type": "Bearer"})
	case "/3/companyinformation":
		if f.access == "" || r.Header.Get("Authorization") != "Bearer "+f.access {
			writeJSON(w, 401, map[string]any{"ErrorInformation": map[string]any{"Error": 1, "Message": "Invalid login", "Code": 2000310}})
			return
		}
		if f.Locked {
			writeJSON(w, 400, map[string]any{"ErrorInformation": map[string]any{"Error": 1, "Message": "Has no license for the API", "Code": 2001103}})
			return
		}
		if !f.has("companyinformation") {
			writeJSON(w, 403, map[string]any{"message": "Forbidden"})
			return
		}
		writeJSON(w, 200, map[string]any{"CompanyInformation": map[string]any{"CompanyName": "Fake AB", "OrganizationNumber": "556000-0000", "DatabaseNumber": 12345}})
	default:
		writeJSON(w, 404, map[string]any{"ErrorInformation": map[string]any{"Error": 1, "Message": "Not found", "Code": 2000000}})
	}
}

func (f *Fake) retailcrm(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/credentials" {
		writeJSON(w, 404, map[string]any{"success": false, "errorMsg": "API method not found"})
		return
	}
	if r.Header.Get("X-API-KEY") != Token {
		writeJSON(w, 403, map[string]any{"success": false, "errorMsg": "Wrong \"apiKey\" value."})
		return
	}
	writeJSON(w, 200, map[string]any{"success": true, "scopes": f.Granted, "siteAccess": "access_selective", "sitesAvailable": []string{"main"}})
}

func (f *Fake) recharge(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Recharge-Access-Token") != Token {
		writeJSON(w, 401, map[string]any{"errors": "Invalid API token"})
		return
	}
	if f.Locked {
		writeJSON(w, 402, map[string]any{"errors": "Payment required"})
		return
	}
	switch r.URL.Path {
	case "/token_information":
		writeJSON(w, 200, map[string]any{"token_information": map[string]any{"name": "keyward token", "scopes": f.Granted}})
	case "/store":
		writeJSON(w, 200, map[string]any{"store": map[string]any{"name": "Fake Subscriptions", "currency": "USD"}})
	default:
		writeJSON(w, 404, map[string]any{"errors": "Not Found"})
	}
}

func (f *Fake) klaviyo(w http.ResponseWriter, r *http.Request) {
	if f.Challenge {
		w.Header().Set("Cf-Mitigated", "challenge")
		writeHTML(w, 403, "<title>Just a moment...</title>")
		return
	}
	if r.URL.Path != "/api/accounts/" {
		writeJSON(w, 404, map[string]any{"errors": []any{map[string]any{"code": "not_found", "status": 404}}})
		return
	}
	if r.Header.Get("Authorization") != "Klaviyo-API-Key pk_"+Token || r.Header.Get("Revision") == "" {
		writeJSON(w, 401, map[string]any{"errors": []any{map[string]any{"code": "not_authenticated", "status": 401, "detail": "Missing or invalid authorization scheme. Please use Klaviyo-API-Key."}}})
		return
	}
	if !f.has("all") {
		writeJSON(w, 403, map[string]any{"errors": []any{map[string]any{"code": "permission_denied", "status": 403}}})
		return
	}
	writeJSON(w, 200, map[string]any{"data": []any{map[string]any{"id": "AbC123", "type": "account", "attributes": map[string]any{"contact_information": map[string]any{"organization_name": "Fake Mail Co"}}}}})
}

func (f *Fake) retailexpress(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Api-Key") != Token {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."})
		return
	}
	switch r.URL.Path {
	case "/v2/auth/token":
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "access_token": "rex-bearer", "expires_on": "2030-01-01T00:00:00Z"})
	case "/v2.1/outlets":
		if r.Header.Get("Authorization") != "Bearer rex-bearer" || !f.has("all") {
			writeJSON(w, 403, map[string]any{"statusCode": 403, "message": "Forbidden"})
			return
		}
		writeJSON(w, 200, map[string]any{"data": []any{map[string]any{"outlet_id": 1, "outlet_name": "Fake Outlet"}}})
	default:
		writeJSON(w, 404, map[string]any{"statusCode": 404, "message": "Resource not found"})
	}
}

func (f *Fake) keyward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/verify" || r.Method != http.MethodPost {
		writeJSON(w, 404, map[string]any{"code": "not_found", "title": "Not found"})
		return
	}
	var in struct {
		Key    string `json:"key"`
		Method string `json:"method"`
		DryRun bool   `json:"dry_run"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	if in.Key != "kwk_"+Token {
		writeJSON(w, 200, map[string]any{"valid": false, "code": "NOT_FOUND", "message": "The key is not valid: it is unknown or has been deleted."})
		return
	}
	if f.Locked {
		writeJSON(w, 200, map[string]any{"valid": false, "code": "LICENCE_INACTIVE", "message": "The tenant's API licence is not active.", "key_id": "key_1", "tenant": "demo", "display_name": "demo-THQ"})
		return
	}
	perms := map[string]string{}
	for _, g := range f.Granted {
		res, lvl, _ := strings.Cut(g, ":")
		perms[res] = lvl
	}
	if in.Method == "payments.create" && perms["payments"] != "write" {
		writeJSON(w, 200, map[string]any{"valid": false, "code": "INSUFFICIENT_PERMISSION", "message": "The key lacks payments: write.", "display_name": "demo-THQ", "missing": map[string]string{"resource": "payments", "level": "write"}})
		return
	}
	writeJSON(w, 200, map[string]any{"valid": true, "code": "VALID", "message": "The key may make this request.", "display_name": "demo-THQ", "permissions": perms})
}

// Website starts a server that is no API at all: a web site answering
// HTML pages, 404 for every path but the home page.
func Website(tb testing.TB) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/wp-json/" {
			writeHTML(w, 200, "<h1>Welcome to our shop</h1>")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/credentials") {
			// RetailCRM's unknown account: a 403 page, not JSON.
			writeHTML(w, 403, "<h1>Account does not exist.</h1>")
			return
		}
		writeHTML(w, 404, "<h1>Page not found</h1>")
	}))
	tb.Cleanup(s.Close)
	return s
}
