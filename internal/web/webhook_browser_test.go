package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

// TestBrowserManageWebhooks: the demo administrator adds an endpoint for
// one store at Integrations > API > Manage Webhooks, copies the signing
// secret shown once, sends a test event that a local receiver gets signed
// by that secret, finds the delivery in the endpoint's log, and replays
// it: it arrives again with the same webhook-id.
func TestBrowserManageWebhooks(t *testing.T) {
	ctx := browser(t)
	e := newWebhookEnv(t)
	rcv := newHookReceiver(t)
	base := e.srv.URL
	online, err := e.svc.Store(e.sys, "online")
	if err != nil {
		t.Fatal(err)
	}
	// Another endpoint, so the list shows more than one.
	erp, err := e.svc.CreateWebhook(e.sys, keyward.WebhookCreate{URL: rcv.srv.URL + "/erp", Description: "Warehouse ERP", Events: []string{"key.*", "merchant.*"}})
	if err != nil {
		t.Fatal(err)
	}
	addDeliveryHistory(t, e, erp.ID, nil, 0)

	signInAs(t, ctx, base, e.demo.Email, e.demo.Password, false)
	run(t, ctx, "open Integrations > Manage Webhooks and press Add endpoint",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Manage Webhooks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.webhooks`)),
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Add endpoint"]`)),
		chromedp.WaitVisible(chromedp.ID("url")),
	)
	run(t, ctx, "fill in the endpoint form for the online store",
		chromedp.SendKeys(chromedp.ID("url"), rcv.srv.URL+"/hooks/keyward"),
		chromedp.SetValue(chromedp.ID("store"), online.ID),
		chromedp.SendKeys(chromedp.ID("description"), "Order desk, online store"),
		chromedp.Click(chromedp.CSS(`input[name="event"][value="key.created"]`)),
		chromedp.Click(chromedp.CSS(`input[name="event"][value="key.updated"]`)),
	)
	shot(t, ctx, "webhook-form")
	run(t, ctx, "add the endpoint",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Add endpoint"]`)),
		chromedp.WaitVisible(chromedp.ID("signing-secret")),
	)
	secret := get(t, ctx, "read the signing secret", chromedp.Value(chromedp.ID("signing-secret")))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("signing secret on the page: %q", secret)
	}
	if !get(t, ctx, "look for the copy button", chromedp.Evaluate[bool](`!document.querySelector('[data-copy="signing-secret"]').hidden`)) {
		t.Fatal("the copy button stays hidden with script on")
	}
	shot(t, ctx, "webhook-secret")

	run(t, ctx, "open the endpoint",
		chromedp.Click(chromedp.Search(`//a[normalize-space()="Done: show the endpoint"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space()="Send test event"]`)),
	)
	page := get(t, ctx, "read the endpoint page", chromedp.Text(chromedp.CSS("main")))
	if strings.Contains(page, secret) {
		t.Fatal("the endpoint page shows the secret again")
	}
	if got := get(t, ctx, "read the store", chromedp.Text(chromedp.CSS(`dd[data-stores]`))); got != online.Name {
		t.Fatalf("the endpoint's store reads %q, want %q", got, online.Name)
	}
	whs, err := e.svc.ListWebhooks(e.sys, "")
	if err != nil {
		t.Fatal(err)
	}
	var wh *keyward.WebhookEndpoint
	for _, w := range whs {
		if strings.HasSuffix(w.URL, "/hooks/keyward") {
			wh = w
		}
	}
	if wh == nil || wh.Stores.Access != keyward.StoresSelected || len(wh.Stores.IDs) != 1 || wh.Stores.IDs[0] != online.ID {
		t.Fatalf("endpoint saved as %+v", wh)
	}
	// A day of earlier deliveries, so the sparkline has a shape.
	addDeliveryHistory(t, e, wh.ID, []string{online.ID}, 1)

	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "send a test event",
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Send test event"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	first := rcv.wait()
	if err := verifier.Verify(first.body, first.header); err != nil {
		t.Fatalf("the test event's signature does not verify with the secret shown: %v", err)
	}
	var ev keyward.Event
	if err := json.Unmarshal(first.body, &ev); err != nil || ev.Type != "webhook.test" || ev.ID != first.header.Get("webhook-id") {
		t.Fatalf("the receiver got %s (webhook-id %q, err %v)", first.body, first.header.Get("webhook-id"), err)
	}
	if len(ev.Stores) != 1 || ev.Stores[0] != online.ID {
		t.Fatalf("the test event names stores %v, want the endpoint's %s", ev.Stores, online.ID)
	}

	dlv := waitDelivery(t, e, wh.ID, ev.ID, 1)
	run(t, ctx, "reload the endpoint and find the delivery and its attempt",
		chromedp.Navigate(base+pathWebhooks+"/"+wh.ID),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-delivery="`+dlv.ID+`"] .badge.on`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-event="`+ev.ID+`"]`)),
	)
	row := get(t, ctx, "read the attempt", chromedp.Text(chromedp.CSS(`tr[data-event="`+ev.ID+`"]`)))
	if !strings.Contains(row, "webhook.test") || !strings.Contains(row, "200") || !strings.Contains(row, "ms") {
		t.Fatalf("the delivery log reads %q", row)
	}

	run(t, ctx, "replay the delivery",
		chromedp.Click(chromedp.CSS(`button[aria-label="Replay `+ev.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	again := rcv.wait()
	if got := again.header.Get("webhook-id"); got != ev.ID {
		t.Fatalf("the replay arrived with webhook-id %q, want %q", got, ev.ID)
	}
	if err := verifier.Verify(again.body, again.header); err != nil {
		t.Fatalf("the replay's signature does not verify: %v", err)
	}
	waitDelivery(t, e, wh.ID, ev.ID, 2)
	run(t, ctx, "reload the endpoint and find both attempts",
		chromedp.Navigate(base+pathWebhooks+"/"+wh.ID),
		chromedp.WaitVisible(chromedp.CSS(`svg.sparkline polyline`)),
	)
	if n := get(t, ctx, "count the test event's attempts", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-event="`+ev.ID+`"]').length`)); n != 2 {
		t.Fatalf("the delivery log shows %d attempts of the test event, want 2", n)
	}
	shot(t, ctx, "webhook")

	run(t, ctx, "go back to Manage Webhooks",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main menu"]//a[normalize-space()="Manage Webhooks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-endpoint="`+wh.ID+`"]`)),
	)
	listed := get(t, ctx, "read the endpoint's row", chromedp.Text(chromedp.CSS(`tr[data-endpoint="`+wh.ID+`"]`)))
	if !strings.Contains(listed, online.Name) || !strings.Contains(listed, "key.created") {
		t.Fatalf("the list's row reads %q", listed)
	}
	if !strings.Contains(get(t, ctx, "read the other row", chromedp.Text(chromedp.CSS(`tr[data-endpoint="`+erp.ID+`"]`))), "All stores") {
		t.Fatal("the endpoint for all stores does not say so")
	}
	shot(t, ctx, "webhooks")
}

// waitDelivery waits until the endpoint's delivery of event has been
// attempted attempts times and is no longer pending, and returns it. The
// bound only stops a broken dispatcher from hanging the test.
func waitDelivery(t *testing.T, e *env, endpointID, eventID string, attempts int) *keyward.WebhookDelivery {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ds, err := items(e.svc.ListDeliveries(e.sys, endpointID, service.DeliveryFilter{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.EventID == eventID && d.Attempts >= attempts && d.Status != keyward.DeliveryPending {
				return d
			}
		}
	}
	t.Fatalf("the delivery of %s was not attempted %d times", eventID, attempts)
	return nil
}

// addDeliveryHistory writes a day of finished deliveries to an endpoint:
// a few an hour, most answered at once, some after a retry, and in the
// hours around failHour (when not 0) one that failed for good.
func addDeliveryHistory(t *testing.T, e *env, endpointID string, stores []string, failHour int) {
	t.Helper()
	ctx := context.Background()
	tenant := keyward.ActorFrom(e.sys).TenantID
	now := time.Now().UTC()
	types := []string{"key.created", "key.updated", "key.rolled"}
	err := e.db.Write(ctx, func(q *store.Q) error {
		for h := 23; h >= 1; h-- {
			for i := 0; i < 1+h%3; i++ {
				at := now.Add(-time.Duration(h)*time.Hour + time.Duration(i*7)*time.Minute)
				ev := &keyward.Event{ID: keyward.NewID("msg"), Type: types[(h+i)%len(types)], Timestamp: at, Stores: stores, Data: json.RawMessage(`{}`)}
				payload, _ := json.Marshal(ev)
				if err := q.InsertEvent(ctx, tenant, ev, payload); err != nil {
					return err
				}
				id := keyward.NewID("dlv")
				if err := q.InsertDelivery(ctx, id, tenant, endpointID, ev.ID, at); err != nil {
					return err
				}
				latency := time.Duration(40+(h*37+i*11)%160) * time.Millisecond
				troubled := failHour != 0 && h >= failHour*3 && h <= failHour*3+3
				switch {
				case troubled && i == 0:
					// Failed for good: three answers of 503.
					for n := 1; n <= 3; n++ {
						next := at.Add(time.Duration(n) * time.Minute)
						status, nextp := keyward.DeliveryPending, &next
						if n == 3 {
							status, nextp = keyward.DeliveryFailed, nil
						}
						if err := q.RecordAttempt(ctx, &store.Attempt{DeliveryID: id, EndpointID: endpointID, Attempt: n, At: at.Add(time.Duration(n-1) * time.Minute),
							StatusCode: 503, Latency: latency, Response: "Service Unavailable", Status: status, Next: nextp}); err != nil {
							return err
						}
					}
				case troubled:
					// Refused once, delivered on the retry.
					next := at.Add(5 * time.Second)
					if err := q.RecordAttempt(ctx, &store.Attempt{DeliveryID: id, EndpointID: endpointID, Attempt: 1, At: at, Error: "dial tcp: connection refused",
						Status: keyward.DeliveryPending, Next: &next}); err != nil {
						return err
					}
					if err := q.RecordAttempt(ctx, &store.Attempt{DeliveryID: id, EndpointID: endpointID, Attempt: 2, At: next, StatusCode: 200,
						Latency: latency, Response: `{"received":true}`, Status: keyward.DeliverySucceeded}); err != nil {
						return err
					}
				default:
					if err := q.RecordAttempt(ctx, &store.Attempt{DeliveryID: id, EndpointID: endpointID, Attempt: 1, At: at, StatusCode: 200 + 4*((h+i)%2),
						Latency: latency, Response: `{"received":true}`, Status: keyward.DeliverySucceeded}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("add delivery history: %w", err))
	}
}
