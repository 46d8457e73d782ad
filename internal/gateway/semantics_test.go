package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// TestGatewayKeepsHTTPSemantics checks that an allowed request and its
// answer cross the gateway as HTTP says a proxy passes them: hop-by-hop
// headers stay on their hop, trailers arrive, a streamed answer is not held
// back, 1xx answers reach the client, a client that goes away cancels the
// upstream request, and an upstream switching protocols unasked opens no
// tunnel.
func TestGatewayKeepsHTTPSemantics(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	sec := f.key(keyward.KeyCreate{Name: "Semantics", Permissions: keyward.Permissions{"orders": "read"}})
	var (
		mu       sync.Mutex
		handler  http.HandlerFunc
		upHeader http.Header
	)
	up, err := url.Parse(serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		upHeader = r.Header.Clone()
		mu.Unlock()
		h(w, r)
	})))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, f.proxy(ProxyConfig{Upstream: up, Logger: slog.New(slog.DiscardHandler)}))
	upstream := func(h http.HandlerFunc) {
		mu.Lock()
		handler = h
		mu.Unlock()
	}
	seenHeader := func() http.Header {
		mu.Lock()
		defer mu.Unlock()
		return upHeader
	}
	get := func(ctx context.Context) *http.Request {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v5/orders?store=main", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", sec)
		return req
	}

	t.Run("hop-by-hop headers", func(t *testing.T) {
		upstream(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "X-Upstream-Private")
			w.Header().Set("X-Upstream-Private", "1")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("Proxy-Authenticate", "Basic")
			w.Header().Set("X-Kept", "yes")
			io.WriteString(w, "12345")
		})
		req := get(context.Background())
		req.Header.Set("Connection", "X-Private")
		req.Header.Set("X-Private", "1")
		req.Header.Set("Keep-Alive", "timeout=5")
		req.Header.Set("Proxy-Authorization", "Basic dXNlcjpwYXNz")
		req.Header.Set("TE", "trailers")
		req.Header.Set("X-Kept", "yes")
		r := do(t, req)
		if r.status != 200 || r.body != "12345" {
			t.Fatalf("status %d: %q", r.status, r.body)
		}
		h := seenHeader()
		for _, name := range []string{"X-Private", "Keep-Alive", "Proxy-Authorization"} {
			if h[name] != nil {
				t.Errorf("the upstream got the hop-by-hop %s: %q", name, h[name])
			}
		}
		if strings.Contains(strings.Join(h["Connection"], ","), "X-Private") {
			t.Errorf("the upstream got Connection %q", h["Connection"])
		}
		if h.Get("Te") != "trailers" || h.Get("X-Kept") != "yes" {
			t.Errorf("the upstream lost TE: trailers or an end-to-end header: %v", h)
		}
		for _, name := range []string{"X-Upstream-Private", "Keep-Alive", "Proxy-Authenticate"} {
			if r.header[name] != nil {
				t.Errorf("the client got the upstream's hop-by-hop %s: %q", name, r.header[name])
			}
		}
		if r.header.Get("X-Kept") != "yes" || r.header.Get("Content-Length") != "5" {
			t.Errorf("the client lost an end-to-end header or the length: %v", r.header)
		}
	})

	t.Run("trailers", func(t *testing.T) {
		upstream(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "c0ffee")
			w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
		})
		res, err := http.DefaultClient.Do(get(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(body) != "body" {
			t.Fatalf("body %q: %v", body, err)
		}
		if res.Trailer.Get("X-Checksum") != "c0ffee" || res.Trailer.Get("X-Late") != "undeclared" {
			t.Fatalf("trailers %v", res.Trailer)
		}
	})

	t.Run("a streamed answer is not held back", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		upstream(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			io.WriteString(w, "second\n")
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := http.DefaultClient.Do(get(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		line, err := bufio.NewReader(res.Body).ReadString('\n')
		if err != nil || line != "first\n" {
			t.Fatalf("the first part did not arrive before the upstream finished: %q %v", line, err)
		}
	})

	t.Run("1xx answers", func(t *testing.T) {
		upstream(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "final")
		})
		var got []int
		var link string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, code)
			link = h.Get("Link")
			return nil
		}}
		r := do(t, get(httptrace.WithClientTrace(context.Background(), trace)))
		if r.status != 200 || r.body != "final" {
			t.Fatalf("status %d: %q", r.status, r.body)
		}
		if len(got) != 1 || got[0] != http.StatusEarlyHints || !strings.Contains(link, "style.css") {
			t.Fatalf("1xx answers %v, Link %q", got, link)
		}
		if r.header.Get("Link") != "" || r.header.Get(HeaderRequestID) == "" {
			t.Fatalf("the 103's header leaked into the final answer, or the request id was lost: %v", r.header)
		}
	})

	t.Run("a client going away cancels the upstream request", func(t *testing.T) {
		arrived, cancelled := make(chan struct{}), make(chan struct{})
		upstream(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-time.After(10 * time.Second):
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(get(ctx))
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("the request did not reach the upstream")
		}
		cancel()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream request was not cancelled when the client went away")
		}
		<-done
	})

	t.Run("an upstream switching protocols unasked opens no tunnel", func(t *testing.T) {
		upstream(func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			brw.Flush()
			time.Sleep(100 * time.Millisecond)
		})
		r := do(t, get(context.Background()))
		if r.status != http.StatusBadGateway || r.problem == nil || r.problem.Code != codeBadGateway {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}
