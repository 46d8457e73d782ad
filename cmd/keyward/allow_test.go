package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
)

// A node answers a method a path does not serve with 405 and Allow, and
// only an unknown path with 404.
func TestNodeAnswersAnUnservedMethodWith405(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir())
	req, _ := http.NewRequest("PUT", n.url+"/api/v1/keys", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+n.adminToken())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT /api/v1/keys: %d, Allow %q; want 405 with Allow: GET, HEAD, POST", res.StatusCode, res.Header.Get("Allow"))
	}
	if code, _ := n.call(n.adminToken(), "GET", "/api/v1/no-such-thing", nil); code != http.StatusNotFound {
		t.Errorf("an unknown path: %d, want 404", code)
	}
}

// Every path of the document answers every method it does not declare
// with 405 and an Allow naming exactly the methods it declares (HEAD
// wherever GET is: HEAD is GET without the body, OPTIONS is a method like
// any other), on the whole node, /v1/verify and /v1/events included, and
// whoever asks.
func TestEveryPathAnswersUndeclaredMethodsAsTheDocumentSays(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir())
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	all := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
	checked := 0
	for path, item := range doc.Paths {
		var allow []string
		for _, m := range all {
			if item[strings.ToLower(m)] != nil || m == "HEAD" && item["get"] != nil {
				allow = append(allow, m)
			}
		}
		target := strings.NewReplacer("{domain}", "demo", "{id}", "x_1", "{user}", "x_2", "{delivery}", "x_3", "{account}", "x_4").Replace(path)
		for _, m := range all {
			if slices.Contains(allow, m) {
				continue
			}
			for _, token := range []string{"", n.adminToken()} {
				req, _ := http.NewRequest(m, n.url+target, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				checked++
				if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != strings.Join(allow, ", ") {
					t.Errorf("%s %s: %d Allow %q; want 405 with Allow %q", m, path, res.StatusCode, res.Header.Get("Allow"), strings.Join(allow, ", "))
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("checked only %d calls", checked)
	}
}

// /v1/verify and /v1/events read JSON as every write does: a form is
// refused with 415.
func TestDataPlaneReadsOnlyJSON(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir())
	for _, path := range []string{"/v1/verify", "/v1/events"} {
		for _, ctype := range []string{"application/x-www-form-urlencoded", "text/plain", ""} {
			req, _ := http.NewRequest("POST", n.url+path, strings.NewReader(`{"key": "x", "method": "orders.list"}`))
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			json.NewDecoder(res.Body).Decode(&p)
			res.Body.Close()
			if res.StatusCode != http.StatusUnsupportedMediaType || p["code"] != "unsupported_media_type" {
				t.Errorf("POST %s as %q: %d %v, want 415", path, ctype, res.StatusCode, p)
			}
		}
	}
	if code, out := n.call("", "POST", "/v1/verify", map[string]any{"key": "x", "method": "orders.list"}); code == http.StatusUnsupportedMediaType {
		t.Errorf("POST /v1/verify as JSON: %d %v", code, out)
	}
}
