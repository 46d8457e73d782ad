package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/internal/storetest"
)

// process is a keyward node running as a process of its own, so that it
// can be killed as a machine dies: no shutdown, nothing recorded.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	out  *lockedBuffer
	done chan struct{}
}

var listeningRE = regexp.MustCompile(`keyward listening on (http://127\.0\.0\.1:\d+)`)

func buildKeyward(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keyward")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{t: t, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error"}, args...)...)
	p.cmd.Env = append(os.Environ(), "KEYWARD_MASTER_KEY="+testMasterKey, "KEYWARD_OPERATOR_TOKEN=")
	stdout, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write([]byte(sc.Text() + "\n"))
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	select {
	case p.url = <-found:
	case <-p.done:
		t.Fatalf("node exited at start:\n%s", p.out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not start within 60s:\n%s", p.out.String())
	}
	return p
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *process) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

func (p *process) call(token, method, path string, body any) (int, map[string]any) {
	n := &node{t: p.t, url: p.url}
	return n.call(token, method, path, body)
}

// A node killed while it sends deliveries loses none of them: with two
// nodes on PostgreSQL sharing the outbox, every event arrives at least
// once, and an event sent twice carries the same webhook-id and a valid
// signature each time.
func TestKilledNodeLosesNoWebhookDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and runs two nodes as processes")
	}
	dbURL := storetest.NewSchemaURL(t)
	bin := buildKeyward(t)

	var mu sync.Mutex
	received := map[string]int{}
	var verifyErr error
	var secret string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(200 * time.Millisecond) // long enough to be killed mid-delivery
		mu.Lock()
		defer mu.Unlock()
		if wh, err := standardwebhooks.NewWebhook(secret); err == nil {
			if err := wh.Verify(body, r.Header); err != nil && verifyErr == nil {
				verifyErr = fmt.Errorf("delivery %s: %v", r.Header.Get("webhook-id"), err)
			}
		}
		received[r.Header.Get("webhook-id")]++
	}))
	defer rcv.Close()

	args := []string{"--database", dbURL, "--outbound-allow", "127.0.0.0/8", "--outbound-allow-http", "--webhook-lease", "5s"}
	a := startProcess(t, bin, append([]string{"--demo"}, args...)...)
	b := startProcess(t, bin, args...)
	tok := tokenRE.FindStringSubmatch(a.out.String())
	if tok == nil {
		t.Fatalf("no token printed:\n%s", a.out.String())
	}
	status, ep := a.call(tok[1], "POST", "/api/v1/webhooks", map[string]any{"url": rcv.URL + "/hook", "events": []string{"key.created"}})
	if status != 201 {
		t.Fatalf("create endpoint: %d %v", status, ep)
	}
	mu.Lock()
	secret = ep["secret"].(string)
	mu.Unlock()

	const events = 60
	for i := 0; i < events; i++ {
		via := a
		if i%2 == 1 {
			via = b
		}
		if status, out := via.call(tok[1], "POST", "/api/v1/keys", map[string]any{"name": fmt.Sprintf("k%02d", i), "permissions": map[string]string{"orders": "read"}}); status != 201 {
			t.Fatalf("create key %d: %d %v", i, status, out)
		}
	}
	waitForCount := func(want int, within time.Duration) int {
		deadline := time.Now().Add(within)
		for {
			mu.Lock()
			n := len(received)
			mu.Unlock()
			if n >= want || time.Now().After(deadline) {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := waitForCount(5, 30*time.Second); n < 5 {
		t.Fatalf("only %d deliveries arrived before the kill", n)
	}
	a.kill()
	mu.Lock()
	atKill := len(received)
	mu.Unlock()
	a = startProcess(t, bin, args...)
	if n := waitForCount(events, 90*time.Second); n != events {
		t.Fatalf("%d of %d events arrived after the kill and restart", n, events)
	}
	// Nothing left pending or failed, and nothing more arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		_, ds := b.call(tok[1], "GET", "/api/v1/webhooks/"+ep["id"].(string)+"/deliveries?limit=500", nil)
		done := 0
		for _, d := range ds["data"].([]any) {
			if d.(map[string]any)["status"] == "succeeded" {
				done++
			}
		}
		if done == events {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatal("deliveries were not all recorded as succeeded within 30s")
	}
	mu.Lock()
	defer mu.Unlock()
	if verifyErr != nil {
		t.Fatal(verifyErr)
	}
	dupes := 0
	for _, n := range received {
		dupes += n - 1
	}
	t.Logf("%d distinct events delivered; %d arrived before the kill; %d sent twice (same webhook-id, as at-least-once allows)", len(received), atKill, dupes)
}
