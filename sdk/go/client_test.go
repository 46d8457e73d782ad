package keyward_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	keyward "github.com/keyward/keyward/sdk/go"
)

// fake answers every request with answer and records what came.
type fake struct {
	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*keyward.Client, *fake) {
	t.Helper()
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, r)
		f.body = append(f.body, string(b))
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := keyward.NewClient(srv.URL, keyward.WithToken("kwp_test"), keyward.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// A refusal is an error carrying the problem's members, matched by
// errors.Is against its code's sentinel and by IsCode.
func TestProblemErrorFromARefusal(t *testing.T) {
	c, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(400)
		io.WriteString(w, `{"type":"https://keyward.dev/problems/invalid_argument","title":"Invalid argument","status":400,"code":"invalid_argument","detail":"name is required","field":"name","details":{"max":64}}`)
	})
	k, err := c.Keys.Create(context.Background(), keyward.KeyCreate{})
	if k != nil {
		t.Errorf("a key with the refusal: %+v", k)
	}
	var pe *keyward.ProblemError
	if !errors.As(err, &pe) {
		t.Fatalf("%T %v, want a *ProblemError", err, err)
	}
	if pe.Status != 400 || pe.Code != "invalid_argument" || pe.Title != "Invalid argument" || pe.Detail != "name is required" ||
		pe.Field != "name" || pe.Details["max"] != float64(64) || pe.RequestID != "req-1" {
		t.Errorf("%+v", pe)
	}
	if !errors.Is(err, keyward.ErrInvalidArgument) || errors.Is(err, keyward.ErrNotFound) || !keyward.IsCode(err, "invalid_argument") || keyward.IsCode(err, "not_found") {
		t.Errorf("errors.Is / IsCode do not match the code: %v", err)
	}
	if !strings.Contains(err.Error(), "400 invalid_argument (name): name is required") {
		t.Errorf("message: %s", err)
	}
}

// An answer that is not problem details (a proxy's page) is still an
// error with its status, and 204s and lists give no error.
func TestAnswersThatAreNotProblems(t *testing.T) {
	c, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "DELETE" {
			w.WriteHeader(204)
			return
		}
		w.WriteHeader(502)
		io.WriteString(w, "<html>bad gateway</html>")
	})
	var pe *keyward.ProblemError
	if _, err := c.Stores.Get(context.Background(), "main"); !errors.As(err, &pe) || pe.Status != 502 || !strings.Contains(pe.Detail, "bad gateway") {
		t.Errorf("a 502 page: %v", err)
	}
	if err := c.Stores.Delete(context.Background(), "main"); err != nil {
		t.Errorf("a 204: %v", err)
	}
}

// A list is walked across its pages by next_cursor, in order, and stops
// when the caller stops.
func TestListFollowsNextCursorAcrossPages(t *testing.T) {
	pages := map[string]string{
		"":   `{"data":[{"id":"k1","name":"a"},{"id":"k2","name":"b"}],"next_cursor":"c2"}`,
		"c2": `{"data":[{"id":"k3","name":"c"},{"id":"k4","name":"d"}],"next_cursor":"c3"}`,
		"c3": `{"data":[{"id":"k5","name":"e"}],"next_cursor":null}`,
	}
	c, f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, pages[r.URL.Query().Get("cursor")])
	})
	var names []string
	for k, err := range c.Keys.List(context.Background(), &keyward.ListKeysParams{Limit: keyward.Int(2), Enabled: keyward.Bool(true)}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, k.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("walked %v", names)
	}
	if len(f.seen) != 3 {
		t.Fatalf("%d requests, want 3", len(f.seen))
	}
	for i, cur := range []string{"", "c2", "c3"} {
		q := f.seen[i].URL.Query()
		if q.Get("cursor") != cur || q.Get("limit") != "2" || q.Get("enabled") != "true" {
			t.Errorf("page %d asked %s", i+1, f.seen[i].URL.RawQuery)
		}
	}
	// Breaking out early asks for no further page.
	f.seen = nil
	for range c.Keys.List(context.Background(), nil) {
		break
	}
	if len(f.seen) != 1 {
		t.Errorf("%d requests after a break, want 1", len(f.seen))
	}
	// Tenants, deliveries and attempts are walked the same way.
	f.seen = nil
	for _, err := range c.Tenants.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.Webhooks.Deliveries.List(context.Background(), "wh1", nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.Webhooks.Attempts.List(context.Background(), "wh1", nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(f.seen) != 9 {
		t.Errorf("%d requests for three lists of three pages, want 9", len(f.seen))
	}
}

// A page that names itself as the next one ends the walk with an error
// instead of looping.
func TestListStopsOnARepeatedCursor(t *testing.T) {
	c, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":[{"id":"k1"}],"next_cursor":"same"}`)
	})
	_, err := keyward.Collect(c.Keys.List(context.Background(), nil))
	if err == nil || !strings.Contains(err.Error(), "same next_cursor") {
		t.Errorf("%v", err)
	}
}

// A merge patch leaves out what is not set, sends null for Null and the
// value for the rest, as application/merge-patch+json; other bodies go as
// application/json.
func TestMergePatchBodies(t *testing.T) {
	c, f := newFake(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) })
	ctx := context.Background()
	if _, err := c.Keys.Update(ctx, "k1", keyward.KeyUpdate{
		Enabled:     keyward.Bool(false),
		Methods:     keyward.Null[[]string](),
		Description: keyward.Set("new"),
	}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(f.body[0]), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["enabled"] != false || got["description"] != "new" {
		t.Errorf("patch %s", f.body[0])
	}
	if v, ok := got["methods"]; !ok || v != nil {
		t.Errorf("methods should be null: %s", f.body[0])
	}
	if ct := f.seen[0].Header.Get("Content-Type"); ct != "application/merge-patch+json" {
		t.Errorf("PATCH Content-Type %q", ct)
	}
	if _, err := c.Keys.Update(ctx, "k1", keyward.KeyUpdate{}); err != nil || f.body[1] != "{}" {
		t.Errorf("an empty patch: %v %s", err, f.body[1])
	}
	if _, err := c.Keys.Create(ctx, keyward.KeyCreate{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if ct := f.seen[2].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST Content-Type %q", ct)
	}
	if _, err := c.Keys.Get(ctx, "k1"); err != nil || f.seen[3].Header.Get("Content-Type") != "" {
		t.Errorf("a GET with a Content-Type: %v %q", err, f.seen[3].Header.Get("Content-Type"))
	}
	if ua := f.seen[3].Header.Get("User-Agent"); !strings.HasPrefix(ua, "keyward-go/") {
		t.Errorf("User-Agent %q", ua)
	}
	if auth := f.seen[3].Header.Get("Authorization"); auth != "Bearer kwp_test" {
		t.Errorf("Authorization %q", auth)
	}
}

// Merchant credentials go as HTTP Basic.
func TestMerchantCredentials(t *testing.T) {
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := keyward.NewClient(srv.URL, keyward.WithMerchantCredentials("acct-1", "kwm_secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Merchants.Credentials(context.Background()); err != nil || user != "acct-1" || pass != "kwm_secret" {
		t.Errorf("%v %q %q", err, user, pass)
	}
}

// Every operation is called once; the Idempotency-Key header goes exactly
// to the operations the API document declares it for, and If-Match is
// refused where it is not declared.
func TestIdempotencyKeyOnlyWhereDeclared(t *testing.T) {
	c, f := newFake(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":[]}`) })
	ctx := context.Background()
	callEveryOperation(ctx, t, c)

	declared := declaredIdempotent(t)
	sent := map[string]bool{}
	for _, r := range f.seen {
		op := r.Method + " " + r.URL.Path
		tmpl := ""
		for d := range declared {
			// The most literal template wins: /webhooks/event-types over /webhooks/{id}.
			if match(d, op) && (tmpl == "" || strings.Count(d, "{") < strings.Count(tmpl, "{")) {
				tmpl = d
			}
		}
		has := r.Header.Get("Idempotency-Key") != ""
		if has {
			sent[tmpl] = true
		}
		if tmpl == "" {
			t.Errorf("%s is no operation of the document", op)
		}
		if has != declared[tmpl] {
			t.Errorf("%s: Idempotency-Key sent %v, declared %v", op, has, declared[tmpl])
		}
	}
	for d, yes := range declared {
		if yes && !sent[d] {
			t.Errorf("%s declares Idempotency-Key and no call sent one", d)
		}
	}
	if _, err := c.Verify.Request(ctx, keyward.VerifyRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Webhooks.ReplayFailed(ctx, "w1", keyward.ReplaySince{}, keyward.WithIfMatch(`"x"`)); err == nil {
		t.Error("If-Match sent where the document declares none")
	}
	n := len(f.seen)
	if _, err := c.Keys.Get(ctx, "k1", keyward.WithIdempotencyKey("k")); err == nil || len(f.seen) != n {
		t.Error("an Idempotency-Key on a GET was not refused before sending")
	}
	if _, err := c.Keys.Create(ctx, keyward.KeyCreate{Name: "x"}, keyward.WithIdempotencyKey("mine")); err != nil || f.seen[n].Header.Get("Idempotency-Key") != "mine" {
		t.Errorf("the caller's key: %v %q", err, f.seen[n].Header.Get("Idempotency-Key"))
	}
}

// callEveryOperation calls each service method once.
func callEveryOperation(ctx context.Context, t *testing.T, c *keyward.Client) {
	call := func(_ any, err error) {
		if err != nil {
			t.Helper()
			t.Error(err)
		}
	}
	walk := func(err error) {
		if err != nil {
			t.Helper()
			t.Error(err)
		}
	}
	call(c.Keys.Create(ctx, keyward.KeyCreate{}))
	call(c.Keys.Get(ctx, "k"))
	call(c.Keys.Update(ctx, "k", keyward.KeyUpdate{}))
	walk(c.Keys.Delete(ctx, "k"))
	call(c.Keys.Roll(ctx, "k", keyward.KeyRoll{}))
	call(keyward.Collect(c.Keys.List(ctx, nil)))
	call(c.Keys.LeakPolicy(ctx))
	call(c.Keys.SetLeakPolicy(ctx, keyward.LeakPolicy{OnLeak: "notify"}))
	call(keyward.Collect(c.Stores.List(ctx)))
	call(c.Stores.Create(ctx, keyward.StoreCreate{}))
	call(c.Stores.Get(ctx, "s"))
	call(c.Stores.Update(ctx, "s", keyward.StoreUpdate{}))
	walk(c.Stores.Delete(ctx, "s"))
	call(keyward.Collect(c.Profiles.List(ctx)))
	call(c.Profiles.Create(ctx, keyward.ProfileCreate{}))
	call(c.Profiles.Get(ctx, "p"))
	call(c.Profiles.Update(ctx, "p", keyward.ProfileUpdate{}))
	walk(c.Profiles.Delete(ctx, "p"))
	call(keyward.Collect(c.Users.List(ctx)))
	call(c.Users.Create(ctx, keyward.UserCreate{Email: "u@example.com"}))
	call(c.Users.Get(ctx, "u"))
	call(c.Users.Update(ctx, "u", keyward.UserUpdate{}))
	call(c.Users.ResetTOTP(ctx, "u"))
	call(c.Users.ResetPassword(ctx, "u"))
	call(c.Me.SignIn(ctx, keyward.TokenSignIn{}))
	call(c.Me.Get(ctx))
	walk(c.Me.ChangePassword(ctx, keyward.PasswordChange{}))
	call(keyward.Collect(c.Me.Tokens(ctx)))
	call(c.Me.CreateToken(ctx, keyward.TokenCreate{}))
	walk(c.Me.RevokeToken(ctx, "t"))
	call(keyward.Collect(c.Tokens.List(ctx)))
	call(c.Tokens.Create(ctx, keyward.TokenCreate{}))
	walk(c.Tokens.Delete(ctx, "t"))
	call(keyward.Collect(c.Audit.List(ctx, nil)))
	call(c.Catalog.Get(ctx))
	call(keyward.Collect(c.Merchants.List(ctx)))
	call(c.Merchants.Create(ctx, keyward.MerchantCreate{}))
	call(c.Merchants.Get(ctx, "m"))
	call(c.Merchants.Update(ctx, "m", keyward.MerchantUpdate{}))
	walk(c.Merchants.Delete(ctx, "m"))
	call(keyward.Collect(c.Merchants.APIAccess(ctx)))
	walk(c.Merchants.DeactivateAPIAccess(ctx, "a"))
	call(c.Merchants.Credentials(ctx))
	call(keyward.Collect(c.Merchants.Users.List(ctx, "m")))
	call(c.Merchants.Users.Create(ctx, "m", keyward.MerchantUserCreate{Email: "u@example.com"}))
	call(c.Merchants.Users.Update(ctx, "m", "u", keyward.MerchantUserUpdate{}))
	call(c.Merchants.Users.SetPortalPassword(ctx, "m", "u"))
	call(c.Merchants.Users.RegenerateAuthKey(ctx, "m", "u", 0))
	call(keyward.Collect(c.Integrators.List(ctx)))
	call(c.Integrators.Create(ctx, keyward.IntegratorCreate{}))
	call(c.Integrators.Get(ctx, "i"))
	call(c.Integrators.Roll(ctx, "i"))
	walk(c.Integrators.Delete(ctx, "i"))
	call(keyward.Collect(c.Integrators.PlatformList(ctx)))
	call(c.Integrators.PlatformCreate(ctx, keyward.IntegratorCreate{}))
	call(c.Integrators.PlatformRoll(ctx, "i"))
	walk(c.Integrators.PlatformDelete(ctx, "i"))
	call(keyward.Collect(c.KeyRequests.List(ctx, nil)))
	call(c.KeyRequests.Open(ctx, keyward.KeyRequestOpen{}))
	call(c.KeyRequests.Get(ctx, "r"))
	call(c.KeyRequests.Approve(ctx, "r", keyward.KeyRequestApprove{}))
	call(c.KeyRequests.Decline(ctx, "r"))
	call(keyward.Collect(c.Webhooks.List(ctx, nil)))
	call(c.Handovers.Create(ctx, keyward.HandoverCreate{}))
	call(c.Handovers.Get(ctx, "h"))
	call(keyward.Collect(c.Handovers.List(ctx, nil)))
	call(c.Webhooks.Create(ctx, keyward.WebhookCreate{}))
	call(c.Webhooks.Get(ctx, "w"))
	call(c.Webhooks.Update(ctx, "w", keyward.WebhookUpdate{}))
	walk(c.Webhooks.Delete(ctx, "w"))
	call(c.Webhooks.Roll(ctx, "w", keyward.WebhookRoll{}))
	call(c.Webhooks.Test(ctx, "w"))
	call(c.Webhooks.Stats(ctx, "w"))
	call(keyward.Collect(c.Webhooks.EventTypes(ctx)))
	call(c.Webhooks.ReplayFailed(ctx, "w", keyward.ReplaySince{}))
	call(keyward.Collect(c.Webhooks.Deliveries.List(ctx, "w", nil)))
	call(c.Webhooks.Deliveries.Replay(ctx, "w", "d"))
	call(keyward.Collect(c.Webhooks.Attempts.List(ctx, "w", nil)))
	call(keyward.Collect(c.Connections.Types(ctx)))
	call(keyward.Collect(c.Connections.List(ctx, nil)))
	call(c.Connections.Create(ctx, keyward.ConnectionCreate{}))
	call(c.Connections.VerifyInput(ctx, keyward.ConnectionCreate{}))
	call(c.Connections.Get(ctx, "c"))
	call(c.Connections.Update(ctx, "c", keyward.ConnectionUpdate{}))
	walk(c.Connections.Delete(ctx, "c"))
	call(c.Connections.Verify(ctx, "c"))
	call(c.Connections.Reveal(ctx, "c", keyward.ConnectionReveal{}))
	call(keyward.Collect(c.Tenants.List(ctx, nil)))
	call(c.Tenants.Create(ctx, keyward.TenantCreate{}))
	call(c.Tenants.Get(ctx, "d"))
	call(c.Tenants.CreateAdmin(ctx, "d", keyward.TenantAdminCreate{Email: "u@example.com"}))
	call(c.Tenants.ResetAdminTOTP(ctx, "d", keyward.AdminTOTPReset{}))
	call(c.Tenants.RotateOperatorToken(ctx))
	call(c.Licence.Get(ctx))
	call(c.Keys.Policy(ctx))
	call(c.Keys.UpdatePolicy(ctx, keyward.KeyPolicyUpdate{}))
	call(c.Licence.For(ctx, "d"))
	call(c.Licence.Grant(ctx, "d", keyward.LicenceGrant{}))
	call(c.Licence.Revoke(ctx, "d"))
	call(c.Verify.Method(ctx, "kwk_x", "orders.list", ""))
	call(c.Events.Send(ctx, keyward.EventSend{}))
	call(c.Health.Live(ctx))
	call(c.Health.Ready(ctx))
}

// declaredIdempotent maps each operation of the document ("POST
// /api/v1/keys/{id}/roll") to whether it declares an Idempotency-Key.
func declaredIdempotent(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../internal/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			out[strings.ToUpper(method)+" "+path] = strings.Contains(string(raw), `"#/components/parameters/IdempotencyKey"`) ||
				strings.Contains(string(raw), `"name": "Idempotency-Key"`) || strings.Contains(string(raw), `"name":"Idempotency-Key"`)
		}
	}
	return out
}

// match reports whether the request "POST /api/v1/keys/k/roll" is of the
// operation "POST /api/v1/keys/{id}/roll".
func match(operation, request string) bool {
	re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(operation), `[^/]+`) + "$"
	return regexp.MustCompile(re).MatchString(request)
}
