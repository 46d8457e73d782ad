package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// TestBrowserApproveKeyRequest: TranslatorHQ, registered with a loopback
// callback, sends the administrator a signed link asking for a key. Signed
// in, the administrator reads the request in plain words, narrows it
// (customers off, one store, one method fewer, an earlier expiry) and
// approves it. The key arrives at the callback signed by TranslatorHQ's
// secret, never shows in the back office, holds what was granted and
// works through the gateway.
func TestBrowserApproveKeyRequest(t *testing.T) {
	ctx := browser(t)
	e := newWebhookEnv(t)
	rcv := newHookReceiver(t)
	gw := e.gateway()
	base := e.srv.URL
	thq, err := e.svc.CreateIntegrator(e.sys, keyward.IntegratorCreate{Name: "TranslatorHQ", CallbackURL: rcv.srv.URL + "/keyward/keys",
		Permissions: keyward.Permissions{"orders": "write", "customers": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	main, err := e.svc.Store(e.sys, "main")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	asked := now.Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	fields := map[string]string{
		"integrator": thq.ID, "name": "THQ", "description": "TranslatorHQ", "permissions": "orders:write,customers:read",
		"stores": "main,online", "methods": "orders.list,orders.get,orders.update,customers.list", "key_expires_at": asked.Format(time.RFC3339),
		"delivery": "callback", "issued_at": strconv.FormatInt(now.Unix(), 10), "expires_at": "", "nonce": "thq-install-20261208-0001",
	}
	sig, err := service.SignLink(thq.Secret, fields)
	if err != nil {
		t.Fatal(err)
	}
	link := base + pathKeyRequestLink + "?" + service.LinkQuery(fields, sig)

	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)
	run(t, ctx, "open TranslatorHQ's link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`section[data-asked]`)),
	)
	asks := get(t, ctx, "read the request", chromedp.Text(chromedp.CSS(`section[data-asked]`)))
	for _, want := range []string{"TranslatorHQ asks for a key named THQ", "It can read and change: Orders", "It can only read: Customers",
		"It cannot read or change: ", "Payments", "Stores: Only ", "its secrets are never shown here"} {
		if !strings.Contains(asks, want) {
			t.Fatalf("the request reads %q, without %q", asks, want)
		}
	}
	if n := get(t, ctx, "look for the warning", chromedp.Evaluate[int](`document.querySelectorAll("[data-unregistered]").length`)); n != 0 {
		t.Fatal("a registered integrator's link shows the unregistered warning")
	}
	if n := get(t, ctx, "count the write choices", chromedp.Evaluate[int](`document.querySelectorAll('input[name="perm.customers"][value="write"]').length`)); n != 0 {
		t.Fatal("the form offers write on customers, which the request does not ask for")
	}
	shot(t, ctx, "key-request")
	narrowed := asked.Add(-30 * 24 * time.Hour)
	run(t, ctx, "narrow: no customers, the main store only, no orders.update, an earlier expiry",
		chromedp.Click(chromedp.CSS(`input[name="perm.customers"][value=""]`)),
		chromedp.Click(chromedp.CSS(`input[name="store"]:not([value="`+main.ID+`"])`)),
		chromedp.Click(chromedp.CSS(`input[name="method"][value="orders.update"]`)),
		chromedp.SetValue(chromedp.ID("expires_on"), narrowed.Format(time.DateOnly)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Approve and make the key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section[data-granted]`)),
	)
	got := rcv.wait()
	verifier, err := standardwebhooks.NewWebhook(thq.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifier.Verify(got.body, got.header); err != nil {
		t.Fatalf("the key's delivery does not verify with TranslatorHQ's secret: %v", err)
	}
	var body struct {
		Type         string `json:"type"`
		KeyRequestID string `json:"key_request_id"`
		Key          struct {
			ID          string              `json:"id"`
			DisplayName string              `json:"display_name"`
			Permissions keyward.Permissions `json:"permissions"`
			Stores      keyward.StoreAccess `json:"stores"`
			Methods     []string            `json:"methods"`
			ExpiresAt   *time.Time          `json:"expires_at"`
			Secrets     []struct{ Secret string }
		} `json:"key"`
	}
	if err := json.Unmarshal(got.body, &body); err != nil || body.Type != "key_request.approved" || len(body.Key.Secrets) != 2 {
		t.Fatalf("the callback got %s (%v)", got.body, err)
	}
	k := body.Key
	if k.DisplayName != "demo-THQ" || len(k.Permissions) != 1 || k.Permissions["orders"] != "write" || len(k.Stores.IDs) != 1 || k.Stores.IDs[0] != main.ID ||
		strings.Join(k.Methods, ",") != "orders.list,orders.get" || k.ExpiresAt == nil || k.ExpiresAt.Format(time.DateOnly) != narrowed.Format(time.DateOnly) {
		t.Fatalf("the key delivered: %+v", k)
	}
	if got.header.Get("webhook-id") != body.KeyRequestID {
		t.Fatalf("webhook-id %q, want the request %s", got.header.Get("webhook-id"), body.KeyRequestID)
	}
	secret := k.Secrets[0].Secret
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v5/orders?store=main", http.StatusOK},
		{"/api/v5/orders?store=online", http.StatusForbidden},
		{"/api/v5/customers?store=main", http.StatusForbidden},
	} {
		req, _ := http.NewRequest("GET", gw+c.path, nil)
		req.Header.Set("X-API-Key", secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Fatalf("GET %s with the delivered key: %d, want %d", c.path, res.StatusCode, c.want)
		}
	}

	// The request page says the key was delivered, and never shows it.
	run(t, ctx, "reload the request until the delivery shows",
		chromedp.Navigate(base+pathKeyRequests+"/"+body.KeyRequestID),
		chromedp.WaitVisible(chromedp.CSS(`[data-delivery]`)),
	)
	for i := 0; ; i++ {
		state := get(t, ctx, "read the delivery", chromedp.Evaluate[string](`document.querySelector("[data-delivery]").dataset.delivery`))
		if state == keyward.DeliverySucceeded {
			break
		}
		if i == 50 {
			t.Fatalf("the delivery reads %q", state)
		}
		time.Sleep(100 * time.Millisecond)
		run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-delivery]`)))
	}
	page := get(t, ctx, "read the page", chromedp.OuterHTML(chromedp.CSS("html")))
	for _, s := range k.Secrets {
		if strings.Contains(page, s.Secret) {
			t.Fatal("the request page shows the key's secret")
		}
	}
	granted := get(t, ctx, "read the grant", chromedp.Text(chromedp.CSS(`section[data-granted]`)))
	if !strings.Contains(granted, "It can read and change: Orders") || strings.Contains(granted, "Customers.") && strings.Contains(granted, "only read") {
		t.Fatalf("the grant reads %q", granted)
	}

	// The link is used: opened again, it shows the same request.
	run(t, ctx, "open the link again",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	if loc := get(t, ctx, "read the address", chromedp.Evaluate[string](`location.pathname`)); loc != pathKeyRequests+"/"+body.KeyRequestID {
		t.Fatalf("the used link opened %s", loc)
	}
}
