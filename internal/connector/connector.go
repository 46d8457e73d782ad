package connector

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// The fields every type may have besides its own: the access token and the
// secret, as the back office names them.
const (
	FieldAccessToken = "access_token"
	FieldSecret      = "secret"
)

// Field is one input of a connection type.
type Field struct {
	Name  string
	Label string
	Help  string
	// Secret fields are sealed at rest and never shown again.
	Secret bool
	// Destination fields decide where the secrets are sent (a shop's
	// domain, a token endpoint): changing one moves stored secrets to
	// another party, so it is treated as the API URL is (see
	// Type.MovedDestination).
	Destination bool
	Required    bool
	// Default is used when the field is left empty.
	Default string
	// Parse checks and normalises a non-empty value; nil accepts any
	// printable text of at most 4096 characters.
	Parse func(string) (string, error)
}

// Doer sends HTTP requests; keyward passes its outbound client.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Creds are a connection's settings and secrets, ready for a probe or a
// forwarded request.
type Creds struct {
	APIURL string
	// Values holds every field by name, secret or not.
	Values map[string]string
	// RequiredScopes are the scopes the connection needs.
	RequiredScopes []string
}

// Result is the outcome of a probe and the secrets it rotated, which the
// caller must store in place of the old ones (Fortnox refresh tokens are
// single-use).
type Result struct {
	keyward.Verification
	Rotated map[string]string
}

// Type is one kind of external system.
type Type struct {
	ID   string
	Name string
	// DefaultURL is the system's fixed API address, "" when each account
	// has its own.
	DefaultURL string
	URLHelp    string
	Fields     []Field
	// ScopeHelp explains what required scopes are for this type, or is ""
	// when the type has none to check.
	ScopeHelp string
	// CacheFor is how long a passing check is kept before the system is
	// asked again; systems with strict limits on their probe keep it
	// longer.
	CacheFor time.Duration
	// urlFrom derives the API URL from the fields when none is given.
	urlFrom func(values map[string]string) string
	// checkScope checks one required scope's spelling, when set.
	checkScope func(string) error
	probe      func(p *prober) Result
	authorize  func(h http.Header, q url.Values, c *Creds)
	// session gets short-lived values (a bearer token) that requests sent
	// on a caller's behalf need besides the stored credentials; nil for
	// systems that need none.
	session func(p *prober) (Session, error)
}

// Session is what a system gives for requests sent on a caller's behalf.
type Session struct {
	// Values are added to Creds.Values for each request, such as a
	// bearer token.
	Values map[string]string
	// Rotated are secrets the system replaced while giving the session
	// (Fortnox's single-use refresh token); the caller must store them.
	Rotated map[string]string
	// Until is when the values stop serving.
	Until time.Time
}

// DefaultCacheFor is how long a passing check is kept unless the type says
// otherwise.
const DefaultCacheFor = time.Minute

// ProbeTimeout bounds a whole check, every call of it included.
const ProbeTimeout = 15 * time.Second

var registry []*Type

func register(t *Type) *Type {
	if t.CacheFor == 0 {
		t.CacheFor = DefaultCacheFor
	}
	registry = append(registry, t)
	return t
}

// Types lists every connection type, by name.
func Types() []*Type {
	out := slices.Clone(registry)
	slices.SortFunc(out, func(a, b *Type) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}

// Lookup returns the type with id.
func Lookup(id string) (*Type, bool) {
	for _, t := range registry {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// Field returns the type's field called name.
func (t *Type) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// SecretFields names the type's secret fields.
func (t *Type) SecretFields() []string {
	var out []string
	for _, f := range t.Fields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// FieldAPIURL names the API URL where destinations are listed.
const FieldAPIURL = "api_url"

// Destinations returns what decides where the connection's secrets are
// sent, by name: the API URL and every Destination field, as normalised.
func (t *Type) Destinations(apiURL string, values map[string]string) map[string]string {
	out := map[string]string{FieldAPIURL: apiURL}
	for _, f := range t.Fields {
		if f.Destination {
			out[f.Name] = values[f.Name]
		}
	}
	return out
}

// MovedDestination names, sorted and as input paths ("api_url",
// "fields.shop_domain"), what decides where the secrets go and differs
// between two normalised versions of a connection. Any difference counts,
// a path or a port as much as a host: a stored secret goes only where it
// was entered for.
func (t *Type) MovedDestination(beforeURL string, before map[string]string, afterURL string, after map[string]string) []string {
	a, b := t.Destinations(beforeURL, before), t.Destinations(afterURL, after)
	var out []string
	for name, v := range a {
		if b[name] != v {
			out = append(out, fieldPath(name))
		}
	}
	slices.Sort(out)
	return out
}

// NeedsURL reports whether the user must give the API URL.
func (t *Type) NeedsURL() bool { return t.DefaultURL == "" && t.urlFrom == nil }

// typeIDs lists the ids, for error messages.
func typeIDs() string {
	var ids []string
	for _, t := range Types() {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, ", ")
}

// LookupInput returns the type with id, or an invalid_argument error
// naming the known ones.
func LookupInput(id string) (*Type, error) {
	t, ok := Lookup(strings.TrimSpace(id))
	if !ok {
		return nil, keyward.Invalid("type", "unknown external system %q; known systems are %s", id, typeIDs())
	}
	return t, nil
}

// Normalize checks a connection's API URL, fields and required scopes and
// returns them normalised: defaults filled in, each field parsed. Fields
// the type does not have are refused. Errors name the field and never
// quote a secret.
func (t *Type) Normalize(apiURL string, values map[string]string, scopes []string) (string, map[string]string, []string, error) {
	out := map[string]string{}
	for name := range values {
		if _, ok := t.Field(name); !ok {
			return "", nil, nil, keyward.Invalid(fieldPath(name), "%s has no field %q; its fields are %s", t.Name, name, t.fieldNames())
		}
	}
	for _, f := range t.Fields {
		v := strings.TrimSpace(values[f.Name])
		if v == "" {
			v = f.Default
		}
		if v == "" {
			if f.Required {
				return "", nil, nil, keyward.Invalid(fieldPath(f.Name), "%s: %s is required", t.Name, f.Label)
			}
			continue
		}
		if len(v) > 4096 {
			return "", nil, nil, keyward.Invalid(fieldPath(f.Name), "%s must be at most 4096 characters", f.Label)
		}
		if err := printable(v); err != nil {
			return "", nil, nil, keyward.Invalid(fieldPath(f.Name), "%s %s", f.Label, err.Error())
		}
		if f.Parse != nil {
			p, err := f.Parse(v)
			if err != nil {
				return "", nil, nil, keyward.Invalid(fieldPath(f.Name), "%s: %s", f.Label, err.Error())
			}
			v = p
		}
		out[f.Name] = v
	}
	u := strings.TrimSpace(apiURL)
	if u == "" {
		u = t.DefaultURL
		if t.urlFrom != nil {
			u = t.urlFrom(out)
		}
	}
	if u == "" {
		return "", nil, nil, keyward.Invalid("api_url", "%s: the API URL is required. %s", t.Name, t.URLHelp)
	}
	nu, err := ParseAPIURL(u)
	if err != nil {
		return "", nil, nil, keyward.Invalid("api_url", "api_url %s", err.Error())
	}
	sc := []string{}
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains(sc, s) {
			continue
		}
		if err := keyward.ValidText("required_scopes", s, 200); err != nil {
			return "", nil, nil, err
		}
		if t.checkScope != nil {
			if err := t.checkScope(s); err != nil {
				return "", nil, nil, keyward.Invalid("required_scopes", "%s: scope %q: %s", t.Name, s, err.Error())
			}
		}
		sc = append(sc, s)
	}
	if len(sc) > 100 {
		return "", nil, nil, keyward.Invalid("required_scopes", "at most 100 required scopes")
	}
	return nu, out, sc, nil
}

func fieldPath(name string) string {
	if name == FieldAccessToken || name == FieldSecret || name == FieldAPIURL {
		return name
	}
	return "fields." + name
}

func (t *Type) fieldNames() string {
	var n []string
	for _, f := range t.Fields {
		n = append(n, f.Name)
	}
	return strings.Join(n, ", ")
}

// Verify runs the type's read-only probe against the system within
// ProbeTimeout and classifies the answer.
func (t *Type) Verify(ctx context.Context, d Doer, c Creds, now time.Time) Result {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	// Probes may add values (a fresh token); they stay in this copy.
	c.Values = maps.Clone(c.Values)
	p := &prober{ctx: ctx, d: d, c: &c, t: t, now: now}
	r := t.probe(p)
	r.CheckedAt = now
	// Text from the system's answer never carries a credential on, even
	// when the system echoes one.
	red := t.Redactor(c, nil)
	r.Message, r.Account = red.String(r.Message), red.String(r.Account)
	for i := range r.Scopes {
		r.Scopes[i] = red.String(r.Scopes[i])
	}
	if r.Message == "" {
		r.Message = defaultMessage(t.Name, r.Outcome)
	}
	slices.Sort(r.Scopes)
	r.Scopes = slices.Compact(r.Scopes)
	return r
}

// HasSession reports whether requests sent on a caller's behalf need
// short-lived values from Session.
func (t *Type) HasSession() bool { return t.session != nil }

// Session gets the short-lived values requests need besides the stored
// credentials: Retail Express's bearer token, a fresh Fortnox access
// token (whose rotated refresh token must then be stored).
func (t *Type) Session(ctx context.Context, d Doer, c Creds, now time.Time) (Session, error) {
	if t.session == nil {
		return Session{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	c.Values = maps.Clone(c.Values)
	return t.session(&prober{ctx: ctx, d: d, c: &c, t: t, now: now})
}

// Authorize adds the connection's credentials to a request's headers and
// query in the form the system expects.
func (t *Type) Authorize(req *http.Request, c Creds) {
	q := req.URL.Query()
	t.authorize(req.Header, q, &c)
	req.URL.RawQuery = q.Encode()
}

// CredentialHeaders are the request headers any type may carry a
// credential in; they are removed from a caller's request before the
// connection's own are added, and from the answers passed back.
var CredentialHeaders = []string{"Authorization", "X-Shopify-Access-Token", "X-Auth-Token", "X-Auth-Client",
	"X-Api-Key", "X-Recharge-Access-Token", "Access-Token", "Client-Secret", "Cookie", "Set-Cookie", "Proxy-Authorization"}

// missing returns the required scopes granted does not cover; implied
// tells whether holding one scope gives another (write_orders gives
// read_orders), nil for exact matches only.
func missing(required, granted []string, implied func(have, want string) bool) []string {
	var out []string
	for _, r := range required {
		ok := slices.Contains(granted, r)
		for _, g := range granted {
			if !ok && implied != nil && implied(g, r) {
				ok = true
			}
		}
		if !ok {
			out = append(out, r)
		}
	}
	return out
}

// writeImpliesRead says a write_x scope gives read_x, as Shopify and
// ReCharge define them.
func writeImpliesRead(have, want string) bool {
	r, ok := strings.CutPrefix(want, "read_")
	return ok && have == "write_"+r
}
