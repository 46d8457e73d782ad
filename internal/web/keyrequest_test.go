package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// thqLink registers TranslatorHQ (callback at cb, "" for none) and
// returns it with a signed link's path asking for a key.
func thqLink(t *testing.T, e *env, cb, nonce string) (*keyward.Integrator, string) {
	t.Helper()
	thq, err := e.svc.CreateIntegrator(e.sys, keyward.IntegratorCreate{Name: "TranslatorHQ", CallbackURL: cb,
		Permissions: keyward.Permissions{"orders": "write", "customers": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	delivery := "callback"
	if cb == "" {
		delivery = "pickup"
	}
	fields := map[string]string{
		"integrator": thq.ID, "name": "THQ", "description": "TranslatorHQ", "permissions": "orders:write,customers:read",
		"stores": "main,online", "methods": "orders.list,orders.get,orders.update,customers.list", "key_expires_at": "",
		"delivery": delivery, "issued_at": strconv.FormatInt(time.Now().Unix(), 10), "expires_at": "", "nonce": nonce,
	}
	sig, err := service.SignLink(thq.Secret, fields)
	if err != nil {
		t.Fatal(err)
	}
	return thq, pathKeyRequestLink + "?" + service.LinkQuery(fields, sig)
}

var reKeyRequest = regexp.MustCompile(`/settings/integrations/key-requests/(krq_[A-Za-z0-9_-]+)`)

// An administrator opens a link, sees it, and a form posting more than
// the request asks for is refused beside the field with nothing made; the
// narrowed form approves it. A tampered link shows why it is refused.
func TestKeyRequestPages(t *testing.T) {
	e := newWebhookEnv(t)
	rcv := newHookReceiver(t)
	_, link := thqLink(t, e, rcv.srv.URL+"/keys", "pages-nonce-0123456789")
	c := e.client()
	wantStatus(t, c.signIn(e.demo.Email, e.demo.Password), http.StatusSeeOther)

	bad := strings.Replace(link, "name=THQ", "name=THX", 1)
	res := c.get(bad)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, "signature does not match") {
		t.Fatalf("a tampered link: %d %s", res.StatusCode, res.Body)
	}
	res = c.get(link)
	m := reKeyRequest.FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("the link: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	id := m[1]
	res = c.get(pathKeyRequests + "/" + id)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "It can read and change: <strong>Orders</strong>") {
		t.Fatalf("the request page: %d %s", res.StatusCode, res.Body)
	}
	main, _ := e.svc.Store(e.sys, "main")
	form := url.Values{"perm.orders": {"write"}, "perm.customers": {"write"}, "stores_access": {"selected"}, "store": {main.ID},
		"method": {"orders.list"}}
	res = c.post(pathKeyRequests+"/"+id+"/approve", form)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, "never widen") {
		t.Fatalf("a widened approval: %d %s", res.StatusCode, res.Body)
	}
	if kr, _ := e.svc.KeyRequest(e.sys, id); kr.Status != keyward.KeyRequestPending {
		t.Fatalf("a refused approval left the request %s", kr.Status)
	}
	form.Set("perm.customers", "")
	res = c.post(pathKeyRequests+"/"+id+"/approve", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the narrowed approval: %d %s", res.StatusCode, res.Body)
	}
	kr, _ := e.svc.KeyRequest(e.sys, id)
	if kr.Status != keyward.KeyRequestApproved || kr.Granted == nil || len(kr.Granted.Permissions) != 1 {
		t.Fatalf("after approval: %+v", kr)
	}
	rcv.wait()
	res = c.get(pathKeyRequests + "?status=approved")
	if !strings.Contains(res.Body, id) {
		t.Fatalf("the approved tab does not list the request")
	}
}

// An administrator registers an integrator on the Integrators page: its
// signing secret is shown in that answer only; a registration without
// permissions is refused beside the field.
func TestIntegratorsPage(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	wantStatus(t, c.signIn(e.demo.Email, e.demo.Password), http.StatusSeeOther)
	res := c.post(pathIntegrators, url.Values{"name": {"TranslatorHQ"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, `id="permissions-error"`) {
		t.Fatalf("without permissions: %d", res.StatusCode)
	}
	res = c.post(pathIntegrators, url.Values{"name": {"TranslatorHQ"}, "perm.orders": {"write"}})
	secret := reWebhookSecret.FindString(html.UnescapeString(res.Body))
	if res.StatusCode != http.StatusCreated || secret == "" {
		t.Fatalf("registered: %d", res.StatusCode)
	}
	res = c.get(pathIntegrators)
	if !strings.Contains(res.Body, "TranslatorHQ") || strings.Contains(html.UnescapeString(res.Body), secret) {
		t.Fatal("the list does not show the integrator, or shows its secret again")
	}
}
