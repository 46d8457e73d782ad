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
