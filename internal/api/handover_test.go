package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// POST /api/v1/handovers seals a key's secret behind a one-time link,
// answered once with its code; the list and the link's record show its
// state and never the link or the secret; bad input changes nothing.
func TestHandoverAPI(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	code, k := e.do(e.admin, "POST", "/api/v1/keys", map[string]any{"name": "erp", "permissions": map[string]string{"orders": "read"}})
	if code != 201 {
		t.Fatalf("create key: %d %v", code, k)
	}
	keyID := k["id"].(string)
	secret := k["secrets"].([]any)[0].(map[string]any)["secret"].(string)

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"ttl too long", map[string]any{"kind": "key_secret", "subject_id": keyID, "secret": secret, "ttl": "200h"}, "ttl"},
		{"ttl not a duration", map[string]any{"kind": "key_secret", "subject_id": keyID, "secret": secret, "ttl": "a day"}, "ttl"},
		{"unknown kind", map[string]any{"kind": "password", "subject_id": keyID, "secret": secret}, "kind"},
		{"not the key's secret", map[string]any{"kind": "key_secret", "subject_id": keyID, "secret": "kw_other"}, "secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, p := e.do(e.admin, "POST", "/api/v1/handovers", c.body)
			if code != 400 || p["field"] != c.field {
				t.Fatalf("%d %v; want 400 on %s", code, p, c.field)
			}
		})
	}

	code, h := e.do(e.admin, "POST", "/api/v1/handovers", map[string]any{
		"kind": "key_secret", "subject_id": keyID, "secret": secret, "ttl": "48h", "require_code": true, "note": "ERP team",
	})
	url, _ := h["url"].(string)
	if code != 201 || !strings.HasPrefix(url, e.srv.URL+"/h/") || len(h["code"].(string)) != 9 || h["state"] != "waiting" {
		t.Fatalf("create: %d %v", code, h)
	}
	id := h["id"].(string)
	code, list := e.do(e.admin, "GET", "/api/v1/handovers?subject_id="+keyID+"&state=waiting", nil)
	raw, _ := json.Marshal(list)
	if code != 200 || len(list["data"].([]any)) != 1 || strings.Contains(string(raw), secret) || strings.Contains(string(raw), url) ||
		strings.Contains(string(raw), `"code"`) {
		t.Fatalf("list: %d %s", code, raw)
	}
	if code, one := e.do(e.admin, "GET", "/api/v1/handovers/"+id, nil); code != 200 || one["note"] != "ERP team" || one["code_required"] != true || one["url"] != nil {
		t.Fatalf("get: %d %v", code, one)
	}
	if code, _ := e.do(e.admin, "GET", "/api/v1/handovers?state=lost", nil); code != 400 {
		t.Fatalf("unknown state: %d", code)
	}
	if code, _ := e.do(e.admin, "GET", "/api/v1/handovers/hnd_nope", nil); code != 404 {
		t.Fatalf("unknown link: %d", code)
	}
	if code, _ := e.do("", "GET", "/api/v1/handovers", nil); code != 401 {
		t.Fatalf("anonymous: %d", code)
	}
}
