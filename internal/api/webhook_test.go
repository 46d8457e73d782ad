package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Webhook endpoints are managed by administrators holding the webhooks
// feature, and by nobody else: every other door is tried on every route.
func TestWebhooksAreForWebhookAdministratorsOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, w := e.do(e.admin, "POST", "/api/v1/webhooks", map[string]any{"store": "main", "url": "https://hooks.example.com/in", "events": []string{"key.*"}})
		if code != 201 || !strings.HasPrefix(w["secret"].(string), "whsec_") {
			t.Fatalf("create: %d %v", code, w)
		}
		id := w["id"].(string)
		noWebhooks, _ := e.userWith("keys@demo.test", keyward.FeatureAPIManagement, keyward.FeatureMerchants)
		webhooksOnly, _ := e.userWith("hooks@demo.test", keyward.FeatureWebhooks)
		_, key := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "ERP", "permissions": map[string]string{"orders": "read", "webhooks": "write"}})
		apiKey := key["secrets"].([]any)[0].(map[string]any)["secret"].(string)
		_, m := e.do(e.admin, "POST", "/api/v1/merchants", map[string]any{"name": "Courier"})
		_, mu := e.do(e.admin, "POST", "/api/v1/merchants/"+m["id"].(string)+"/users", map[string]any{"email": "rider@courier.test", "level": 2, "api_access": true})
		account, authKey := mu["api_account_id"].(string), mu["api_auth_key"].(string)

		// Each with a body the route accepts, so only the caller is wrong.
		routes := []struct{ method, path, body string }{
			{"GET", "/api/v1/webhooks", ""}, {"POST", "/api/v1/webhooks", `{"url":"https://evil.example/x","events":["*"]}`},
			{"GET", "/api/v1/webhooks/" + id, ""}, {"PATCH", "/api/v1/webhooks/" + id, `{"url":"https://evil.example/x"}`},
			{"DELETE", "/api/v1/webhooks/" + id, ""}, {"GET", "/api/v1/webhooks/event-types", ""},
			{"POST", "/api/v1/webhooks/" + id + "/roll", `{}`}, {"POST", "/api/v1/webhooks/" + id + "/test", ""},
			{"GET", "/api/v1/webhooks/" + id + "/deliveries", ""}, {"GET", "/api/v1/webhooks/" + id + "/attempts", ""},
			{"POST", "/api/v1/webhooks/" + id + "/replay", `{"since":"2026-01-01T00:00:00Z"}`}, {"GET", "/api/v1/webhooks/" + id + "/stats", ""},
		}
		doors := []struct {
			name   string
			send   credential
			status int
		}{
			{"no credential", func(*http.Request) {}, 401},
			{"a user without the webhooks feature", bearer(noWebhooks), 403},
			{"an API key, even one allowed the platform's webhooks", bearer(apiKey), 401},
			{"merchant credentials (Basic)", func(r *http.Request) { r.SetBasicAuth(account, authKey) }, 401},
			{"merchant credentials (headers)", func(r *http.Request) { r.Header.Set("X-Account-Id", account); r.Header.Set("X-Auth-Key", authKey) }, 401},
			{"the operator", bearer(e.operator), 403},
		}
		for _, d := range doors {
			for _, rt := range routes {
				req, _ := http.NewRequest(rt.method, e.srv.URL+rt.path, strings.NewReader(rt.body))
				req.Header.Set("Content-Type", "application/json")
				d.send(req)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != d.status && !(d.status == 401 && res.StatusCode == 403) {
					t.Errorf("%s: %s %s = %d, want %d", d.name, rt.method, rt.path, res.StatusCode, d.status)
				}
			}
		}
		if n := count(e, "/api/v1/webhooks"); n != 1 {
			t.Errorf("after every refused door the tenant has %d endpoints, want 1", n)
		}
		// A user holding only the webhooks feature manages them.
		if code, _ := e.do(webhooksOnly, "POST", "/api/v1/webhooks/"+id+"/roll", map[string]any{"overlap": "1h"}); code != 200 {
			t.Errorf("a webhooks administrator rolls the secret: %d", code)
		}
		if code, out := e.do(webhooksOnly, "GET", "/api/v1/webhooks/"+id, nil); code != 200 || out["secret"] != nil || out["previous_secret_until"] == nil {
			t.Errorf("read after roll: %d %v (no secret, an overlap)", code, out)
		}
	})
}

// Endpoints name the stores whose events they receive, or all; bad input
// changes nothing and says what is wrong.
func TestWebhookEndpointInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, w := e.do(e.admin, "POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/all", "events": []string{"*"}})
		if code != 201 || w["stores"].(map[string]any)["access"] != "all" {
			t.Fatalf("an endpoint of all stores: %d %v", code, w)
		}
		for _, bad := range []map[string]any{
			{"url": "https://127.0.0.1/in", "events": []string{"*"}},
			{"url": "https://metadata.google.internal/x", "events": []string{"*"}},
			{"url": "https://hooks.example.com/in", "events": []string{"no.such.event"}},
			{"url": "https://hooks.example.com/in", "events": []string{}},
			{"url": "https://hooks.example.com/in", "events": []string{"*"}, "store": "nowhere"},
			{"url": "https://hooks.example.com/in", "events": []string{"*"}, "store": "main", "stores": map[string]any{"access": "all"}},
			{"url": "https://hooks.example.com/in", "events": []string{"*"}, "stores": map[string]any{"access": "selected"}},
		} {
			if code, p := e.do(e.admin, "POST", "/api/v1/webhooks", bad); code != 400 || p["detail"] == "" {
				t.Errorf("POST %v = %d %v, want 400 with a reason", bad, code, p)
			}
		}
		if n := count(e, "/api/v1/webhooks"); n != 1 {
			t.Errorf("%d endpoints after refused input, want 1", n)
		}
		code, out := e.do(e.admin, "GET", "/api/v1/webhooks/event-types", nil)
		types := map[string]bool{}
		for _, x := range out["data"].([]any) {
			types[x.(map[string]any)["type"].(string)] = true
		}
		for _, want := range []string{"key.created", "key.rolled", "merchant.api_access.deactivated", "licence.revoked", "job.created", "order.status_changed"} {
			if code != 200 || !types[want] {
				t.Errorf("event types lack %s: %d %v", want, code, types)
			}
		}
	})
}

// A PATCH of an endpoint is a JSON Merge Patch: null removes the
// description and widens the stores to all; members an endpoint always
// has cannot be removed, and a refused patch changes nothing.
func TestWebhookMergePatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		code, w := e.do(e.admin, "POST", "/api/v1/webhooks", map[string]any{"store": "main", "url": "https://hooks.example.com/in", "events": []string{"*"}, "description": "ERP"})
		if code != 201 {
			t.Fatalf("create: %d %v", code, w)
		}
		path := "/api/v1/webhooks/" + w["id"].(string)
		for _, member := range []string{"url", "events", "enabled"} {
			if code, p := e.do(e.admin, "PATCH", path, `{"`+member+`": null, "description": null}`); code != 400 || p["field"] != member {
				t.Errorf("null %s: %d %v, want 400 naming it", member, code, p)
			}
		}
		code, got := e.do(e.admin, "PATCH", path, `{"description": null, "stores": null}`)
		if code != 200 || got["description"] != "" || got["stores"].(map[string]any)["access"] != "all" {
			t.Errorf("null description and stores: %d %v", code, got)
		}
		if code, got = e.do(e.admin, "PATCH", path, `{"enabled": false}`); code != 200 || got["url"] != "https://hooks.example.com/in" || got["enabled"] != false {
			t.Errorf("a member left out is kept: %d %v", code, got)
		}
	})
}

// Deliveries and attempts page with next_cursor like every other list:
// following the cursors visits each record once, and a cursor no page
// gave is refused with 400.
func TestDeliveriesAndAttemptsPageWithCursors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		id := e.webhookWithAttempts(5)
		for _, list := range []string{"deliveries", "attempts"} {
			path := "/api/v1/webhooks/" + id + "/" + list
			_, _, all := e.send(e.admin, "GET", path+"?limit=100", "", nil)
			want := len(all["data"].([]any))
			if want < 3 {
				t.Fatalf("%s: only %d records to page through", list, want)
			}
			seen := map[string]bool{}
			cursor := ""
			for range want + 1 {
				code, _, page := e.send(e.admin, "GET", path+"?limit=2&cursor="+url.QueryEscape(cursor), "", nil)
				if code != 200 {
					t.Fatalf("%s with cursor %q: %d %v", list, cursor, code, page)
				}
				for _, item := range page["data"].([]any) {
					rid := item.(map[string]any)["id"].(string)
					if seen[rid] {
						t.Errorf("%s: %s on two pages", list, rid)
					}
					seen[rid] = true
				}
				if cursor, _ = page["next_cursor"].(string); cursor == "" {
					break
				}
			}
			if len(seen) != want {
				t.Errorf("%s: the pages held %d records, want %d", list, len(seen), want)
			}
			if code, _, p := e.send(e.admin, "GET", path+"?cursor=nope", "", nil); code != 400 || p["field"] != "cursor" {
				t.Errorf("%s with a cursor no page gave: %d %v", list, code, p)
			}
		}
	})
}

// webhookWithAttempts creates an endpoint with n test deliveries, each
// attempted once and refused by the receiver, and returns its id.
func (e *env) webhookWithAttempts(n int) string {
	e.t.Helper()
	code, w := e.do(e.admin, "POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/in", "events": []string{"key.*"}})
	if code != 201 {
		e.t.Fatalf("create webhook: %d %v", code, w)
	}
	id := w["id"].(string)
	for range n {
		if code, out := e.do(e.admin, "POST", "/api/v1/webhooks/"+id+"/test", nil); code != 202 {
			e.t.Fatalf("test event: %d %v", code, out)
		}
	}
	ctx := context.Background()
	due, err := e.svc.ClaimDeliveries(ctx, 100, time.Minute, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	var outs []service.Outcome
	for i := range due {
		outs = append(outs, service.Outcome{Due: &due[i], At: time.Now(), StatusCode: 500, Err: "refused"})
	}
	if err := e.svc.RecordOutcomes(ctx, outs); err != nil {
		e.t.Fatal(err)
	}
	return id
}
