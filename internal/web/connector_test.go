package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// newConnectorEnv is the back office over a service allowed to reach the
// connector fakes on 127.0.0.1, as --outbound-allow would allow them.
func newConnectorEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	cat := catalog.Builtin()
	kr, err := seal.ParseKeyring(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(db, cat, service.WithKeyring(kr),
		service.WithOutbound(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHTTP: true}))
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(svc, nil).Register(mux)
	New(svc).Register(mux)
	srv := httptest.NewServer(httpx.Common(mux))
	t.Cleanup(srv.Close)
	ten, err := svc.TenantByDomain(ctx, demo.Domain)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, svc: svc, db: db, rep: replica.New(db, cat), demo: demo, sys: keyward.WithActor(ctx, service.SystemActor(ten, "test"))}
}

// Create New Connection, Verify Connection (it passes, then fails with a
// wrong token), save, and the list shows the connection verified.
func TestBrowserConnectors(t *testing.T) {
	ctx := browser(t)
	e := newConnectorEnv(t)
	base := e.srv.URL
	f := connectortest.New(t, "shopify")
	mirakl := connectortest.New(t, "mirakl")
	if _, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "mirakl", Name: "Marketplace (Mirakl)", APIURL: mirakl.URL, Fields: mirakl.Values(),
		Stores: &keyward.StoreAccess{Access: "selected", IDs: []string{"online"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "fortnox", Name: "Bookkeeping (Fortnox)", Fields: map[string]string{"client_id": "c", "secret": "s", "refresh_token": "r"},
		SaveUnverified: true}); err != nil {
		t.Fatal(err)
	}

	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)
	run(t, ctx, "open Settings > External System Connectors",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="External System Connectors"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()="Create New Connection"]`)),
	)
	run(t, ctx, "create a new connection to Shopify",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Create New Connection"]`)),
		chromedp.WaitVisible(chromedp.ID("type")),
		chromedp.SetValue(chromedp.ID("type"), "shopify"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Continue"]`)),
		chromedp.WaitVisible(chromedp.ID("field-shop_domain")),
	)
	run(t, ctx, "fill in the connection",
		chromedp.SendKeys(chromedp.ID("name"), "Main Shopify"),
		chromedp.SendKeys(chromedp.ID("api_url"), f.URL),
		chromedp.SendKeys(chromedp.ID("field-shop_domain"), "fake"),
		chromedp.SendKeys(chromedp.ID("field-access_token"), connectortest.Token),
		chromedp.SendKeys(chromedp.ID("required_scopes"), "read_orders"),
	)
	run(t, ctx, "verify the connection",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Verify Connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section.verification[data-outcome="ok"]`)),
	)
	page := get(t, ctx, "read the page", chromedp.OuterHTML(chromedp.CSS("main")))
	if !strings.Contains(page, "Fake Shop") || strings.Contains(page, connectortest.Token) {
		t.Fatalf("after a passing check the page lacks the shop or shows the token:\n%s", page)
	}
	if v := get(t, ctx, "read the token field", chromedp.Value(chromedp.ID("field-access_token"))); v != "" {
		t.Fatalf("the token field is drawn again holding %q", v)
	}
	shot(t, ctx, "connector-verified")
	run(t, ctx, "verify a wrong token",
		chromedp.SendKeys(chromedp.ID("field-access_token"), "wrong-token"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Verify Connection"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section.verification[data-outcome="invalid_credentials"]`)),
	)
	shot(t, ctx, "connector-verify-failed")
	run(t, ctx, "enter the right token again and save",
		chromedp.SendKeys(chromedp.ID("field-access_token"), connectortest.Token),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-connection="Main Shopify"] [data-state="verified"]`)),
	)
	list := get(t, ctx, "read the list", chromedp.OuterHTML(chromedp.CSS("main")))
	for _, want := range []string{"Connection Main Shopify verified.", "Marketplace (Mirakl)", `data-state="unverified"`, "Online"} {
		if !strings.Contains(list, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if strings.Contains(list, connectortest.Token) {
		t.Fatal("the list shows a token")
	}
	shot(t, ctx, "connectors")
	cs, _ := e.svc.ListConnections(e.sys, service.ConnectionFilter{Type: "shopify"})
	if len(cs) != 1 || cs[0].State != keyward.ConnectionVerified || cs[0].Verification.Account != "Fake Shop" {
		t.Fatalf("saved: %+v", cs)
	}
	if got, err := e.svc.RevealConnectionSecret(e.sys, cs[0].ID, "access_token"); err != nil || got != connectortest.Token {
		t.Fatalf("the saved token: %q, %v", got, err)
	}
}

// Without JavaScript: a draft carries the secrets typed before Verify
// Connection only for the user who typed them, and a blank secret on the
// edit page keeps the stored one.
func TestConnectorDraftsAndBlankSecrets(t *testing.T) {
	e := newConnectorEnv(t)
	f := connectortest.New(t, "bigcommerce")
	c := e.client()
	c.signIn(e.demo.Email, e.demo.Password)
	form := url.Values{"type": {"bigcommerce"}, "name": {"Big"}, "api_url": {f.URL}, "field.store_hash": {"abc123"},
		"field.access_token": {connectortest.Token}, "stores_access": {"all"}, "enabled": {"true"}, "action": {"verify"}}
	body := c.post(pathConnectors+"/new", form).Body
	if !strings.Contains(body, `data-outcome="ok"`) || strings.Contains(body, connectortest.Token) {
		t.Fatalf("verify before saving:\n%s", body)
	}
	i := strings.Index(body, `name="draft" value="`)
	if i < 0 {
		t.Fatal("no draft carried")
	}
	d := body[i+len(`name="draft" value="`):]
	d = d[:strings.Index(d, `"`)]
	form.Set("draft", d)
	form.Del("field.access_token")
	form.Set("action", "save")
	c.post(pathConnectors+"/new", form)
	cs, _ := e.svc.ListConnections(e.sys, service.ConnectionFilter{})
	if len(cs) != 1 || cs[0].State != keyward.ConnectionVerified {
		t.Fatalf("saved from the draft: %+v", cs)
	}
	// Another user's draft opens nothing.
	e.staff("other@demo.test", keyward.FeatureConnectors)
	o := e.client()
	o.signIn("other@demo.test", staffPassword)
	form.Set("name", "Other")
	if body := o.post(pathConnectors+"/new", form).Body; !strings.Contains(body, "Access token is required") {
		t.Fatalf("another user's draft was used:\n%s", body)
	}
	// An edit leaving the token blank keeps it.
	edit := url.Values{"name": {"Big store"}, "api_url": {f.URL}, "field.store_hash": {"abc123"}, "field.access_token": {""},
		"stores_access": {"all"}, "enabled": {"true"}, "action": {"save"}}
	c.post(pathConnectors+"/"+cs[0].ID, edit)
	got, err := e.svc.RevealConnectionSecret(e.sys, cs[0].ID, "access_token")
	if err != nil || got != connectortest.Token {
		t.Fatalf("after a blank edit: %q, %v", got, err)
	}
	if c, _ := e.svc.Connection(e.sys, cs[0].ID); c.Name != "Big store" {
		t.Fatalf("name %q", c.Name)
	}
	res, _ := http.Get(e.srv.URL + pathConnectors)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(b), "Big store") {
		t.Fatal("the list answers a signed-out visitor")
	}
}

// FuzzOpenDraft feeds the draft decrypt path arbitrary text: only a draft
// sealed for this user, unexpired, opens; anything else opens to nothing,
// without a panic.
func FuzzOpenDraft(f *testing.F) {
	kr, err := seal.ParseKeyring(testMasterKey)
	if err != nil {
		f.Fatal(err)
	}
	// Drafts need the keyring and the clock only, no database.
	w := New(service.New(nil, catalog.Builtin(), service.WithKeyring(kr)))
	a := keyward.Actor{Kind: keyward.ActorUser, TenantID: "ten_1", UserID: "usr_1"}
	other := a
	other.UserID = "usr_2"
	req := func(a *keyward.Actor, d string) *http.Request {
		r := httptest.NewRequest("POST", pathConnectors+"/new", strings.NewReader(url.Values{"draft": {d}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r = r.WithContext(keyward.WithActor(r.Context(), a))
		r.ParseForm()
		return r
	}
	to := map[string]string{"api_url": "https://shop.example.com"}
	good := w.sealDraft(req(&a, ""), map[string]string{"access_token": "tok_0123456789"}, to)
	f.Add(good)
	f.Add(w.sealDraft(req(&other, ""), map[string]string{"access_token": "tok_0123456789"}, to))
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, "ks1.", "ks2.", 1))
	f.Add("")
	if got := w.openDraft(req(&a, good), to); got["access_token"] != "tok_0123456789" {
		f.Fatalf("the user's own draft: %v", got)
	}
	if got := w.openDraft(req(&a, good), map[string]string{"api_url": "https://elsewhere.example.com"}); len(got) > 0 {
		f.Fatalf("a draft opened for another destination: %v", got)
	}
	f.Fuzz(func(t *testing.T, d string) {
		got := w.openDraft(req(&a, d), to)
		if _, err := kr.Open(seal.Sealed(d), draftPlace(&a)); err != nil && len(got) > 0 {
			t.Fatalf("%q, not sealed for this user, opened to %v", d, got)
		}
		if len(got) > 0 && len(w.openDraft(req(&other, d), to)) > 0 {
			t.Fatalf("%q opened for two users", d)
		}
	})
}

// A profile without Connectors sees no menu entry and is refused the
// pages, naming the feature.
func TestConnectorPagesNeedTheFeature(t *testing.T) {
	e := newConnectorEnv(t)
	e.staff("keys@demo.test", keyward.FeatureAPIManagement)
	c := e.client()
	c.signIn("keys@demo.test", staffPassword)
	res := c.get(pathKeys)
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, pathConnectors) {
		t.Fatal("the menu offers External System Connectors to a profile without Connectors")
	}
	res = c.get(pathConnectors)
	wantStatus(t, res, http.StatusForbidden)
	wantBody(t, res, "Connectors")
	wantStatus(t, c.post(pathConnectors+"/new", url.Values{"type": {"shopify"}, "name": {"x"}}), http.StatusForbidden)
}

// The edit page moves a connection to another API URL only with its
// secrets entered again, or with "Send the stored secrets to the new
// address" ticked after a fresh password check; otherwise it refuses
// beside the field and the new address receives nothing. A confirmed
// sending is in the audit log.
func TestEditingTheURLKeepsStoredSecretsHome(t *testing.T) {
	e := newConnectorEnv(t)
	u := e.staff("ana@demo.test", keyward.FeatureConnectors)
	f := connectortest.New(t, "mirakl")
	rcv := connectortest.NewReceiver(t)
	conn, err := e.svc.CreateConnection(e.sys, keyward.ConnectionInput{Type: "mirakl", Name: "Market", APIURL: f.URL, Fields: f.Values()})
	if err != nil {
		t.Fatal(err)
	}
	resends := func() int {
		p, err := e.svc.ListAudit(e.sys, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range p.Data {
			if a.Action == "connection.resend_secrets" && a.ObjectID == conn.ID {
				n++
			}
		}
		return n
	}
	c := e.client()
	c.signIn("ana@demo.test", staffPassword)
	e.staleCheck(u.ID)
	edit := url.Values{"name": {"Market"}, "api_url": {rcv.URL}, "field.access_token": {""}, "stores_access": {"all"}, "enabled": {"true"}, "action": {"save"}}
	for _, unverified := range []string{"", "true"} {
		edit.Set("save_unverified", unverified)
		res := c.post(pathConnectors+"/"+conn.ID, edit)
		wantStatus(t, res, http.StatusConflict)
		wantBody(t, res, `id="api_url-error"`)
	}
	edit.Set("resend_stored_secrets", "true")
	res := c.post(pathConnectors+"/"+conn.ID, edit)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, pathStepUp+"?next=") {
		t.Fatalf("a resend from a stale session: %d to %q", res.StatusCode, loc)
	}
	if n := rcv.Requests(); n != 0 {
		t.Fatalf("the new address received %d requests before anything was confirmed", n)
	}
	if got, _ := e.svc.Connection(e.sys, conn.ID); got.APIURL != conn.APIURL || resends() != 0 {
		t.Fatalf("refused edits changed the connection (%s) or were audited as sent", got.APIURL)
	}
	wantStatus(t, c.post(pathStepUp, url.Values{"password": {staffPassword}, "next": {pathConnectors + "/" + conn.ID}}), http.StatusSeeOther)
	edit.Set("save_unverified", "true")
	wantStatus(t, c.post(pathConnectors+"/"+conn.ID, edit), http.StatusSeeOther)
	if got, _ := e.svc.Connection(e.sys, conn.ID); got.APIURL != rcv.URL || resends() != 1 {
		t.Fatalf("a confirmed resend: URL %s, %d audit entries", got.APIURL, resends())
	}
	if _, err := e.svc.VerifyConnection(e.sys, conn.ID); err != nil {
		t.Fatal(err)
	}
	if got := rcv.Got(connectortest.Token); len(got) != 1 {
		t.Fatal("the confirmed resend did not reach the new address")
	}
}
