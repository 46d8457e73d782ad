package gateway

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// TestConcurrentForwardsKeepTheirOwnIdentity sends many requests at once
// through the gateway, each with one of several keys, to an upstream that
// checks every request's identity headers against the key it was sent
// with. The outbound header maps are pooled, so a map handed to the next
// request while the Transport still writes the last one would show here
// as another request's identity, a bad signature, or a race under -race.
// Some requests carry a large body that the upstream answers before
// reading, so that the gateway passes the answer on while the Transport
// is still writing the request; some go to an upstream that is not there.
func TestConcurrentForwardsKeepTheirOwnIdentity(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	const keys = 12
	secrets := make([]string, keys)
	want := make([]string, keys) // key id by key number
	list, ok := f.Rep.Catalog().Method("orders.list")
	if !ok {
		t.Fatal("no orders.list")
	}
	for i := range secrets {
		secrets[i] = f.key(keyward.KeyCreate{Name: fmt.Sprintf("Key-%d", i), Permissions: keyward.Permissions{"orders": "write"}})
		res := f.Rep.Verify(secrets[i], list, "main")
		if res.Code != keyward.CodeValid {
			t.Fatalf("key %d: %s", i, res.Code)
		}
		want[i] = res.Cred.KeyID
	}
	verifier, err := identity.NewVerifier(testIdentityKey, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var checked, wrong atomic.Int64
	var mu sync.Mutex
	var first string
	fail := func(format string, args ...any) {
		wrong.Add(1)
		mu.Lock()
		if first == "" {
			first = fmt.Sprintf(format, args...)
		}
		mu.Unlock()
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("k"))
		if err != nil || n < 0 || n >= keys {
			fail("request without its key number: %q", r.URL.RawQuery)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		checked.Add(1)
		if r.Method == http.MethodPost {
			// Answered before the body is read: the signature covers
			// the body, so only the headers are compared.
			if got := r.Header.Values(identity.HeaderKeyID); len(got) != 1 || got[0] != want[n] {
				fail("key %d sent, upstream saw key id %q, want %s", n, got, want[n])
			}
			if got := r.Header.Values(identity.HeaderMethod); len(got) != 1 || got[0] != "orders.create" {
				fail("POST for key %d: method %q", n, got)
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		id, err := verifier.Verify(r)
		if err != nil {
			fail("key %d: %v", n, err)
		} else if id.KeyID != want[n] || id.Method != "orders.list" {
			fail("key %d sent, upstream saw key id %s and method %s, want %s", n, id.KeyID, id.Method, want[n])
		}
		if got := r.Header.Values(identity.HeaderKeyID); len(got) != 1 {
			fail("key %d: %d key id headers", n, len(got))
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(upstream.Close)
	up, _ := url.Parse(upstream.URL)
	gw := serve(t, f.proxy(ProxyConfig{Upstream: up}))
	// A second gateway whose upstream refuses connections: the error
	// path lets go of its header maps too.
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL, _ := url.Parse(gone.URL)
	gone.Close()
	gwGone := serve(t, f.proxy(ProxyConfig{Upstream: goneURL, Logger: slog.New(slog.DiscardHandler)}))

	big := []byte(`{"note":"` + strings.Repeat("x", 256<<10) + `"}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(client.CloseIdleConnections)
	const workers, perWorker = 24, 40
	var wg sync.WaitGroup
	var sent, answered atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				n := (w + i) % keys
				base, method := gw, http.MethodGet
				var body io.Reader
				switch {
				case i%10 == 3:
					method, body = http.MethodPost, bytes.NewReader(big)
				case i%10 == 7:
					base = gwGone
				}
				req, _ := http.NewRequest(method, base+"/api/v5/orders?store=main&k="+strconv.Itoa(n), body)
				req.Header.Set("X-API-Key", secrets[n])
				req.Header.Set("X-Trace-Note", strings.Repeat("n", n)) // headers of different lengths
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				sent.Add(1)
				res, err := client.Do(req)
				if err != nil {
					fail("request %d of worker %d: %v", i, w, err)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				wantStatus := map[string]int{http.MethodGet: 200, http.MethodPost: 201}[method]
				if base == gwGone {
					wantStatus = http.StatusBadGateway
				}
				if res.StatusCode != wantStatus {
					fail("%s for key %d through %s: status %d, want %d", method, n, base, res.StatusCode, wantStatus)
				}
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d of %d requests went wrong; the first: %s", wrong.Load(), sent.Load(), first)
	}
	if want := int64(workers * perWorker * 9 / 10); checked.Load() != want || answered.Load() != sent.Load() {
		t.Fatalf("the upstream checked %d requests, want %d; %d of %d answered", checked.Load(), want, answered.Load(), sent.Load())
	}
}
