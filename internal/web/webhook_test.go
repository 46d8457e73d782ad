package web

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/webhook"
)

// loopbackOut lets endpoints and the dispatcher reach receivers on
// 127.0.0.1 over HTTP, as an operator's --outbound-allow would.
var loopbackOut = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowHTTP: true}

// newWebhookEnv is newEnv with webhooks really sent: the service accepts
// loopback URLs and a dispatcher, woken by every event, runs until the
// test ends.
func newWebhookEnv(t *testing.T) *env {
	t.Helper()
	var disp atomic.Pointer[webhook.Dispatcher]
	e := newEnvBehind(t, false, httpx.Front{}, service.WithOutbound(loopbackOut), service.WithDispatchWake(func() {
		if d := disp.Load(); d != nil {
			d.Wake()
		}
	}))
	d, err := webhook.New(e.svc, webhook.Config{Outbound: loopbackOut, Poll: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	disp.Store(d)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return e
}

// hookReceiver is a local webhook receiver recording what arrives.
type hookReceiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	got  []hookDelivery
	seen chan struct{}
}

type hookDelivery struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{t: t, seen: make(chan struct{}, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, hookDelivery{r.Header.Clone(), body})
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"received":true}`)
		h.seen <- struct{}{}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait waits for the next delivery and returns it. The wait bounds a
// test that would otherwise hang; it measures nothing.
func (h *hookReceiver) wait() hookDelivery {
	h.t.Helper()
	select {
	case <-h.seen:
	case <-time.After(15 * time.Second):
		h.t.Fatal("no delivery arrived at the receiver")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[len(h.got)-1]
}

var (
	reWebhookSecret = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{40,}`)
	reWebhookID     = regexp.MustCompile(`/integrations/api/webhooks/(whk_[A-Za-z0-9_-]+)`)
)

// TestWebhookPagesDoors: only users whose profile holds Webhooks open the
// pages; others get a page naming the feature, merchant users a refusal,
// and signed-out callers the sign-in page. Menu entries follow the same
// rule.
func TestWebhookPagesDoors(t *testing.T) {
	e := newEnv(t, false)
	wh, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/k", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{pathWebhooks, pathWebhooks + "/new", pathWebhooks + "/" + wh.ID, pathWebhooks + "/" + wh.ID + "/edit", pathWebhooks + "/" + wh.ID + "/delete"}

	anon := e.client()
	for _, p := range paths {
		res := anon.get(p)
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, pathSignIn) {
			t.Fatalf("signed-out GET %s goes to %q", p, loc)
		}
	}

	e.staff("merch@demo.test", keyward.FeatureMerchants)
	other := e.client()
	other.signIn("merch@demo.test", staffPassword)
	for _, p := range paths {
		res := other.get(p)
		wantStatus(t, res, http.StatusForbidden)
		wantBody(t, res, "You need the Webhooks feature")
	}
	res := other.post(pathWebhooks+"/"+wh.ID+"/delete", nil)
	wantStatus(t, res, http.StatusForbidden)
	res = other.get(pathMerchantAPI)
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, `href="`+pathWebhooks+`"`) {
		t.Fatal("Integrations > API offers Manage Webhooks to a profile without Webhooks")
	}

	m := e.merchant("Acme Couriers")
	u, pw := e.portalUser(m.ID, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: 2, APIAccess: true})
	mc := e.client()
	mc.signIn(u.Email, pw)
	for _, p := range paths {
		if res := mc.get(p); res.StatusCode != http.StatusForbidden {
			t.Fatalf("merchant user GET %s: %d, want 403", p, res.StatusCode)
		}
	}
	if res := mc.post(pathWebhooks+"/"+wh.ID+"/test", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("merchant user sends a test event: %d, want 403", res.StatusCode)
	}

	e.staff("hooks@demo.test", keyward.FeatureWebhooks)
	hc := e.client()
	hc.signIn("hooks@demo.test", staffPassword)
	res = hc.get(pathWebhooks)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `<a href="`+pathWebhooks+`" aria-current="page">Manage Webhooks</a>`, wh.URL)

	if _, err := e.svc.Webhook(e.sys, wh.ID); err != nil {
		t.Fatalf("the refused delete removed the endpoint: %v", err)
	}
}

// TestWebhookForm adds, edits, rolls and deletes an endpoint through the
// pages: bad input is shown beside its field and changes nothing, the
// secret is shown once, and the store chosen is what the endpoint gets.
func TestWebhookForm(t *testing.T) {
	e := newWebhookEnv(t)
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)

	res := c.get(pathWebhooks + "/new")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `<option value="" selected>All stores</option>`, `value="`+online.ID+`"`, `value="key.created"`)
	if strings.Contains(res.Body, `value="webhook.test"`) {
		t.Fatal("the form offers webhook.test, which is sent to every endpoint anyway")
	}

	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"no url", url.Values{"store": {online.ID}, "event": {"*"}}, "url-error"},
		{"ftp url", url.Values{"url": {"ftp://127.0.0.1/x"}, "event": {"*"}}, "url-error"},
		{"no events", url.Values{"url": {"http://127.0.0.1:9/x"}}, "events-error"},
		{"unknown store", url.Values{"url": {"http://127.0.0.1:9/x"}, "store": {"sto_nope"}, "event": {"*"}}, "store-error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.post(pathWebhooks, tc.form)
			if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 400 or 422\n%s", res.StatusCode, res.Body)
			}
			wantBody(t, res, `id="`+tc.field+`"`)
			if reWebhookSecret.MatchString(html.UnescapeString(res.Body)) {
				t.Fatal("a refused form shows a secret")
			}
		})
	}
	if whs, _ := e.svc.ListWebhooks(e.sys, ""); len(whs) != 0 {
		t.Fatalf("refused forms left %d endpoints", len(whs))
	}

	res = c.post(pathWebhooks, url.Values{"url": {"http://127.0.0.1:9/hook"}, "store": {online.ID}, "event": {"key.created", "key.deleted"}, "description": {"ERP"}, "enabled": {"true"}})
	wantStatus(t, res, http.StatusCreated)
	secret := reWebhookSecret.FindString(html.UnescapeString(res.Body))
	m := reWebhookID.FindStringSubmatch(res.Body)
	if secret == "" || m == nil {
		t.Fatalf("the answer shows no secret or endpoint link\n%s", res.Body)
	}
	id := m[1]
	wh, err := e.svc.Webhook(e.sys, id)
	if err != nil {
		t.Fatal(err)
	}
	if wh.Stores.Access != keyward.StoresSelected || len(wh.Stores.IDs) != 1 || wh.Stores.IDs[0] != online.ID || !wh.Enabled || len(wh.Events) != 2 {
		t.Fatalf("endpoint saved as %+v", wh)
	}

	for _, p := range []string{pathWebhooks, pathWebhooks + "/" + id, pathWebhooks + "/" + id + "/edit"} {
		res := c.get(p)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, online.Name)
		if strings.Contains(html.UnescapeString(res.Body), secret) {
			t.Fatalf("GET %s shows the secret again", p)
		}
	}

	// Edit: all stores, every event; the form shows what was saved.
	res = c.post(pathWebhooks+"/"+id+"/edit", url.Values{"url": {"http://127.0.0.1:9/hook2"}, "store": {""}, "event": {"*"}, "enabled": {"true"}})
	wantStatus(t, res, http.StatusSeeOther)
	if wh, _ = e.svc.Webhook(e.sys, id); wh.Stores.Access != keyward.StoresAll || wh.URL != "http://127.0.0.1:9/hook2" || len(wh.Events) != 1 || wh.Events[0] != "*" {
		t.Fatalf("after editing: %+v", wh)
	}
	res = c.post(pathWebhooks+"/"+id+"/edit", url.Values{"url": {"not a url"}, "event": {"*"}, "enabled": {"true"}})
	wantBody(t, res, `id="url-error"`, `value="not a url"`)
	if wh2, _ := e.svc.Webhook(e.sys, id); wh2.URL != wh.URL {
		t.Fatalf("a refused edit changed the URL to %q", wh2.URL)
	}

	// Roll: a bad overlap is shown beside its field; a good one shows the
	// new secret once.
	res = c.post(pathWebhooks+"/"+id+"/roll", url.Values{"overlap": {"forever"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="overlap-error"`)
	res = c.post(pathWebhooks+"/"+id+"/roll", url.Values{"overlap": {"1h"}})
	wantStatus(t, res, http.StatusOK)
	rolled := reWebhookSecret.FindString(html.UnescapeString(res.Body))
	if rolled == "" || rolled == secret {
		t.Fatalf("roll shows %q (first secret %q)", rolled, secret)
	}
	res = c.get(pathWebhooks + "/" + id)
	wantBody(t, res, "Previous secret", "signs too until")

	// Disable, then Send test event is refused with a reason.
	wantStatus(t, c.post(pathWebhooks+"/"+id+"/enabled", url.Values{"enabled": {"false"}}), http.StatusSeeOther)
	res = c.post(pathWebhooks+"/"+id+"/test", nil)
	wantStatus(t, res, http.StatusSeeOther)
	res = c.get(pathWebhooks + "/" + id)
	wantBody(t, res, "this endpoint is disabled", `<span class="badge off">Disabled</span>`)

	// A bad replay time is shown beside its field.
	res = c.post(pathWebhooks+"/"+id+"/replay", url.Values{"since": {"yesterday"}})
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="since-error"`)

	wantStatus(t, c.get(pathWebhooks+"/"+id+"/delete"), http.StatusOK)
	wantStatus(t, c.post(pathWebhooks+"/"+id+"/delete", nil), http.StatusSeeOther)
	if _, err := e.svc.Webhook(e.sys, id); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("after delete: %v", err)
	}
}

// TestWebhookSuccessRate lays out the sparkline: hours without attempts
// are gaps, a lone hour is a dot, and full success sits on the top line.
func TestWebhookSuccessRate(t *testing.T) {
	st := &service.WebhookStats{Attempts: make([]int, 24), Succeeded: make([]int, 24)}
	st.Attempts[2], st.Succeeded[2] = 4, 4 // a lone hour: a dot at 100%
	st.Attempts[10], st.Succeeded[10] = 2, 1
	st.Attempts[11], st.Succeeded[11] = 2, 0
	r := newSuccessRate(st)
	if r.Attempts != 8 || r.Succeeded != 5 || r.Percent != 62 {
		t.Fatalf("totals %d/%d = %d%%", r.Succeeded, r.Attempts, r.Percent)
	}
	if len(r.Dots) != 1 || r.Dots[0].Y != r.Full {
		t.Fatalf("dots %+v, want one at y=%d", r.Dots, r.Full)
	}
	if len(r.Lines) != 1 || strings.Count(r.Lines[0], ",") != 2 || !strings.HasSuffix(r.Lines[0], ","+strconv.Itoa(r.Base)) {
		t.Fatalf("lines %q, want one line of two points ending at 0%% (y=%d)", r.Lines, r.Base)
	}
	if empty := newSuccessRate(&service.WebhookStats{Attempts: make([]int, 24), Succeeded: make([]int, 24)}); empty.Attempts != 0 || len(empty.Lines)+len(empty.Dots) != 0 {
		t.Fatalf("no attempts drew %+v", empty)
	}
}

// TestWebhookDeliveriesPages: an endpoint's page shows its newest
// deliveries a page at a time, filtered by status, beside its newest
// attempts.
func TestWebhookDeliveriesPages(t *testing.T) {
	e := newEnv(t, false)
	wh, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/k", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	addDeliveryHistory(t, e, wh.ID, nil, 3)
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	reRow := regexp.MustCompile(`<tr data-delivery="(dlv_[a-z0-9]+)"`)
	reOlder := regexp.MustCompile(`<a href="([^"]+)">Older deliveries</a>`)

	seen := map[string]bool{}
	next := pathWebhooks + "/" + wh.ID
	pages := 0
	for next != "" {
		res := c.get(html.UnescapeString(next))
		wantStatus(t, res, http.StatusOK)
		rows := reRow.FindAllStringSubmatch(res.Body, -1)
		if len(rows) == 0 || len(rows) > deliveriesPage {
			t.Fatalf("page %d shows %d deliveries", pages, len(rows))
		}
		for _, r := range rows {
			if seen[r[1]] {
				t.Fatalf("delivery %s shown on two pages", r[1])
			}
			seen[r[1]] = true
		}
		if got := strings.Count(res.Body, `<tr data-attempt=`); got != attemptsShown {
			t.Fatalf("the delivery log shows %d attempts, want %d", got, attemptsShown)
		}
		next = ""
		if m := reOlder.FindStringSubmatch(res.Body); m != nil {
			next = m[1]
		}
		pages++
	}
	all, err := items(e.svc.ListDeliveries(e.sys, wh.ID, service.DeliveryFilter{Limit: 500}))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(all) || pages < 2 {
		t.Fatalf("the pages showed %d of %d deliveries in %d pages", len(seen), len(all), pages)
	}

	res := c.get(pathWebhooks + "/" + wh.ID + "?status=failed")
	failed := reRow.FindAllStringSubmatch(res.Body, -1)
	if len(failed) == 0 || strings.Contains(res.Body, `<span class="badge on">Succeeded</span>`) {
		t.Fatalf("status=failed shows %d rows, or succeeded ones\n%s", len(failed), res.Body)
	}

	// Replay failed since two days ago: every failed delivery is due again.
	since := time.Now().UTC().Add(-48 * time.Hour).Format(sinceLayout)
	res = c.post(pathWebhooks+"/"+wh.ID+"/replay", url.Values{"since": {since}})
	wantStatus(t, res, http.StatusSeeOther)
	res = c.get(pathWebhooks + "/" + wh.ID)
	wantBody(t, res, strconv.Itoa(len(failed))+" failed deliveries since")
	if left, _ := items(e.svc.ListDeliveries(e.sys, wh.ID, service.DeliveryFilter{Status: keyward.DeliveryFailed})); len(left) != 0 {
		t.Fatalf("%d deliveries still failed after replaying them all", len(left))
	}
	if due, _ := items(e.svc.ListDeliveries(e.sys, wh.ID, service.DeliveryFilter{Status: keyward.DeliveryPending})); len(due) != len(failed) {
		t.Fatalf("%d deliveries due after replaying %d", len(due), len(failed))
	}
}

// TestWebhookSecretsNeedARecentPassword: adding an endpoint and rolling
// its secret show a secret, so both send a user whose password check is
// old to confirm it first, and change nothing meanwhile.
func TestWebhookSecretsNeedARecentPassword(t *testing.T) {
	e := newEnv(t, false)
	u := e.staff("hooks@demo.test", keyward.FeatureWebhooks)
	wh, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/k", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(u.Email, staffPassword)
	if _, err := e.db.SQL().Exec(`UPDATE sessions SET checked_at = ? WHERE user_id = ?`, time.Now().Add(-time.Hour).UTC(), u.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", pathWebhooks + "/new", nil},
		{"POST", pathWebhooks, url.Values{"url": {"https://hooks.example.com/new"}, "event": {"*"}, "enabled": {"true"}}},
		{"POST", pathWebhooks + "/" + wh.ID + "/roll", url.Values{"overlap": {"1h"}}},
	} {
		res := c.do(tc.method, tc.path, tc.form, nil)
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, pathStepUp+"?next=") {
			t.Fatalf("%s %s went to %q, not the password check", tc.method, tc.path, loc)
		}
	}
	whs, err := e.svc.ListWebhooks(e.sys, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(whs) != 1 || whs[0].SecretHint != wh.SecretHint || whs[0].PreviousSecretUntil != nil {
		t.Fatalf("refused requests changed the endpoints: %+v", whs)
	}
	res := c.post(pathStepUp, url.Values{"password": {staffPassword}, "next": {pathWebhooks + "/new"}})
	wantStatus(t, res, http.StatusSeeOther)
	wantStatus(t, c.get(pathWebhooks+"/new"), http.StatusOK)
}

// TestWebhookListByStore: the list names each endpoint's store, filters
// by store (an endpoint for all stores receives every store's events),
// and says plainly why keyward disabled an endpoint.
func TestWebhookListByStore(t *testing.T) {
	e := newEnv(t, false)
	all, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/all", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	online, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/online", Store: "online", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	const reason = "Every delivery failed for 5 days; the last answer was 410 Gone."
	if _, err := e.db.SQL().Exec(`UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ? WHERE id = ?`, false, reason, online.ID); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)

	res := c.get(pathWebhooks)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `data-endpoint="`+all.ID+`"`, `data-endpoint="`+online.ID+`"`, "All stores", "Online Store", reason)

	res = c.get(pathWebhooks + "?store=main")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `data-endpoint="`+all.ID+`"`, `href="`+pathWebhooks+`/new?store=main"`)
	if strings.Contains(res.Body, `data-endpoint="`+online.ID+`"`) {
		t.Fatal("the endpoint for the online store is listed under the main store")
	}

	res = c.get(pathWebhooks + "?store=nowhere")
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `id="f-store-error"`)

	res = c.get(pathWebhooks + "/" + online.ID)
	wantBody(t, res, `<div class="alert error" role="alert"><p><strong>keyward disabled this endpoint.</strong> `+html.EscapeString(reason))

	res = c.get(pathWebhooks + "/new?store=online")
	wantBody(t, res, `selected>Online Store (online)</option>`)

	// An endpoint given two stores and a family of events through the
	// REST API keeps both when its form is saved unchanged.
	two, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: "https://hooks.example.com/two", Stores: &keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main", "online"}}, Events: []string{"key.*"}})
	if err != nil {
		t.Fatal(err)
	}
	res = c.get(pathWebhooks + "/" + two.ID + "/edit")
	wantBody(t, res, `<option value="keep" selected>Keep its stores: `, `value="key.*" checked`)
	res = c.post(pathWebhooks+"/"+two.ID+"/edit", url.Values{"url": {two.URL}, "store": {"keep"}, "event": {"key.*"}, "enabled": {"true"}, "description": {"two stores"}})
	wantStatus(t, res, http.StatusSeeOther)
	got, err := e.svc.Webhook(e.sys, two.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Stores.IDs) != 2 || len(got.Events) != 1 || got.Events[0] != "key.*" || got.Description != "two stores" {
		t.Fatalf("after saving the form unchanged: %+v", got)
	}
}

// items is a page's items, for a test reading a short list whole.
func items[T any](p *service.Page[T], err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}
