package httpx_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// decodeProblem decodes body into v and answers the problem Decode's
// refusal makes, as a client reads it.
func decodeProblem(t *testing.T, body string, v any) string {
	t.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	err := httpx.Decode(httptest.NewRecorder(), r, v)
	if err == nil {
		t.Fatalf("%s: accepted", body)
	}
	w := httptest.NewRecorder()
	httpx.Error(w, r, err)
	return w.Body.String()
}

// A refused value is explained in the API's words, with an example and
// the field's name: no Go type, package or time layout.
func TestDecodeSaysWhatAFieldExpects(t *testing.T) {
	cases := []struct {
		name, body string
		v          any
		want       []string
	}{
		{"permissions not an object", `{"name": "a", "permissions": "all"}`, &keyward.KeyCreate{}, []string{`"field":"permissions"`, `{"orders": "write"`}},
		{"level not a string", `{"permissions": {"orders": 5}}`, &keyward.KeyCreate{}, []string{`"field":"permissions"`, `"read" or "write"`}},
		{"stores not an object", `{"stores": "main"}`, &keyward.KeyCreate{}, []string{`"field":"stores"`, `{"access": "selected", "ids": ["main"]}`}},
		{"grace a number", `{"slot": 1, "grace": 5}`, &keyward.KeyRoll{}, []string{`"field":"grace"`, `"24h"`}},
		{"expiry not a time", `{"name": "a", "expires_at": "tomorrow"}`, &keyward.KeyCreate{}, []string{`"field":"expires_at"`, `RFC 3339 time such as "2027-01-31T00:00:00Z"`}},
		{"expiry a number", `{"name": "a", "expires_at": 5}`, &keyward.KeyCreate{}, []string{`"field":"expires_at"`, `RFC 3339`}},
		{"licence expiry a date", `{"expires_at": "2027-01-31"}`, &keyward.LicenceGrant{}, []string{`"field":"expires_at"`, `null or an RFC 3339 time`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p httpx.Problem
			if err := json.Unmarshal([]byte(decodeProblem(t, c.body, c.v)), &p); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf(`"field":%q %s`, p.Field, p.Detail)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("want %s in %s", w, got)
				}
			}
			for _, bad := range []string{"keyward.", "time.Time", "2006", "of type", "UnmarshalJSON", "parsing time"} {
				if strings.Contains(p.Detail, bad) {
					t.Errorf("%q in %s", bad, got)
				}
			}
		})
	}
}

// Problem bodies quote input as written: "<" and ">" are not escaped as
// \u003c and \u003e.
func TestProblemBodiesAreNotHTMLEscaped(t *testing.T) {
	got := decodeProblem(t, `{"<b>": 1}`, &keyward.ProfileCreate{})
	if !strings.Contains(got, `unknown field \"<b>\"`) || strings.Contains(got, `\u003c`) {
		t.Fatalf("problem body: %s", got)
	}
}

// Whatever the body, Decode answers nil or an invalid_argument (or
// payload_too_large) whose detail names no Go type, package or layout.
func FuzzDecodeRefusals(f *testing.F) {
	for _, s := range []string{`{}`, `{"name": "a", "expires_at": "x"}`, `{"permissions": []}`, `{"stores": {"ids": 1}}`,
		`{"grace": true}`, `{"methods": {"a": 1}}`, `[1]`, `"x"`, `{"rate_limit": 1e99}`, `{"enabled": null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&keyward.KeyCreate{}, &keyward.KeyUpdate{}, &keyward.KeyRoll{}, &keyward.LicenceGrant{}} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Content-Type", "application/json")
			err := httpx.Decode(httptest.NewRecorder(), r, v)
			if err == nil {
				continue
			}
			if c := keyward.ErrorCode(err); c != keyward.EInvalid && c != keyward.ETooLarge {
				t.Fatalf("%q: %v", body, err)
			}
			msg := keyward.ErrorMessage(err)
			for _, bad := range []string{"keyward.", "time.Time", "2006-01-02", "of type", "UnmarshalJSON", "parsing time", "Go value"} {
				if strings.Contains(msg, bad) {
					t.Fatalf("%q: %q names %q", body, msg, bad)
				}
			}
		}
	})
}
