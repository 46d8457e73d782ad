package httpx_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// The body of a write is read only when declared as JSON; a write with no
// body needs no type.
func TestBodyTypeReadsOnlyJSON(t *testing.T) {
	cases := []struct {
		method, ctype, body string
		ok                  bool
	}{
		{"POST", "application/json", "{}", true},
		{"POST", "application/json; charset=utf-8", "{}", true},
		{"POST", "Application/JSON; Charset=UTF-8", "{}", true},
		{"PUT", "application/json", "{}", true},
		{"PATCH", "application/merge-patch+json", "{}", true},
		{"PATCH", "application/json", "{}", true},
		{"DELETE", "application/json", "{}", true},
		{"POST", "", "", true},
		{"DELETE", "", "", true},
		{"GET", "text/plain", "x", true},
		{"POST", "", "{}", false},
		{"POST", "application/x-www-form-urlencoded", "a=b", false},
		{"POST", "text/plain", "{}", false},
		{"POST", "multipart/form-data; boundary=x", "--x--", false},
		{"POST", "application/merge-patch+json", "{}", false},
		{"PUT", "application/merge-patch+json", "{}", false},
		{"POST", "application/json; charset=latin1", "{}", false},
		{"POST", "application/json; x=y", "{}", false},
		{"POST", "application/jsonx", "{}", false},
		{"POST", "application/problem+json", "{}", false},
		{"POST", "application/json,text/plain", "{}", false},
		{"PATCH", "", "{}", false},
		{"DELETE", "text/plain", "x", false},
	}
	for _, c := range cases {
		for _, known := range []bool{true, false} {
			var body io.Reader = strings.NewReader(c.body)
			if !known {
				body = io.MultiReader(body) // of unknown length
			}
			r := httptest.NewRequest(c.method, "/", body)
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			err := httpx.BodyType(r)
			if (err == nil) != c.ok || err != nil && (keyward.ErrorCode(err) != keyward.EUnsupportedMedia || !strings.Contains(err.Error(), "Content-Type: application/")) {
				t.Errorf("%s %q %q (length known %v): %v, want ok %v", c.method, c.ctype, c.body, known, err, c.ok)
			}
			if rest, _ := io.ReadAll(r.Body); string(rest) != c.body {
				t.Errorf("%s %q: the body left to read is %q", c.method, c.ctype, rest)
			}
		}
	}
}

// A path answers a method it does not serve with 405 and Allow; HEAD is
// served as GET.
func TestMethodsAnswers405WithAllow(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	m := httpx.Methods{"GET": ok, "POST": ok}
	for method, want := range map[string]int{"GET": 204, "HEAD": 204, "POST": 204, "PUT": 405, "DELETE": 405, "OPTIONS": 405, "BREW": 405} {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest(method, "/x", nil))
		if w.Code != want || want == 405 && w.Header().Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("%s: %d Allow %q, want %d", method, w.Code, w.Header().Get("Allow"), want)
		}
	}
}
