package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keywardtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
	"github.com/keyward/keyward/internal/webhook"
)

// Data made by the previous release's binary is opened by this one: its
// keys verify, a back-office session and the merchant's password still
// sign in, a webhook's sealed secret still signs, and the audit chain
// still verifies. .ci/previous-release builds that binary from its tag.
func TestUpgradeFromThePreviousRelease(t *testing.T) {
	old := os.Getenv("KEYWARD_PREVIOUS_BINARY")
	if old == "" {
		if os.Getenv("KEYWARD_TEST_REQUIRE_UPGRADE") != "" {
			t.Fatal("KEYWARD_PREVIOUS_BINARY is not set: .ci/previous-release builds it")
		}
		t.Skip("KEYWARD_PREVIOUS_BINARY is not set; .ci/previous-release builds the previous release's keyward for this test")
	}
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			upgradeFrom(t, old, dbArgs(t, e))
		})
	}
}

// received is a loopback webhook receiver's record.
type received struct {
	mu   sync.Mutex
	msgs []*http.Request
	body [][]byte
}

func upgradeFrom(t *testing.T, old string, db []string) {
	t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	rec := &received{}
	receiver := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.msgs, rec.body = append(rec.msgs, r), append(rec.body, b)
		rec.mu.Unlock()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go receiver.Serve(ln)
	defer receiver.Close()
	outbound := []string{"--outbound-allow", "127.0.0.1", "--outbound-allow-http"}

	// The previous release makes the data.
	addr := keywardtest.FreeAddr(t)
	args := append([]string{"serve", "--demo", "--addr", addr, "--gateway-addr", keywardtest.FreeAddr(t), "--log-level", "error"}, append(outbound, db...)...)
	cmd := exec.Command(old, args...)
	var printed bytes.Buffer
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && !strings.Contains(printed.String(), "listening on") {
		printed.WriteString(lines.Text() + "\n")
	}
	go io.Copy(io.Discard, stdout)
	base := "http://" + addr
	prev := &node{t: t, url: base, out: &printed}
	token := prev.adminToken()
	_, secret := createKey(t, prev, token, "Upgraded")
	status, wh := prev.call(token, "POST", "/api/v1/webhooks", map[string]any{"url": "http://" + ln.Addr().String() + "/hook", "events": []string{"key.*"}})
	if status != 201 {
		t.Fatalf("webhook create on the previous release: %d %v", status, wh)
	}
	hookID, hookSecret := wh["id"].(string), wh["secret"].(string)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: noRedirects}
	session := signInCookie(t, prev, hc, base)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// This release opens it, migrating it when the previous release's
	// schema is older, and saying so.
	left, err := store.Connect(context.Background(), argAfter(db, "--database"), argAfter(db, "--data"))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := left.Schema(context.Background())
	left.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, append(append([]string{"--demo"}, outbound...), db...)...)
	said := regexp.MustCompile(`migrated the \w+ database from schema \d+ to \d+`).MatchString(n.out.String())
	if want := len(schema.Pending) > 0; said != want {
		t.Errorf("the previous release left schema %d of %d; migration printed %v, want %v:\n%s", schema.Current, schema.Latest, said, want, n.out.String())
	}
	if got := n.verify(secret); got != "VALID" {
		t.Errorf("a key made by the previous release: %s", got)
	}
	req, _ := http.NewRequest("GET", n.url+"/settings/integrations/api-management", nil)
	req.AddCookie(session)
	res, err := (&http.Client{CheckRedirect: noRedirects}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("a back-office session from the previous release: %d", res.StatusCode)
	}
	m := regexp.MustCompile(`merchant:\s+(\S+) / (\S+)`).FindStringSubmatch(printed.String())
	if m == nil {
		t.Fatalf("the previous release printed no merchant sign-in:\n%s", printed.String())
	}
	res, err = hc.PostForm(n.url+"/signin", url.Values{"email": {m[1]}, "password": {m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("the merchant's password from the previous release: %d", res.StatusCode)
	}
	if status, out := n.call(token, "POST", "/api/v1/webhooks/"+hookID+"/test", nil); status >= 300 {
		t.Fatalf("webhook test: %d %v", status, out)
	}
	var got *http.Request
	var body []byte
	waitFor(t, 10*time.Second, "1", func() string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.msgs) > 0 {
			got, body = rec.msgs[0], rec.body[0]
		}
		return strconv.Itoa(min(len(rec.msgs), 1))
	})
	ts, _ := strconv.ParseInt(got.Header.Get("Webhook-Timestamp"), 10, 64)
	want, err := webhook.Sign([]string{hookSecret}, got.Header.Get("Webhook-Id"), time.Unix(ts, 0), body)
	if err != nil || !strings.Contains(got.Header.Get("Webhook-Signature"), strings.TrimPrefix(want, "v1,")) {
		t.Errorf("the delivery is not signed with the secret the previous release sealed: %q", got.Header.Get("Webhook-Signature"))
	}
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"audit", "verify"}, db...), &out, &out); err != nil {
		t.Errorf("audit verify after the upgrade: %v\n%s", err, out.String())
	}
}
