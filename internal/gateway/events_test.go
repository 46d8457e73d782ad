package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// POST /v1/events is decided as the gateway decides, answered by keyward
// on the API listener and on the gateway alike, and never forwarded.
func TestEventsSendIsNeverForwarded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := keywardtest.New(t, db)
		reached := 0
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
		defer up.Close()
		u, _ := url.Parse(up.URL)
		events := &gateway.Events{Replica: p.Rep, Send: p.Svc.SendEvent}
		proxy, err := gateway.NewProxy(gateway.ProxyConfig{Upstream: u, Replica: p.Rep, IdentityKey: bytes.Repeat([]byte("k"), 32), Events: events})
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(proxy)
		defer gw.Close()
		api := httptest.NewServer(events)
		defer api.Close()

		sender := p.CreateKey(keyward.KeyCreate{Name: "erp", Permissions: keyward.Permissions{"events": "write"}})
		reader := p.CreateKey(keyward.KeyCreate{Name: "reader", Permissions: keyward.Permissions{"events": "read", "orders": "write"}})
		online := p.CreateKey(keyward.KeyCreate{Name: "online", Permissions: keyward.Permissions{"events": "write"},
			Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"online"}}})
		post := func(base, key, body string) (int, map[string]any) {
			req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			out := map[string]any{}
			json.NewDecoder(res.Body).Decode(&out)
			return res.StatusCode, out
		}
		job := `{"type":"job.created","store":"main","data":{"id":"job_1"}}`
		for _, base := range []string{api.URL, gw.URL} {
			cases := []struct {
				name, key, body string
				status          int
				code            string
			}{
				{"allowed", sender.Secrets[0].Secret, job, 202, ""},
				{"no key", "", job, 401, "unauthenticated"},
				{"unknown key", "kwk_" + strings.Repeat("a", 49), job, 401, ""},
				{"read only", reader.Secrets[0].Secret, job, 403, keyward.CodeInsufficientPermission},
				{"another store", online.Secrets[0].Secret, job, 403, keyward.CodeStoreNotAllowed},
				{"unknown type", sender.Secrets[0].Secret, `{"type":"job.vanished","store":"main","data":{"id":"j"}}`, 400, "invalid_argument"},
				{"data off its schema", sender.Secrets[0].Secret, `{"type":"job.created","store":"main","data":{"status":"new"}}`, 400, "invalid_argument"},
				{"no store", sender.Secrets[0].Secret, `{"type":"job.created","data":{"id":"j"}}`, 400, "invalid_argument"},
			}
			for _, c := range cases {
				status, out := post(base, c.key, c.body)
				if status != c.status || c.code != "" && out["code"] != c.code {
					t.Errorf("%s via %s: %d %v, want %d %s", c.name, base, status, out, c.status, c.code)
				}
				if status == 202 && (out["type"] != "job.created" || !strings.HasPrefix(out["id"].(string), "msg_")) {
					t.Errorf("accepted event = %v", out)
				}
			}
		}
		if reached != 0 {
			t.Errorf("the upstream was reached %d times by POST /v1/events", reached)
		}
	})
}
