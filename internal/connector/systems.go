package connector

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Fortnox: OAuth 2. The refresh token (single-use, it rotates) is swapped
// for an access token at the token endpoint with the client id and secret;
// GET /3/companyinformation names the company.
var Fortnox = register(&Type{
	ID: "fortnox", Name: "Fortnox",
	DefaultURL: "https://api.fortnox.se",
	Fields: []Field{
		{Name: "client_id", Label: "Client id", Required: true, Help: "The integration's client id from the Fortnox developer portal.", Parse: token("client id")},
		{Name: FieldSecret, Label: "Secret", Secret: true, Required: true, Help: "The integration's client secret."},
		{Name: "refresh_token", Label: "Refresh token", Secret: true, Help: "The refresh token from the authorisation; it changes on every use and keyward keeps the new one."},
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Help: "An access token (valid one hour); keyward gets a new one with the refresh token."},
		{Name: "auth_url", Label: "Authorisation server", Destination: true, Default: "https://apps.fortnox.se", Help: "Where tokens are issued.", Parse: ParseAPIURL},
	},
	ScopeHelp:  "Fortnox scopes such as companyinformation, invoice or customer.",
	checkScope: scopeWord,
	session:    fortnoxSession,
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("Authorization", "Bearer "+c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		var rotated map[string]string
		var granted []string
		if p.c.Values["refresh_token"] != "" {
			tok, a := fortnoxRefresh(p)
			if r, done := p.common(a); done {
				return r
			}
			if !a.ok() || tok.AccessToken == "" {
				if a.status == http.StatusBadRequest || a.status == http.StatusUnauthorized || tok.Error != "" {
					return result(keyward.OutcomeInvalidCredentials, a.status, "Fortnox refused the client id, client secret or refresh token. A refresh token works once and expires after 45 days: authorise the integration again in Fortnox for a new one.")
				}
				return p.unexpected(a)
			}
			rotated = tok.rotated()
			p.c.Values[FieldAccessToken] = tok.AccessToken
			granted = strings.Fields(tok.Scope)
		} else if p.c.Values[FieldAccessToken] == "" {
			return result(keyward.OutcomeInvalidCredentials, 0, "Enter a Fortnox refresh token (or an access token) to connect.")
		}
		r := fortnoxCompany(p)
		r.Rotated = rotated
		r.Scopes = granted
		if r.Outcome == keyward.OutcomeOK && granted != nil {
			if m := missing(p.c.RequiredScopes, granted, nil); len(m) > 0 {
				r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, m
				r.Message = "The credentials work, but the integration lacks the scopes " + strings.Join(m, ", ") + ". Add them to the integration in Fortnox and authorise it again."
			}
		}
		return r
	},
})

// fortnoxToken is the token endpoint's answer.
type fortnoxToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
}

// rotated returns the secrets to store in place of the old ones.
func (t fortnoxToken) rotated() map[string]string {
	out := map[string]string{FieldAccessToken: t.AccessToken}
	if t.RefreshToken != "" {
		out["refresh_token"] = t.RefreshToken
	}
	return out
}

// fortnoxRefresh swaps the refresh token for an access token (and a new
// refresh token: the old one no longer works).
func fortnoxRefresh(p *prober) (fortnoxToken, answer) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.c.Values["refresh_token"]}}.Encode()
	basic := base64.StdEncoding.EncodeToString([]byte(p.c.Values["client_id"] + ":" + p.c.Values[FieldSecret]))
	a := p.send(http.MethodPost, p.c.Values["auth_url"]+"/oauth-v1/token", []byte(form), func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+basic)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}, false)
	var tok fortnoxToken
	a.decode(&tok)
	return tok, a
}

// fortnoxSession gets a fresh access token for requests sent on a
// caller's behalf; its rotated refresh token must be stored.
func fortnoxSession(p *prober) (Session, error) {
	if p.c.Values["refresh_token"] == "" {
		// Only an access token is kept: use it as it is.
		return Session{Until: p.now.Add(time.Hour)}, nil
	}
	tok, a := fortnoxRefresh(p)
	if a.err != nil {
		return Session{}, a.err
	}
	if !a.ok() || tok.AccessToken == "" {
		return Session{}, fmt.Errorf("fortnox: the token endpoint answered HTTP %d", a.status)
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 || life > time.Hour {
		life = time.Hour
	}
	// Renew five minutes before the token runs out.
	return Session{Values: map[string]string{FieldAccessToken: tok.AccessToken}, Rotated: tok.rotated(), Until: p.now.Add(life - 5*time.Minute)}, nil
}

func fortnoxCompany(p *prober) Result {
	a := p.get("/3/companyinformation")
	if r, done := p.common(a); done {
		return r
	}
	var body struct {
		ErrorInformation *struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"ErrorInformation"`
		CompanyInformation struct {
			CompanyName        string `json:"CompanyName"`
			OrganizationNumber string `json:"OrganizationNumber"`
		} `json:"CompanyInformation"`
	}
	a.decode(&body)
	if e := body.ErrorInformation; e != nil {
		switch e.Code {
		case 2000310, 2000311:
			return result(keyward.OutcomeInvalidCredentials, a.status, "Fortnox refused the access token. Authorise the integration again in Fortnox.")
		case 2001103:
			return result(keyward.OutcomeAccountLocked, a.status, "The Fortnox company has no licence for the API. Its owner must add the integration licence in Fortnox.")
		case 2001101:
			r := result(keyward.OutcomeInsufficientScope, a.status, "The Fortnox company has no licence for the company information this check reads.")
			r.MissingScopes = []string{"companyinformation"}
			return r
		}
	}
	switch a.status {
	case http.StatusUnauthorized:
		return result(keyward.OutcomeInvalidCredentials, a.status, "Fortnox refused the access token: it is wrong or has expired. Enter a refresh token so keyward can get a new one.")
	case http.StatusForbidden:
		r := result(keyward.OutcomeInsufficientScope, a.status, "The credentials work, but the integration lacks the companyinformation scope. Add it in Fortnox and authorise again.")
		r.MissingScopes = []string{"companyinformation"}
		return r
	}
	if !a.ok() {
		return p.unexpected(a)
	}
	ci := body.CompanyInformation
	if ci.CompanyName == "" {
		return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as Fortnox does.")
	}
	r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Account: ci.CompanyName}}
	r.Message = "Connected to the Fortnox company " + ci.CompanyName + " (" + ci.OrganizationNumber + ")."
	return r
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]{1,512}$`)

func token(what string) func(string) (string, error) {
	return func(s string) (string, error) {
		if !tokenRE.MatchString(s) {
			return "", errors.New("a " + what + " holds letters, digits and . _ ~ + / = - only")
		}
		return s, nil
	}
}

// RetailCRM (Simla): X-API-KEY; the unversioned GET /api/credentials lists
// the key's scopes and stores. A wrong key and an unknown account both
// answer 403, the latter sometimes as an HTML page.
var RetailCRM = register(&Type{
	ID: "retailcrm", Name: "RetailCRM",
	URLHelp: "The account's address, such as https://mybusiness.retailcrm.ru.",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The API key (Settings > Integration > API access keys)."},
	},
	ScopeHelp:  "RetailCRM scopes such as order_read or customer_write.",
	checkScope: scopeWord,
	authorize: func(h http.Header, q url.Values, c *Creds) {
		q.Del("apiKey")
		h.Set("X-API-KEY", c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		a := p.get("/api/credentials")
		if a.err == nil && (a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests) {
			// RetailCRM answers its rate limit with 503.
			return p.rateLimited(a, retryAfter(a.header, p.now))
		}
		var body struct {
			Success        bool     `json:"success"`
			ErrorMsg       string   `json:"errorMsg"`
			Scopes         []string `json:"scopes"`
			Credentials    []string `json:"credentials"`
			SiteAccess     string   `json:"siteAccess"`
			SitesAvailable []string `json:"sitesAvailable"`
		}
		isJSON := a.decode(&body)
		if a.err == nil && (strings.Contains(body.ErrorMsg, "Account does not exist") || (a.html() && strings.Contains(string(a.body), "Account does not exist"))) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "RetailCRM has no account at this address. Check the account's address (https://<name>.retailcrm.ru).")
		}
		if r, done := p.common(a); done {
			return r
		}
		switch {
		case a.status == http.StatusForbidden && strings.Contains(body.ErrorMsg, "apiKey"):
			return result(keyward.OutcomeInvalidCredentials, a.status, "RetailCRM refused the API key: it is wrong or was deleted. Copy it again from Settings > Integration > API access keys.")
		case a.status == http.StatusForbidden && isJSON:
			r := result(keyward.OutcomeInsufficientScope, a.status, "The API key works, but may not read its own credentials. Allow the key the methods it needs in RetailCRM.")
			r.MissingScopes = []string{"/api/credentials"}
			return r
		case a.status == http.StatusForbidden || a.status == http.StatusUnauthorized:
			return result(keyward.OutcomeInvalidCredentials, a.status, "RetailCRM refused the request. Check the API key and the account address.")
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		if !isJSON || !body.Success {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as RetailCRM does. Check the account's address.")
		}
		granted := body.Scopes
		if len(granted) == 0 {
			granted = body.Credentials
		}
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Scopes: granted}}
		if body.SiteAccess == "access_selective" {
			r.Account = "stores " + strings.Join(body.SitesAvailable, ", ")
		} else {
			r.Account = "all stores"
		}
		if m := missing(p.c.RequiredScopes, granted, nil); len(m) > 0 {
			r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, m
			r.Message = "The API key works, but lacks " + strings.Join(m, ", ") + ". Tick them for the key in RetailCRM."
			return r
		}
		r.Message = "Connected to RetailCRM with access to " + r.Account + "."
		return r
	},
})

// ReCharge: X-Recharge-Access-Token; GET /token_information lists the
// token's scopes, GET /store names the store.
var ReCharge = register(&Type{
	ID: "recharge", Name: "ReCharge",
	DefaultURL: "https://api.rechargeapps.com",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The API token (Apps > ReCharge > API tokens)."},
	},
	ScopeHelp:  "ReCharge scopes such as read_orders or write_subscriptions; a write scope covers its read scope.",
	checkScope: scopeWord,
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("X-Recharge-Access-Token", c.Values[FieldAccessToken])
		if h.Get("X-Recharge-Version") == "" {
			h.Set("X-Recharge-Version", "2021-11")
		}
	},
	probe: func(p *prober) Result {
		a := p.get("/token_information")
		if r, done := p.common(a); done {
			return r
		}
		switch a.status {
		case http.StatusUnauthorized:
			return result(keyward.OutcomeInvalidCredentials, a.status, "ReCharge refused the API token: it is wrong or was deleted. Copy it again from ReCharge's API tokens page.")
		case http.StatusForbidden:
			return result(keyward.OutcomeInsufficientScope, a.status, "The API token works, but may not read its own information. Edit the token's permissions in ReCharge.")
		case http.StatusPaymentRequired:
			return result(keyward.OutcomeAccountLocked, a.status, "The ReCharge store's plan does not allow API access. Its owner must settle the plan with ReCharge.")
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var ti struct {
			TokenInformation struct {
				Name   string   `json:"name"`
				Scopes []string `json:"scopes"`
			} `json:"token_information"`
		}
		if !a.decode(&ti) {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as ReCharge does.")
		}
		granted := ti.TokenInformation.Scopes
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Scopes: granted, Account: ti.TokenInformation.Name}}
		if m := missing(p.c.RequiredScopes, granted, writeImpliesRead); len(m) > 0 {
			r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, m
			r.Message = "The API token works, but lacks " + strings.Join(m, ", ") + ". Edit the token's permissions in ReCharge."
			return r
		}
		if slices.Contains(granted, "read_store") || slices.Contains(granted, "store_info") || slices.Contains(granted, "write_store") {
			s := p.get("/store")
			var st struct {
				Store struct {
					Name string `json:"name"`
				} `json:"store"`
			}
			if s.ok() && s.decode(&st) && st.Store.Name != "" {
				r.Account = st.Store.Name
			}
		}
		r.Message = "Connected to the ReCharge store " + r.Account + "."
		return r
	},
})

// Klaviyo: a private key (pk_…) as "Klaviyo-API-Key"; GET /api/accounts/
// names the account. A 403 with an HTML body is Cloudflare's bot
// challenge, not a missing scope.
var Klaviyo = register(&Type{
	ID: "klaviyo", Name: "Klaviyo",
	DefaultURL: "https://a.klaviyo.com",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "A private API key (pk_…), with accounts:read; the 6-character public key cannot be checked.", Parse: klaviyoKey},
	},
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("Authorization", "Klaviyo-API-Key "+c.Values[FieldAccessToken])
		if h.Get("Revision") == "" {
			h.Set("Revision", "2024-10-15")
		}
	},
	probe: func(p *prober) Result {
		a := p.get("/api/accounts/")
		if a.err == nil && a.status == http.StatusForbidden && (a.html() || a.header.Get("Cf-Mitigated") != "") {
			return result(keyward.OutcomeUpstreamError, a.status, "Klaviyo's firewall challenged the request instead of answering it. This is not a problem with the key; try again later.")
		}
		if r, done := p.common(a); done {
			return r
		}
		switch a.status {
		case http.StatusUnauthorized, http.StatusBadRequest:
			return result(keyward.OutcomeInvalidCredentials, a.status, "Klaviyo refused the private API key: it is wrong or was revoked. Create or copy a private key under Settings > API keys.")
		case http.StatusForbidden:
			r := result(keyward.OutcomeInsufficientScope, a.status, "The private API key works, but lacks accounts:read. Give the key Read access to Accounts in Klaviyo.")
			r.MissingScopes = []string{"accounts:read"}
			return r
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var acc struct {
			Data []struct {
				ID         string `json:"id"`
				Attributes struct {
					ContactInformation struct {
						OrganizationName string `json:"organization_name"`
					} `json:"contact_information"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if !a.decode(&acc) || len(acc.Data) == 0 {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as Klaviyo does.")
		}
		d := acc.Data[0]
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status, Account: d.Attributes.ContactInformation.OrganizationName, Scopes: []string{"accounts:read"}}}
		r.Message = "Connected to the Klaviyo account " + r.Account + " (" + d.ID + ")."
		return r
	},
})

func klaviyoKey(s string) (string, error) {
	if len(s) == 6 && !strings.HasPrefix(s, "pk_") {
		return "", errors.New("this looks like the 6-character public key (site id); enter a private API key, which starts with pk_")
	}
	if !strings.HasPrefix(s, "pk_") || strings.ContainsAny(s, " ") {
		return "", errors.New("a private API key starts with pk_")
	}
	return s, nil
}

// Retail Express: x-api-key; GET /v2/auth/token swaps the key for a
// bearer token, which alone proves the key, and one outlet names the
// account.
var RetailExpress = register(&Type{
	ID: "retailexpress", Name: "Retail Express",
	DefaultURL: "https://api.retailexpress.com.au",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The API key (Settings > Integrations > API Management); either of the two works."},
	},
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("X-Api-Key", c.Values[FieldAccessToken])
		if t := c.Values["bearer"]; t != "" {
			h.Set("Authorization", "Bearer "+t)
		}
	},
	session: func(p *prober) (Session, error) {
		a := p.get("/v2/auth/token")
		var tok struct {
			AccessToken string    `json:"access_token"`
			ExpiresOn   time.Time `json:"expires_on"`
		}
		if !a.ok() || !a.decode(&tok) || tok.AccessToken == "" {
			if a.err != nil {
				return Session{}, a.err
			}
			return Session{}, fmt.Errorf("retail express: the token call answered HTTP %d", a.status)
		}
		// Tokens last about an hour; renew a minute early.
		until := p.now.Add(50 * time.Minute)
		if !tok.ExpiresOn.IsZero() && tok.ExpiresOn.Add(-time.Minute).Before(until) {
			until = tok.ExpiresOn.Add(-time.Minute)
		}
		return Session{Values: map[string]string{"bearer": tok.AccessToken}, Until: until}, nil
	},
	probe: func(p *prober) Result {
		a := p.get("/v2/auth/token")
		if r, done := p.common(a); done {
			return r
		}
		switch a.status {
		case http.StatusUnauthorized:
			return result(keyward.OutcomeInvalidCredentials, a.status, "Retail Express refused the API key: it is wrong, disabled or deleted. Copy it again from Settings > Integrations > API Management.")
		case http.StatusForbidden:
			return result(keyward.OutcomeAccountLocked, a.status, "Retail Express refused access for this account: its API access may be switched off or unpaid.")
		}
		if !a.ok() {
			return p.unexpected(a)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if !a.decode(&tok) || tok.AccessToken == "" {
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as Retail Express does.")
		}
		p.c.Values["bearer"] = tok.AccessToken
		r := Result{Verification: keyward.Verification{Outcome: keyward.OutcomeOK, HTTPStatus: a.status}}
		o := p.get("/v2.1/outlets?page_number=1&page_size=1")
		if o.err == nil && (o.status == http.StatusUnauthorized || o.status == http.StatusForbidden) {
			r := result(keyward.OutcomeInsufficientScope, o.status, "The API key works, but may not read outlets. Check the key's access in Retail Express.")
			r.MissingScopes = []string{"outlets"}
			return r
		}
		var outlets struct {
			Data []struct {
				Name string `json:"outlet_name"`
			} `json:"data"`
		}
		if o.ok() && o.decode(&outlets) && len(outlets.Data) > 0 {
			r.Account = outlets.Data[0].Name
		}
		delete(p.c.Values, "bearer")
		r.Message = "Connected to Retail Express"
		if r.Account != "" {
			r.Message += " (outlet " + r.Account + ")"
		}
		r.Message += "."
		return r
	},
})

// Keyward: another keyward's API key, checked with POST /v1/verify as a
// dry run; the answer names the key and its permissions.
var Keyward = register(&Type{
	ID: "keyward", Name: "keyward",
	URLHelp: "The other keyward's address, such as https://keys.example.com.",
	Fields: []Field{
		{Name: FieldAccessToken, Label: "Access token", Secret: true, Required: true, Help: "The API key (kwk_…)."},
		{Name: "method", Label: "Method to check", Default: "orders.list", Help: "A method id of the other keyward's catalog the key must be allowed, such as orders.list.", Parse: methodID},
		{Name: "store", Label: "Store", Help: "The store the key acts on, when the method needs one.", Parse: methodID},
	},
	ScopeHelp:  "Permissions as resource:level, such as orders:read or payments:write; write covers read.",
	checkScope: keywardScope,
	authorize: func(h http.Header, _ url.Values, c *Creds) {
		h.Set("X-Api-Key", c.Values[FieldAccessToken])
	},
	probe: func(p *prober) Result {
		body, _ := json.Marshal(map[string]any{"key": p.c.Values[FieldAccessToken], "method": p.c.Values["method"], "store": p.c.Values["store"], "dry_run": true})
		a := p.send(http.MethodPost, "/v1/verify", body, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, false)
		var v struct {
			Valid       bool                     `json:"valid"`
			Code        string                   `json:"code"`
			Message     string                   `json:"message"`
			DisplayName string                   `json:"display_name"`
			Permissions map[string]keyward.Level `json:"permissions"`
			Missing     *struct {
				Resource string `json:"resource"`
				Level    string `json:"level"`
			} `json:"missing"`
			RetryAfter int `json:"retry_after"`
		}
		isJSON := a.decode(&v)
		if a.err == nil && a.status == http.StatusServiceUnavailable && isJSON {
			return result(keyward.OutcomeUpstreamError, a.status, "The other keyward cannot confirm keys right now: %s", v.Message)
		}
		if r, done := p.common(a); done {
			return r
		}
		if !a.ok() || !isJSON || v.Code == "" {
			if a.status == http.StatusBadRequest {
				return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The other keyward refused the check; is the method %q in its catalog?", p.c.Values["method"])
			}
			return result(keyward.OutcomeNotFoundOrWrongHost, a.status, "The API URL does not answer as keyward does. Enter the other keyward's address.")
		}
		var granted []string
		for res, lvl := range v.Permissions {
			if lvl != keyward.LevelNone {
				granted = append(granted, res+":"+string(lvl))
			}
		}
		sort.Strings(granted)
		r := Result{Verification: keyward.Verification{HTTPStatus: a.status, Account: v.DisplayName, Scopes: granted}}
		switch v.Code {
		case "VALID":
			r.Outcome = keyward.OutcomeOK
			if m := missing(p.c.RequiredScopes, granted, keywardImplies); len(m) > 0 {
				r.Outcome, r.MissingScopes = keyward.OutcomeInsufficientScope, m
				r.Message = "The key " + v.DisplayName + " is valid, but lacks " + strings.Join(m, ", ") + ". Ask the other keyward's administrator to grant them."
				return r
			}
			r.Message = "The key " + v.DisplayName + " is valid and may call " + p.c.Values["method"] + "."
		case "NOT_FOUND", "DISABLED", "EXPIRED":
			r.Outcome = keyward.OutcomeInvalidCredentials
			r.Message = "The other keyward refused the key: " + v.Message
		case "LICENCE_INACTIVE":
			r.Outcome = keyward.OutcomeAccountLocked
			r.Message = v.Message
		case "INSUFFICIENT_PERMISSION":
			r.Outcome = keyward.OutcomeInsufficientScope
			if v.Missing != nil {
				r.MissingScopes = []string{v.Missing.Resource + ":" + v.Missing.Level}
			}
			r.Message = "The key is valid but may not call " + p.c.Values["method"] + ": " + v.Message
		case "METHOD_NOT_ALLOWED", "STORE_NOT_ALLOWED", "STORE_REQUIRED", "STORE_AMBIGUOUS":
			r.Outcome = keyward.OutcomeInsufficientScope
			r.MissingScopes = []string{p.c.Values["method"]}
			r.Message = "The key is valid but may not call " + p.c.Values["method"] + ": " + v.Message
		case "RATE_LIMITED":
			r.Outcome, r.RetryAfter = keyward.OutcomeRateLimited, max(v.RetryAfter, 1)
			r.Message = "The other keyward is limiting this key right now. Try again in " + strconv.Itoa(r.RetryAfter) + " seconds."
		default:
			r.Outcome = keyward.OutcomeNotFoundOrWrongHost
			r.Message = "The other keyward could not check the method: " + v.Message
		}
		return r
	},
})

var methodRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

func methodID(s string) (string, error) {
	if !methodRE.MatchString(s) {
		return "", errors.New("use letters, digits and _ . : - only")
	}
	return s, nil
}

func keywardScope(s string) error {
	res, lvl, ok := strings.Cut(s, ":")
	if !ok || (lvl != "read" && lvl != "write") || !methodRE.MatchString(res) {
		return errors.New("write resource:level, such as orders:read or payments:write")
	}
	return nil
}

func keywardImplies(have, want string) bool {
	res, lvl, _ := strings.Cut(want, ":")
	return lvl == "read" && have == res+":write"
}
