package connector

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Shopify: X-Shopify-Access-Token; GET /admin/oauth/access_scopes.json
// proves the token and lists its scopes, GET /admin/api/{v}/shop.json names
// the shop.
var Shopify = register(&Type{
	ID: "shopify", Name: "Shopify",
	URLHelp: "Leave it empty to use https://<shop domain>.",
	Fields: []Field{
		{Name: "shop_domain", Label: "Shop domain", Required: true, Destination: true, Help: "The shop's myshopify.com domain, such as mystore.myshopify.com.", Parse: ParseShopDomain},
		{Name: "api_version", Label: "API version", Default: "2025-10", Help: "The Admin API version to call, such as 2025-10.", Parse: parseShopifyVersion},
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The Admin API access token of the shop's app (shpat_…)."},
		{Name: FieldSecret, Label: "Secret", Secret: true, Help: "The app's API secret key, kept for signing checks; not needed to verify."},
	},
	ScopeHelp:  "Shopify access scopes such as read_orders or write_products; a write scope covers its read scope.",
	checkScope: scopeWord,
	urlFrom: func(v map[string]string) string {
		if v["shop_domain"] == "" {
			return ""
		}
		return "https://" + v["shop_domain"]
	},
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("X-Shopify-Access-Token", c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		a := p.get("/admin/oauth/access_scopes.json")
		if r, done := shopifyStatus(p, a); done {
			return r
		}
		var scopes struct {
			AccessScopes []struct {
				Handle string `json:"handle"`
			} `json:"access_scopes"`
		}
		if !a.decode(&scopes) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as a Shopify shop does. Check the shop domain.")
		}
		var granted []string
		for _, s := range scopes.AccessScopes {
			granted = append(granted, s.Handle)
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, Scopes: granted, HTTPStatus: a.status}}
		if m := missing(p.c.RequiredScopes, granted, writeImpliesRead); len(m) > 0 {
			r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, m
			r.Message = "The access token works, but the app lacks " + strings.Join(m, ", ") + ". Add the missing scopes to the app in Shopify and install it again."
			return r
		}
		s := p.get("/admin/api/" + p.c.Values["api_version"] + "/shop.json")
		if sr, done := shopifyStatus(p, s); done && sr.Outcome != keyward.OutcomeInsufficientScope {
			sr.Scopes = granted
			return sr
		}
		var shop struct {
			Shop struct {
				Name   string `json:"name"`
				Domain string `json:"myshopify_domain"`
			} `json:"shop"`
		}
		if s.decode(&shop) && shop.Shop.Name != "" {
			r.Account = shop.Shop.Name
		} else {
			r.Account = p.c.Values["shop_domain"]
		}
		r.Message = "Connected to the Shopify shop " + r.Account + "."
		return r
	},
})

// shopifyStatus classifies Shopify's refusals: 401 wrong token, 402 frozen
// (unpaid), 423 locked, 403 a scope the request needs.
func shopifyStatus(p *prober, a answer) (Result, bool) {
	if r, done := p.common(a); done {
		return r, true
	}
	switch a.status {
	case http.StatusUnauthorized:
		return result(keyward.OutcomeInvalidCredentials, a.status, "Shopify refused the access token: it is wrong or the app was uninstalled. Copy the Admin API access token again from the app in Shopify."), true
	case http.StatusPaymentRequired:
		return result(keyward.OutcomeAccountLocked, a.status, "The Shopify shop is frozen for an unpaid bill. The shop's owner must settle it with Shopify."), true
	case http.StatusLocked:
		return result(keyward.OutcomeAccountLocked, a.status, "The Shopify shop is locked. The shop's owner must contact Shopify."), true
	case http.StatusForbidden:
		r := result(keyward.OutcomeInsufficientScope, a.status, "The access token works, but the app lacks a permission this check needs. Review the app's access scopes in Shopify.")
		return r, true
	}
	if !a.ok() {
		return p.unexpected(a), true
	}
	return Result{}, false
}

var shopName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,99}$`)

// ParseShopDomain reads a Shopify shop as "mystore", "mystore.myshopify.com"
// or a URL on that domain, and returns "mystore.myshopify.com".
func ParseShopDomain(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", errors.New("enter the shop's myshopify.com domain, such as mystore.myshopify.com")
		}
		s = u.Hostname()
	}
	name := strings.TrimSuffix(s, ".myshopify.com")
	if !shopName.MatchString(name) || strings.Contains(name, ".") {
		return "", errors.New("enter the shop's myshopify.com domain, such as mystore.myshopify.com (a shop's own domain does not serve the Admin API)")
	}
	return name + ".myshopify.com", nil
}

var shopifyVersion = regexp.MustCompile(`^(20[0-9]{2}-(01|04|07|10)|unstable)$`)

func parseShopifyVersion(s string) (string, error) {
	if !shopifyVersion.MatchString(s) {
		return "", errors.New("use a quarterly version such as 2025-10")
	}
	return s, nil
}

var scopeWordRE = regexp.MustCompile(`^[A-Za-z0-9_:.\-/]{1,100}$`)

// scopeWord accepts the usual spellings of a scope name.
func scopeWord(s string) error {
	if !scopeWordRE.MatchString(s) {
		return errors.New("use letters, digits and _ : . - / only")
	}
	return nil
}

// Magento 2 / Adobe Commerce: an integration's access token as a bearer
// token; GET /rest/{store}/V1/store/storeConfigs needs Magento_Backend::store.
var Magento = register(&Type{
	ID: "magento", Name: "Magento 2",
	URLHelp: "The store's base URL, such as https://shop.example.com; keyward adds /rest/<store code>/V1/….",
	Fields: []Field{
		{Name: "store_code", Label: "Store code", Default: "default", Help: "The store view code, such as default or all.", Parse: parseStoreCode},
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The integration's access token (System > Integrations). Magento 2.4.4+ must allow integration tokens as bearer tokens."},
	},
	ScopeHelp:  "Magento ACL resources the integration needs: " + strings.Join(slices.Sorted(mapKeys(magentoResources)), ", ") + ".",
	checkScope: checkMagentoResource,
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("Authorization", "Bearer "+c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		base := "/rest/" + p.c.Values["store_code"] + "/V1"
		a := p.get(base + "/store/storeConfigs")
		if r, done := p.common(a); done {
			return r
		}
		if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
			// One 401 for a wrong token and for a missing ACL resource.
			res := magentoResource(a, "Magento_Backend::store")
			return result(keyward.OutcomeInvalidCredentials, a.status,
				"Magento refused the access token. Either it is wrong or revoked, or the integration lacks the %s permission, or Magento does not accept integration tokens as bearer tokens: set Stores > Configuration > Services > OAuth > Consumer Settings > \"Allow OAuth Access Tokens to be used as standalone Bearer tokens\" to Yes.", res)
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var configs []struct {
			Code    string `json:"code"`
			BaseURL string `json:"base_url"`
		}
		if !a.decode(&configs) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as a Magento store does. Check the base URL and the store code.")
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Scopes: []string{"Magento_Backend::store"}}}
		if len(configs) > 0 {
			r.Account = configs[0].BaseURL
			if r.Account == "" {
				r.Account = configs[0].Code
			}
		}
		// Magento lists no integration's resources: try each one needed.
		var miss []string
		for _, res := range p.c.RequiredScopes {
			if res == "Magento_Backend::store" {
				continue
			}
			b := p.get(base + magentoResources[res])
			switch {
			case b.ok():
				r.Scopes = append(r.Scopes, res)
			case b.status == http.StatusUnauthorized || b.status == http.StatusForbidden:
				miss = append(miss, res)
			default:
				if rr, done := p.common(b); done {
					return rr
				}
				return p.unexpected(b)
			}
		}
		if len(miss) > 0 {
			r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, miss
			r.Message = "The access token works, but the integration lacks " + strings.Join(miss, ", ") + ". Tick them under the integration's API resources in Magento, then activate it again."
			return r
		}
		r.Message = "Connected to the Magento store " + r.Account + "."
		return r
	},
})

// magentoResources maps the ACL resources a connection may need to a cheap
// GET that needs them.
var magentoResources = map[string]string{
	"Magento_Backend::store":     "/store/storeConfigs",
	"Magento_Sales::sales":       "/orders?searchCriteria[pageSize]=1",
	"Magento_Catalog::products":  "/products?searchCriteria[pageSize]=1",
	"Magento_Customer::customer": "/customers/search?searchCriteria[pageSize]=1",
	"Magento_Cms::page":          "/cmsPage/search?searchCriteria[pageSize]=1",
}

func checkMagentoResource(s string) error {
	if _, ok := magentoResources[s]; !ok {
		return errors.New("keyward can check " + strings.Join(slices.Sorted(mapKeys(magentoResources)), ", "))
	}
	return nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// magentoResource reads the resource a Magento refusal names, or def.
func magentoResource(a answer, def string) string {
	var e struct {
		Parameters struct {
			Resources string `json:"resources"`
		} `json:"parameters"`
	}
	if !a.decode(&e) {
		return def
	}
	if _, known := magentoResources[e.Parameters.Resources]; known {
		return e.Parameters.Resources
	}
	return def
}

var storeCode = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

func parseStoreCode(s string) (string, error) {
	s = strings.ToLower(s)
	if !storeCode.MatchString(s) {
		return "", errors.New("use the store view code: lower-case letters, digits and _, such as default")
	}
	return s, nil
}

// Mirakl: the shop API key, raw in Authorization; A01 GET /api/account,
// which Mirakl asks to call at most once a day.
var Mirakl = register(&Type{
	ID: "mirakl", Name: "Mirakl",
	URLHelp: "The marketplace operator's Mirakl address, such as https://marketplace.mirakl.net.",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The shop API key (your user menu > API key in the Mirakl seller back office)."},
		{Name: "shop_id", Label: "Shop id", Help: "Only when the key's user has several shops.", Parse: digits},
	},
	CacheFor: 24 * time.Hour,
	authorize: func(h http.Header, q url.Values, c *Creds) {
		h.Set("Authorization", c.Values[FieldAccessToken])
		if id := c.Values["shop_id"]; id != "" && q.Get("shop_id") == "" {
			q.Set("shop_id", id)
		}
	},
	probe: func(p *prober) Result {
		a := p.get("/api/account")
		if r, done := p.common(a); done {
			return r
		}
		switch a.status {
		case http.StatusUnauthorized:
			return result(keyward.OutcomeInvalidCredentials, a.status, "Mirakl refused the shop API key: it is wrong, or belongs to another marketplace or to the test instance. Copy it again from the Mirakl seller back office.")
		case http.StatusForbidden:
			r := result(keyward.OutcomeInsufficientScope, a.status, "The shop API key works, but may not read this shop's account. Check the shop id, or use a key of a user of this shop.")
			if id := p.c.Values["shop_id"]; id != "" {
				r.MissingScopes = []string{"shop " + id}
			}
			return r
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var acc struct {
			ShopID    json64 `json:"shop_id"`
			ShopName  string `json:"shop_name"`
			ShopState string `json:"shop_state"`
		}
		if !a.decode(&acc) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as a Mirakl marketplace does. Check the operator's Mirakl address.")
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Account: acc.ShopName}}
		if acc.ShopState != "" && !strings.EqualFold(acc.ShopState, "OPEN") {
			r.Outcome = keyward.OutcomeAccountLocked
			r.Message = "The Mirakl shop " + acc.ShopName + " is " + strings.ToLower(acc.ShopState) + " on the marketplace. The operator must open it again."
			return r
		}
		r.Message = "Connected to the Mirakl shop " + acc.ShopName + " (shop id " + string(acc.ShopID) + ")."
		return r
	},
})

// json64 reads a JSON number or string as text.
type json64 string

func (j *json64) UnmarshalJSON(b []byte) error {
	*j = json64(strings.Trim(string(b), `"`))
	return nil
}

var digitsRE = regexp.MustCompile(`^[0-9]{1,20}$`)

func digits(s string) (string, error) {
	if !digitsRE.MatchString(s) {
		return "", errors.New("use digits only")
	}
	return s, nil
}

// WooCommerce: consumer key and secret over HTTP Basic (HTTPS); GET
// /wp-json/ names the site, GET /wp-json/wc/v3/orders?per_page=1 proves
// read access. Every refusal is a 401: the body's code tells them apart.
var WooCommerce = register(&Type{
	ID: "woocommerce", Name: "WooCommerce",
	URLHelp: "The WordPress site's address, such as https://shop.example.com.",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The REST API consumer key (ck_…), from WooCommerce > Settings > Advanced > REST API.", Parse: prefixed("ck_", "consumer key")},
		{Name: FieldSecret, Label: "Secret", Secret: true, Required: true, Help: "The consumer secret (cs_…).", Parse: prefixed("cs_", "consumer secret")},
	},
	ScopeHelp: "read or write; keyward proves read access only, since proving write would change the shop.",
	checkScope: func(s string) error {
		if s != "read" && s != "write" {
			return errors.New("use read or write")
		}
		return nil
	},
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Values[FieldAccessToken]+":"+c.Values[FieldSecret])))
	},
	probe: func(p *prober) Result {
		idx := p.send(http.MethodGet, "/wp-json/", nil, nil, false)
		if r, done := p.common(idx); done {
			return r
		}
		var site struct {
			Name       string   `json:"name"`
			Namespaces []string `json:"namespaces"`
		}
		if !idx.ok() || !idx.decode(&site) {
			return result(keyward.OutcomeNotFoundOrWrongHost, idx.status, "The API URL is not a WordPress site with its REST API on. Check the address, and that permalinks are not set to \"Plain\".")
		}
		if !slices.Contains(site.Namespaces, "wc/v3") {
			return result(keyward.OutcomeNotFoundOrWrongHost, idx.status, "The WordPress site %s does not offer the WooCommerce API (wc/v3). Check that WooCommerce is installed and active.", site.Name)
		}
		a := p.get("/wp-json/wc/v3/orders?per_page=1")
		if r, done := p.common(a); done {
			return r
		}
		if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
			var e struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			a.decode(&e)
			switch {
			case strings.Contains(e.Message, "does not have read permissions"):
				r := result(keyward.OutcomeInsufficientScope, a.status, "The key works, but is write-only. Give it Read or Read/Write permission in WooCommerce > Settings > Advanced > REST API.")
				r.MissingScopes = []string{"read"}
				return r
			case e.Code == "woocommerce_rest_cannot_view":
				return result(keyward.OutcomeInvalidCredentials, a.status, "WooCommerce does not know this consumer key, or its user may not see orders. Copy the consumer key again, and check the key's user in WooCommerce.")
			default:
				return result(keyward.OutcomeInvalidCredentials, a.status, "WooCommerce refused the consumer key or secret. Copy both again from WooCommerce > Settings > Advanced > REST API; if they are right, the host may strip the Authorization header.")
			}
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Account: site.Name, Scopes: []string{"read"}}}
		r.Message = "Connected to the WooCommerce shop " + site.Name + "; read access proven."
		if slices.Contains(p.c.RequiredScopes, "write") {
			r.Message += " Write access is not tested, since that would change the shop."
		}
		return r
	},
})

func prefixed(prefix, what string) func(string) (string, error) {
	return func(s string) (string, error) {
		if !strings.HasPrefix(s, prefix) || len(s) < len(prefix)+8 || strings.ContainsAny(s, " :") {
			return "", errors.New("a " + what + " starts with " + prefix + " and has no spaces")
		}
		return s, nil
	}
}

// BigCommerce: X-Auth-Token; GET /stores/{hash}/v2/store needs Information &
// settings read-only.
var BigCommerce = register(&Type{
	ID: "bigcommerce", Name: "BigCommerce",
	DefaultURL: "https://api.bigcommerce.com",
	Fields: []Field{
		{Name: "store_hash", Label: "Store hash", Required: true, Help: "The store hash, or the whole API path shown with the API account (https://api.bigcommerce.com/stores/<hash>/v3/).", Parse: ParseStoreHash},
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The store-level API account's access token."},
	},
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("X-Auth-Token", c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		a := p.get("/stores/" + p.c.Values["store_hash"] + "/v2/store")
		if a.status == http.StatusTooManyRequests {
			if ms := a.header.Get("X-Rate-Limit-Time-Reset-Ms"); ms != "" {
				if n, err := parseMillis(ms); err == nil {
					return p.rateLimited(a, n)
				}
			}
		}
		if a.status == http.StatusNotFound && !a.html() {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "BigCommerce knows no store with the hash %s. Copy the store hash from the API path shown with the API account.", p.c.Values["store_hash"])
		}
		if r, done := p.common(a); done {
			return r
		}
		switch a.status {
		case http.StatusUnauthorized:
			return result(keyward.OutcomeInvalidCredentials, a.status, "BigCommerce refused the access token: it is wrong or the API account was deleted. Copy the access token again.")
		case http.StatusForbidden:
			r := result(keyward.OutcomeInsufficientScope, a.status, "The access token works, but lacks Information & settings (read-only). Edit the API account's scopes in BigCommerce.")
			r.MissingScopes = []string{"store_v2_information_read_only"}
			return r
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var st struct {
			Name   string `json:"name"`
			Domain string `json:"domain"`
		}
		if !a.decode(&st) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as BigCommerce does.")
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Account: st.Name, Scopes: []string{"store_v2_information_read_only"}}}
		r.Message = "Connected to the BigCommerce store " + st.Name + " (" + st.Domain + ")."
		return r
	},
})

var storeHashRE = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// ParseStoreHash reads a BigCommerce store hash, alone or inside the API
// path https://api.bigcommerce.com/stores/<hash>/v3/.
func ParseStoreHash(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "stores/"); i >= 0 {
		s = s[i+len("stores/"):]
		s, _, _ = strings.Cut(s, "/")
	}
	if !storeHashRE.MatchString(s) {
		return "", errors.New("enter the store hash, such as abc123, or the API path https://api.bigcommerce.com/stores/abc123/v3/")
	}
	return s, nil
}

func parseMillis(s string) (int, error) {
	var n int64
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' || n > 1e12 {
			return 0, errors.New("not a number")
		}
		n = n*10 + int64(c-'0')
	}
	return clampSeconds(float64((n + 999) / 1000)), nil
}
