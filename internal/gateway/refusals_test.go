package gateway

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// A flood of refusals writes no log line per request, even at the info
// level; one line a minute says how many there were, by code.
func TestRefusalsAreSummarisedNotLogged(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Reader", Permissions: keyward.Permissions{"orders": "read"},
		Stores: keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}})
	var logs bytes.Buffer
	up, _ := url.Parse("http://upstream.invalid")
	p := f.proxy(ProxyConfig{Upstream: up, Transport: cannedTransport{},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	clock := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	p.refusals = newRefusals(p.log, RefusalSummaryEvery, func() time.Time { return clock })

	send := func(key, target string, want int) {
		t.Helper()
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != want {
			t.Fatalf("%s: %d, want %d", target, w.Code, want)
		}
	}
	unknown := secret.Generate(secret.KindAPIKey)
	for range 1000 {
		send(unknown, "/api/v5/orders?store=main", http.StatusUnauthorized)
	}
	send(sec, "/api/v5/orders?store=online", http.StatusForbidden)
	send(sec, "/api/v5/orders?store=main", http.StatusOK)
	clock = clock.Add(RefusalSummaryEvery - time.Second)
	send(unknown, "/api/v5/orders?store=main", http.StatusUnauthorized)
	if logs.Len() != 0 {
		t.Fatalf("refusals within a minute logged:\n%s", logs.String())
	}

	clock = clock.Add(time.Second)
	send(unknown, "/api/v5/orders?store=main", http.StatusUnauthorized)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines after a minute of refusals, want one summary:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"total=1003", "NOT_FOUND=1002", "STORE_NOT_ALLOWED=1", "seconds=60"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("summary %q lacks %s", lines[0], want)
		}
	}
	if strings.Contains(logs.String(), unknown) || strings.Contains(logs.String(), sec) {
		t.Error("the summary names a key")
	}

	// The next summary counts from the last one.
	clock = clock.Add(RefusalSummaryEvery)
	send(unknown, "/api/v5/orders?store=main", http.StatusUnauthorized)
	lines = strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "total=1 ") || !strings.Contains(lines[1], "NOT_FOUND=1 ") {
		t.Fatalf("second summary wrong:\n%s", logs.String())
	}
}

// The 401s answered from bodies encoded in advance are what the problem
// writer would write: the same headers and body, a request id of their
// own, and the detail of the proxy's own credential sources.
func TestCannedRefusalsMatchTheProblemWriter(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	disabled := false
	off := f.key(keyward.KeyCreate{Name: "Off", Permissions: keyward.Permissions{"orders": "read"}, Enabled: &disabled})
	up, _ := url.Parse("http://upstream.invalid")
	for _, sources := range [][]string{nil, {SourceHeader}} {
		p := f.proxy(ProxyConfig{Upstream: up, Transport: cannedTransport{}, Sources: sources})
		for _, c := range []struct {
			key, code, detail string
			details           map[string]any
		}{
			{key: secret.Generate(secret.KindAPIKey), code: keyward.CodeNotFound},
			{key: off, code: keyward.CodeDisabled},
			{key: "", code: string(keyward.EUnauthenticated), detail: p.noKeyDetail, details: map[string]any{"verify_code": keyward.CodeNotFound}},
		} {
			if c.detail == "" {
				c.detail = Message(&replica.Result{Code: c.code}, nil)
			}
			want := httptest.NewRecorder()
			httpx.WriteProblem(want, problemFor(http.StatusUnauthorized, c.code, c.detail, c.details))
			ids := map[string]bool{}
			for range 2 {
				r := httptest.NewRequest("GET", "/api/v5/orders?store=main", nil)
				if c.key != "" {
					r.Header.Set("X-API-Key", c.key)
				}
				w := httptest.NewRecorder()
				p.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized || w.Body.String() != want.Body.String() {
					t.Fatalf("%s: %d %s, want 401 %s", c.code, w.Code, w.Body, want.Body)
				}
				for _, h := range []string{"Content-Type", "Cache-Control"} {
					if w.Header().Get(h) != want.Header().Get(h) {
						t.Errorf("%s: %s %q, want %q", c.code, h, w.Header().Get(h), want.Header().Get(h))
					}
				}
				if got := w.Header().Get("WWW-Authenticate"); got == "" || got != p.wwwAuth {
					t.Errorf("%s: WWW-Authenticate %q, want %q", c.code, got, p.wwwAuth)
				}
				ids[w.Header().Get(HeaderRequestID)] = true
			}
			if len(ids) != 2 || ids[""] {
				t.Errorf("%s: request ids %v, want two different ones", c.code, ids)
			}
		}
	}
}
