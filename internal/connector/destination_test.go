package connector_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/connector/connectortest"
)

// origins records the origin of every request a check sends and answers
// it from one fake, whatever host the request names, so the check runs
// its whole course.
type origins struct {
	fake *connectortest.Fake
	mu   sync.Mutex
	seen []string
}

func (o *origins) Do(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.seen = append(o.seen, req.URL.Scheme+"://"+req.URL.Host)
	o.mu.Unlock()
	fake, _ := url.Parse(o.fake.URL)
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = fake.Scheme, fake.Host, ""
	out.RequestURI = ""
	return http.DefaultClient.Do(out)
}

// reached runs a type's check and its session with values and returns
// the origins they sent requests to.
func reached(t *testing.T, ty *connector.Type, f *connectortest.Fake, apiURL string, values map[string]string) []string {
	t.Helper()
	u, v, _, err := ty.Normalize(apiURL, values, nil)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	o := &origins{fake: f}
	ty.Verify(context.Background(), o, connector.Creds{APIURL: u, Values: v}, now)
	if ty.HasSession() {
		if v["refresh_token"] != "" {
			v["refresh_token"] = f.RefreshToken()
		}
		ty.Session(context.Background(), o, connector.Creds{APIURL: u, Values: v}, now)
	}
	slices.Sort(o.seen)
	return slices.Compact(o.seen)
}

// alternatives are values tried in place of a field's own, the first its
// type accepts being used.
var alternatives = []string{"https://elsewhere.example.net", "elsewhere", "elsewhere7", "2099-01", "98765", "orders.get"}

// Every field that can send a type's requests (and so its secrets) to
// another origin is a destination field, so a change of it asks for the
// secrets again. A new type or field that forgets the flag fails here.
func TestEveryFieldThatMovesRequestsIsADestination(t *testing.T) {
	for _, ty := range connector.Types() {
		t.Run(ty.ID, func(t *testing.T) {
			f := connectortest.New(t, ty.ID)
			apiURL := ""
			if ty.NeedsURL() {
				apiURL = "https://account.example.com"
			}
			values := func() map[string]string {
				v := f.Values()
				if v["auth_url"] != "" {
					v["auth_url"] = "https://auth.example.com"
				}
				return v
			}
			base := reached(t, ty, f, apiURL, values())
			if len(base) == 0 {
				t.Fatal("the check sent nothing")
			}
			for _, fl := range ty.Fields {
				if fl.Secret {
					continue
				}
				_, before, _, _ := ty.Normalize(apiURL, values(), nil)
				for _, alt := range alternatives {
					v := values()
					v[fl.Name] = alt
					if _, after, _, err := ty.Normalize(apiURL, v, nil); err != nil || after[fl.Name] == before[fl.Name] {
						continue
					}
					for _, o := range reached(t, ty, f, apiURL, v) {
						if !slices.Contains(base, o) && !fl.Destination {
							t.Errorf("changing %s to %q sends requests to %s, yet it is not a destination field", fl.Name, alt, o)
						}
					}
					break
				}
			}
		})
	}
}

// A change of the API URL or of any destination field is named; other
// changes are not.
func TestMovedDestination(t *testing.T) {
	shop, _ := connector.Lookup("shopify")
	fx, _ := connector.Lookup("fortnox")
	base := map[string]string{"shop_domain": "a.myshopify.com", "api_version": "2025-10"}
	with := func(k, v string) map[string]string {
		m := map[string]string{"shop_domain": "a.myshopify.com", "api_version": "2025-10"}
		m[k] = v
		return m
	}
	for _, c := range []struct {
		name string
		ty   *connector.Type
		url  string
		v    map[string]string
		want []string
	}{
		{"nothing", shop, "https://a.myshopify.com", base, nil},
		{"version", shop, "https://a.myshopify.com", with("api_version", "2026-01"), nil},
		{"host", shop, "https://b.example.com", base, []string{"api_url"}},
		{"path", shop, "https://a.myshopify.com/x", base, []string{"api_url"}},
		{"port", shop, "https://a.myshopify.com:8443", base, []string{"api_url"}},
		{"shop", shop, "https://a.myshopify.com", with("shop_domain", "b.myshopify.com"), []string{"fields.shop_domain"}},
		{"both", shop, "https://b.myshopify.com", with("shop_domain", "b.myshopify.com"), []string{"api_url", "fields.shop_domain"}},
		{"token url", fx, "https://a.myshopify.com", with("auth_url", "https://evil.example"), []string{"fields.auth_url"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.ty.MovedDestination("https://a.myshopify.com", base, c.url, c.v)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
