package connector

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every form in which a request carried a credential is blanked in an
// answer, wherever and however the system writes it back; what carries
// none is left as it is.
func TestRedactorBlanksEveryFormSent(t *testing.T) {
	const ck, cs = `ck_a/b+c=d&e"f<g>h%i?j'k`, "cs_0123456789abcdef"
	basic := base64.StdEncoding.EncodeToString([]byte(ck + ":" + cs))
	req, _ := http.NewRequest("GET", "https://shop.example/wp-json/wc/v3/orders?per_page=5", nil)
	WooCommerce.Authorize(req, Creds{Values: map[string]string{FieldAccessToken: ck, FieldSecret: cs}})
	// A query value keyward sent that holds a secret only once decoded.
	q := req.URL.Query()
	q.Set("sig", base64.RawURLEncoding.EncodeToString([]byte("v1."+cs)))
	req.URL.RawQuery = q.Encode()
	red := WooCommerce.Redactor(Creds{Values: map[string]string{FieldAccessToken: ck, FieldSecret: cs}}, req)

	ascii16 := func(s string, big bool) string { // UTF-16 of ASCII text
		var b []byte
		for _, c := range []byte(s) {
			if big {
				b = append(b, 0, c)
			} else {
				b = append(b, c, 0)
			}
		}
		return string(b)
	}
	jsonOf := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	forms := map[string]string{
		"literal":                 ck,
		"upper case":              strings.ToUpper(cs),
		"whole Authorization":     "Basic " + basic,
		"Basic token":             basic,
		"Basic URL-safe unpadded": base64.RawURLEncoding.EncodeToString([]byte(ck + ":" + cs)),
		"Basic decoded":           ck + ":" + cs,
		"base64 inside a longer":  base64.StdEncoding.EncodeToString([]byte("Authorization: Basic " + basic)),
		"base64 at offset 1":      base64.StdEncoding.EncodeToString([]byte("x" + ck)),
		"base64 at offset 2":      base64.URLEncoding.EncodeToString([]byte("xy" + cs)),
		"base64 in MIME lines":    wrap(base64.StdEncoding.EncodeToString([]byte("Authorization: Basic "+basic)), 16),
		"UTF-16LE":                ascii16(ck, false),
		"UTF-16BE":                ascii16(cs, true),
		"hex":                     hex.EncodeToString([]byte(cs)),
		"upper-case hex":          strings.ToUpper(hex.EncodeToString([]byte("Basic " + basic))),
		"quoted-printable":        quotedPrintable(ck),
		"query-escaped":           url.QueryEscape(ck),
		"path-escaped":            url.PathEscape(ck),
		"lower-case hex":          strings.ToLower(url.QueryEscape(ck)),
		"double query-escaped":    url.QueryEscape(url.QueryEscape("Basic " + basic)),
		"form-encoded space":      url.QueryEscape("Basic " + basic),
		"JSON":                    jsonOf(ck),
		"JSON, slashes escaped":   strings.ReplaceAll(jsonOf("Basic "+basic), "/", `\/`),
		"JSON, all escaped":       `"\u0063\u006b\u005f` + jsonOf(ck[3:])[1:],
		"HTML":                    html.EscapeString(ck),
		"HTML, numeric":           "&#99;&#x6B;" + html.EscapeString(ck[2:]),
		"the query value sent":    q.Get("sig"),
		"the query value decoded": "v1." + cs,
	}
	for name, form := range forms {
		answer := `{"before": "ok", "echo": ` + form + `, "after": "2024-10-15"}`
		got := red.String(answer)
		if !strings.Contains(got, Redacted) || !strings.Contains(got, `"before": "ok"`) || !strings.Contains(got, `"after": "2024-10-15"`) {
			t.Errorf("%s: %s", name, got)
		}
		for _, s := range []string{ck, cs, basic, "Basic ", form} {
			if strings.Contains(strings.ToLower(got), strings.ToLower(s)) {
				t.Errorf("%s: %q left in %s", name, s, got)
			}
		}
	}
	// Halves of a credential and what carries none stay.
	for _, s := range []string{"ck_a/b", "per_page=5", "Basic realm", "0123456789"} {
		if got := red.String(s); got != s {
			t.Errorf("%q became %q", s, got)
		}
	}
}

// A probe's message is redacted of secrets alone; settings stay, and an
// empty credential header value redacts nothing.
func TestRedactorWithoutRequest(t *testing.T) {
	c := Creds{Values: map[string]string{FieldAccessToken: "shpat_0123456789", "shop_domain": "fake.myshopify.com", FieldSecret: "short"}}
	red := Shopify.Redactor(c, nil)
	if got := red.String("token c2hwYXRfMDEyMzQ1Njc4OQ== of fake.myshopify.com, short"); got != "token [redacted] of fake.myshopify.com, short" {
		t.Fatal(got)
	}
	req, _ := http.NewRequest("GET", "https://api.fortnox.se/3/x", nil)
	Fortnox.Authorize(req, Creds{Values: map[string]string{}})
	if got := Fortnox.Redactor(Creds{Values: map[string]string{}}, req).String("Bearer abcdefgh"); got != "Bearer abcdefgh" {
		t.Fatal(got)
	}
}

// wrap breaks s into lines of n characters, as MIME writes base64.
func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	return b.String() + s
}

// quotedPrintable writes every byte of s as quoted-printable's =XX.
func quotedPrintable(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}
