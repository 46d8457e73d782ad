package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Every write that carries a body declares it as JSON: a form (curl -d's
// default), text/plain or no Content-Type is refused with 415 on every
// route of the table and changes nothing; application/json is read.
func TestEveryWriteReadsOnlyJSON(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.do(e.admin, "POST", "/api/v1/stores", map[string]any{"code": "mt"})
		e.do(e.admin, "POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/hook", "events": []string{"key.created"}})
		e.do(e.admin, "POST", "/api/v1/merchants", map[string]any{"name": "Media"})
		e.do(e.admin, "POST", "/api/v1/me/tokens", map[string]any{"name": "media"})
		before := e.snapshot()

		refused := []struct{ name, ctype, body string }{
			{"form", "application/x-www-form-urlencoded", "name=x&code=x"},
			{"text", "text/plain", `{"name": "x"}`},
			{"none", "", `{"name": "x"}`},
			{"multipart", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--\r\n"},
			{"json in another charset", "application/json; charset=latin1", `{"name": "x"}`},
		}
		routes := 0
		for _, rt := range e.routes() {
			if rt.Method == "GET" {
				continue
			}
			routes++
			path, token := e.fill(rt)
			for _, c := range refused {
				header := map[string]string{"Content-Type": c.ctype}
				if c.ctype == "" {
					header = nil
				}
				code, _, p := e.sendRaw(token, rt.Method, path, c.body, header)
				if code != http.StatusUnsupportedMediaType || p["code"] != "unsupported_media_type" || !strings.Contains(p["detail"].(string), "application/json") {
					t.Errorf("%s %s sent as %s: %d %v; want 415 naming application/json", rt.Method, rt.Path, c.name, code, p)
				}
			}
			if rt.Method == "PATCH" {
				if code, _, p := e.send(token, rt.Method, path, `{}`, map[string]string{"Content-Type": "application/merge-patch+json"}); code == http.StatusUnsupportedMediaType {
					t.Errorf("%s %s sent as a merge patch: %d %v", rt.Method, rt.Path, code, p)
				}
			}
		}
		if routes < 40 {
			t.Fatalf("checked only %d routes", routes)
		}
		if after := e.snapshot(); after != before {
			t.Errorf("a refused body changed something:\nbefore %s\nafter  %s", before, after)
		}
		for _, rt := range e.routes() {
			if rt.Method == "GET" {
				continue
			}
			path, token := e.fill(rt)
			if code, _, p := e.send(token, rt.Method, path, `{}`, map[string]string{"Content-Type": "application/json; charset=UTF-8"}); code == http.StatusUnsupportedMediaType {
				t.Errorf("%s %s sent as application/json: %d %v", rt.Method, rt.Path, code, p)
			}
		}
		// A write without a body needs no Content-Type.
		if code, _, p := e.sendRaw(e.admin, "POST", "/api/v1/keys/key_none/roll", "", nil); code == http.StatusUnsupportedMediaType {
			t.Errorf("a POST without a body: %d %v", code, p)
		}
	})
}

// fill gives rt's path real ids where a list names one, and the token of
// the kind of caller the route admits.
func (e *env) fill(rt api.Route) (path, token string) {
	segs := strings.Split(rt.Path, "/")
	for i, s := range segs {
		switch {
		case s == "{domain}":
			segs[i] = "demo"
		case strings.HasPrefix(s, "{"):
			segs[i] = "x"
			if _, list := e.do(e.tokenFor(rt), "GET", strings.Join(segs[:i], "/"), nil); list != nil {
				if data, _ := list["data"].([]any); len(data) > 0 {
					if id, ok := data[0].(map[string]any)["id"].(string); ok {
						segs[i] = id
					}
				}
			}
		}
	}
	return strings.Join(segs, "/"), e.tokenFor(rt)
}

func (e *env) tokenFor(rt api.Route) string {
	switch rt.Auth {
	case api.AuthOperator:
		return e.operator
	case api.AuthNone:
		return ""
	}
	return e.admin
}

// snapshot is what the lists a write could change answer now.
func (e *env) snapshot() string {
	var b strings.Builder
	for _, p := range []string{"/api/v1/stores", "/api/v1/profiles", "/api/v1/users", "/api/v1/me/tokens", "/api/v1/keys", "/api/v1/webhooks", "/api/v1/connections", "/api/v1/merchants", "/api/v1/audit?limit=500", "/api/v1/me"} {
		_, _, out := e.send(e.admin, "GET", p, "", nil)
		raw, _ := json.Marshal(out)
		b.WriteString(p + " " + string(raw) + "\n")
	}
	for _, p := range []string{"/operator/v1/tenants", "/operator/v1/tenants/demo/licence"} {
		_, _, out := e.send(e.operator, "GET", p, "", nil)
		raw, _ := json.Marshal(out)
		b.WriteString(p + " " + string(raw) + "\n")
	}
	return b.String()
}
