package connector_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
)

// FuzzNormalize feeds each type's field parsers, the API URL check and the
// scope check arbitrary input: they refuse with invalid_argument naming a
// field, never panic, never quote a secret, and what they accept is
// normalised for good (normalising it again changes nothing).
func FuzzNormalize(f *testing.F) {
	f.Add(uint8(0), "https://shop.example.com/", "mystore", "tok_123456", "read_orders")
	f.Add(uint8(3), "http://127.0.0.1:8080", "https://api.bigcommerce.com/stores/abc/v3/", "ck_12345678", "write")
	f.Add(uint8(5), "", "MyStore.myshopify.com", "pk_abcdef", "orders:read")
	f.Add(uint8(7), "ftp://x", "a\x00b", "", "Magento_Sales::sales")
	f.Add(uint8(9), "https://u:p@h/?q#f", "%zz", "\u202e", "")
	types := connector.Types()
	f.Fuzz(func(t *testing.T, which uint8, apiURL, field, secret, scope string) {
		ty := types[int(which)%len(types)]
		values := map[string]string{}
		for _, fl := range ty.Fields {
			if fl.Secret {
				values[fl.Name] = secret
			} else {
				values[fl.Name] = field
			}
		}
		u, v, sc, err := ty.Normalize(apiURL, values, []string{scope})
		if err != nil {
			e, ok := err.(*keyward.Error)
			if !ok || e.Code != keyward.EInvalid || e.Field == "" {
				t.Fatalf("%s: error %v, want invalid_argument naming a field", ty.ID, err)
			}
			if len(secret) >= 8 && strings.Contains(e.Message, secret) {
				t.Fatalf("%s: the error quotes the secret: %s", ty.ID, e.Message)
			}
			return
		}
		u2, v2, sc2, err := ty.Normalize(u, v, sc)
		if err != nil || u2 != u || !maps.Equal(v, v2) || !slices.Equal(sc, sc2) {
			t.Fatalf("%s: normalising again changed %q %v %v into %q %v %v (%v)", ty.ID, u, v, sc, u2, v2, sc2, err)
		}
	})
}

// cannedDoer answers every request with one response, without a network.
type cannedDoer struct {
	status int
	header http.Header
	body   []byte
}

func (d *cannedDoer) Do(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: d.status, Header: d.header.Clone(), Body: io.NopCloser(bytes.NewReader(d.body)), Request: r}, nil
}

// FuzzClassify gives every type's probe arbitrary answers (status,
// content type, Retry-After and body): each is classified into one of the
// outcomes, with a sentence, and never echoes the credentials.
func FuzzClassify(f *testing.F) {
	f.Add(uint8(0), 200, "application/json", "", []byte(`{"access_scopes":[{"handle":"read_orders"}]}`))
	f.Add(uint8(4), 401, "application/json", "", []byte(`{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"tok_secret_value"}}`))
	f.Add(uint8(2), 429, "text/plain", "2.5", []byte(`slow down`))
	f.Add(uint8(4), 403, "text/html", "", []byte(`<html>Account does not exist.</html>`))
	f.Add(uint8(6), 200, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"success":true,"scopes":null}`))
	f.Add(uint8(8), 503, "", "-1", []byte(`{"valid":true,"code":"VALID","permissions":{"orders":"write"}}`))
	types := connector.Types()
	f.Fuzz(func(t *testing.T, which uint8, status int, contentType, retry string, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		ty := types[int(which)%len(types)]
		const secret = "tok_secret_value"
		values := map[string]string{}
		for _, fl := range ty.Fields {
			switch {
			case fl.Secret:
				values[fl.Name] = "ck_" + secret
			case fl.Default != "":
				values[fl.Name] = fl.Default
			default:
				values[fl.Name] = "abc123"
			}
		}
		d := &cannedDoer{status: status, header: http.Header{"Content-Type": {contentType}, "Retry-After": {retry}}, body: body}
		r := ty.Verify(context.Background(), d, connector.Creds{APIURL: "https://api.example.com", Values: values, RequiredScopes: []string{"read_orders"}}, now)
		if !slices.Contains(keyward.Outcomes, r.Outcome) || r.Message == "" {
			t.Fatalf("%s: outcome %q, message %q", ty.ID, r.Outcome, r.Message)
		}
		if strings.Contains(r.Message, secret) || strings.Contains(r.Account, secret) || strings.Contains(strings.Join(r.Scopes, " "), secret) {
			t.Fatalf("%s: the result echoes the credential: %+v", ty.ID, r)
		}
		if r.Outcome == keyward.OutcomeRateLimited && (r.RetryAfter < 1 || r.RetryAfter > 86400) {
			t.Fatalf("%s: retry after %d", ty.ID, r.RetryAfter)
		}
	})
}

// FuzzRedactor feeds the redactor arbitrary answers and secrets: it never
// panics, and no secret of six characters or more is left in what it
// returns, in any ASCII case, whatever escapes surround it.
func FuzzRedactor(f *testing.F) {
	f.Add("tok_0123456789", `{"echo":"tok_0123456789"}`)
	f.Add("a/b+c=d&e", `a%2Fb%2bc%3dd%26e \u0061/b+c=d\u0026e &#97;&#x2F;b+c=d&amp;e`)
	f.Add("secret", "%%2%\\u12&#;&#x110000;&amp\\x4")
	f.Fuzz(func(t *testing.T, secret, answer string) {
		c := connector.Creds{Values: map[string]string{connector.FieldAccessToken: secret}}
		req, _ := http.NewRequest("GET", "https://x.example/", nil)
		connector.Shopify.Authorize(req, c)
		got := connector.Shopify.Redactor(c, req).String(answer)
		lower := func(s string) string { // ASCII letters only, as the redactor matches
			b := []byte(s)
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
		if len(secret) >= 6 && strings.Contains(lower(got), lower(secret)) {
			t.Fatalf("%q left in %q", secret, got)
		}
		if len(secret) < 6 && got != answer {
			t.Fatalf("a short secret changed the answer: %q", got)
		}
	})
}
