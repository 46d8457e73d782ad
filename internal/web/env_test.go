package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// env is keyward's whole HTTP surface, wired as Main.Handler wires it,
// over a SQLite database holding the demo tenant.
type env struct {
	t    *testing.T
	srv  *httptest.Server
	svc  *service.Service
	db   *store.DB
	rep  *replica.Replica
	demo *service.Demo
	sys  context.Context // the tenant's system actor, for setting things up
}

const (
	// testMasterKey seals what the back office keeps sealed, such as TOTP seeds.
	testMasterKey  = "test:0707070707070707070707070707070707070707070707070707070707070707"
	staffPassword  = "correct horse battery staple"
	licenceContact = "sales@platform.test"
)

func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	return newEnvBehind(t, tls, httpx.Front{})
}

// newEnvBehind is newEnv with front describing the proxies before it, as
// --trusted-proxies and --public-url configure them, and the service
// built with opts too.
func newEnvBehind(t *testing.T, tls bool, front httpx.Front, opts ...service.Option) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	cat := catalog.Builtin()
	rep := replica.New(db, cat)
	kr, err := seal.ParseKeyring(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(db, cat, append([]service.Option{service.WithLicenceContact(licenceContact), service.WithKeyring(kr),
		service.WithPasswordHasher(secret.TestHasher()),
		service.WithChangeHook(func(ctx context.Context) {
			if err := rep.Sync(ctx); err != nil {
				t.Errorf("replica sync: %v", err)
			}
		})}, opts...)...)
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Load(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(svc, nil).Register(mux)
	mux.Handle("POST /v1/verify", &gateway.Verifier{Replica: rep})
	New(svc).Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.Error(w, r, keyward.Errorf(keyward.ENotFound, "No such endpoint."))
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(httpx.Common(front.Wrap(mux)))
	} else {
		srv = httptest.NewServer(httpx.Common(front.Wrap(mux)))
	}
	t.Cleanup(srv.Close)
	ten, err := svc.TenantByDomain(ctx, demo.Domain)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, svc: svc, db: db, rep: rep, demo: demo, sys: keyward.WithActor(ctx, service.SystemActor(ten, "test"))}
}

// staff adds a user with a new profile holding features, signing in with
// staffPassword.
func (e *env) staff(email string, features ...keyward.Feature) *keyward.User {
	e.t.Helper()
	p, err := e.svc.CreateProfile(e.sys, keyward.ProfileCreate{Name: "Profile of " + email, Features: features})
	if err != nil {
		e.t.Fatal(err)
	}
	u, _, err := e.svc.CreateUser(e.sys, keyward.UserCreate{Email: email, ProfileID: p.ID, Password: staffPassword})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// key creates a key through the service and returns it with its secrets.
func (e *env) key(in keyward.KeyCreate) *keyward.Key {
	e.t.Helper()
	k, err := e.svc.CreateKey(e.sys, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// verify asks POST /v1/verify about a secret and returns the answer's code.
func (e *env) verify(secret, method, store string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"key": secret, "method": method, "store": store})
	res, err := e.srv.Client().Post(e.srv.URL+"/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Code string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return out.Code
}

// client is a browser without script: a cookie jar, no redirect following,
// and the Sec-Fetch-Site header a browser sends on its own forms.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if e.srv.TLS != nil {
		hc.Transport = e.srv.Client().Transport
	}
	return &client{e: e, http: hc}
}

// response is an answer with its body read.
type response struct {
	*http.Response
	Body string
}

func (c *client) do(method, path string, form url.Values, header map[string]string) *response {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &response{Response: res, Body: string(b)}
}

func (c *client) get(path string) *response { return c.do("GET", path, nil, nil) }

func (c *client) post(path string, form url.Values) *response {
	if form == nil {
		form = url.Values{}
	}
	return c.do("POST", path, form, nil)
}

// signIn signs in and fails the test unless a session cookie comes back.
func (c *client) signIn(email, password string) *response {
	c.e.t.Helper()
	res := c.post(pathSignIn, url.Values{"email": {email}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther || sessionCookie(res) == nil {
		c.e.t.Fatalf("sign in %s: %d, no session cookie\n%s", email, res.StatusCode, res.Body)
	}
	return res
}

// sessionCookie returns the session cookie a response sets, or nil.
func sessionCookie(res *response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == cookieSession || c.Name == cookieSessionSecure {
			return c
		}
	}
	return nil
}

func wantStatus(t *testing.T, res *response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, res.Body)
	}
}

func wantBody(t *testing.T, res *response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.Body, p) {
			t.Fatalf("%s %s: the page lacks %q\n%s", res.Request.Method, res.Request.URL.Path, p, res.Body)
		}
	}
}

// totpCode is the TOTP code of seed at t.
func totpCode(t *testing.T, seed string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(seed, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
