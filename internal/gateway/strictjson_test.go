package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// POST /v1/events bounds its data's depth and size, refuses ambiguous
// JSON, stores nothing it refuses, and answers an accepted event without
// echoing its data: deep data once answered with a body hundreds of
// times its size.
func TestEventsBoundedAndNeverEchoed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := keywardtest.New(t, db)
		srv := httptest.NewServer(&gateway.Events{Replica: p.Rep, Send: p.Svc.SendEvent})
		defer srv.Close()
		sender := p.CreateKey(keyward.KeyCreate{Name: "erp", Permissions: keyward.Permissions{"events": "write"}})
		post := func(body string) (int, []byte) {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+sender.Secrets[0].Secret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		event := func(data string) string { return `{"type":"job.created","store":"main","data":` + data + `}` }
		nested := func(n int) string { return `{"id":"j","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
		cases := []struct {
			name, body string
			status     int
			code       string
		}{
			{"2,500 deep", event(nested(2500)), 400, "nesting_too_deep"},
			{"one level too deep", event(nested(31)), 400, "nesting_too_deep"},
			{"duplicate in data", event(`{"id":"j1","id":"j2"}`), 400, "duplicate_member"},
			{"duplicate store", `{"type":"job.created","store":"online","store":"main","data":{"id":"j"}}`, 400, "duplicate_member"},
			{"data not UTF-8", event("{\"id\":\"j\xff\"}"), 400, "invalid_utf8"},
			{"lone surrogate", event(`{"id":"\udbff"}`), 400, "invalid_utf8"},
			{"data too large", event(`{"id":"j","pad":"` + strings.Repeat("a", keyward.MaxEventData) + `"}`), 413, "payload_too_large"},
			{"body too large", event(`{"id":"j","pad":"` + strings.Repeat("a", 1<<20) + `"}`), 413, "payload_too_large"},
		}
		for _, c := range cases {
			status, b := post(c.body)
			var pr map[string]any
			json.Unmarshal(b, &pr)
			if status != c.status || pr["code"] != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, status, b, c.status, c.code)
			}
		}
		if n := countEvents(t, p); n != 0 {
			t.Fatalf("%d events stored from refused bodies", n)
		}
		data := nested(30)
		status, b := post(event(data))
		if status != 202 {
			t.Fatalf("nested to the limit: %d %s", status, b)
		}
		if bytes.Contains(b, []byte(`"data"`)) || len(b) > 512 {
			t.Errorf("the answer echoes the data (%d bytes): %.200s", len(b), b)
		}
		if n := countEvents(t, p); n != 1 {
			t.Errorf("%d events stored, want 1", n)
		}
	})
}

func countEvents(t *testing.T, p *keywardtest.Platform) int {
	t.Helper()
	var n int
	if err := p.DB.SQL().QueryRow("SELECT COUNT(*) FROM webhook_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// POST /v1/verify reads its body as strictly as the control plane: a
// duplicate key or store, or bad text, is refused, not decided.
func TestVerifyRefusesAmbiguousJSON(t *testing.T) {
	p := keywardtest.New(t, storetest.Open(t, store.SQLite))
	srv := httptest.NewServer(&gateway.Verifier{Replica: p.Rep})
	defer srv.Close()
	cases := []struct{ name, body, code string }{
		{"duplicate store", `{"key":"kwk_x","method":"orders.list","store":"online","store":"main"}`, "duplicate_member"},
		{"duplicate header", `{"key":"kwk_x","request":{"method":"GET","path":"/api/v5/orders","headers":{"X-Store":"a","X-Store":"b"}}}`, "duplicate_member"},
		{"store not UTF-8", "{\"key\":\"kwk_x\",\"method\":\"orders.list\",\"store\":\"ma\xffin\"}", "invalid_utf8"},
		{"lone surrogate", `{"key":"kwk_x\ud800","method":"orders.list"}`, "invalid_utf8"},
		{"other case", `{"key":"kwk_x","method":"orders.list","Store":"main"}`, "invalid_argument"},
		{"too deep", `{"key":"kwk_x","request":{"headers":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, "nesting_too_deep"},
		{"second value", `{"key":"kwk_x","method":"orders.list"}{}`, "invalid_argument"},
	}
	for _, c := range cases {
		res, err := http.Post(srv.URL+"/v1/verify", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var pr map[string]any
		json.NewDecoder(res.Body).Decode(&pr)
		res.Body.Close()
		if res.StatusCode != 400 || pr["code"] != c.code {
			t.Errorf("%s: %d %v, want 400 %s", c.name, res.StatusCode, pr, c.code)
		}
	}
}
