package main

import (
	"net/http"
	"strings"
	"testing"
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
