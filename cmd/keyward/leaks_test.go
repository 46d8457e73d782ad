package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/storetest"
)

// leakSigner signs leak reports as a scanning partner does.
type leakSigner struct {
	id  string
	key *ecdsa.PrivateKey
}

// newLeakSigner makes a P-256 key pair and writes its public key to a
// keys file in the format --leak-report-keys reads.
func newLeakSigner(t *testing.T) (*leakSigner, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": "test-key-1", "key": string(pub), "is_current": true}}})
	path := filepath.Join(t.TempDir(), "leak-keys.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &leakSigner{id: "test-key-1", key: k}, path
}

func (s *leakSigner) sign(body []byte) []byte {
	h := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, h[:])
	if err != nil {
		panic(err)
	}
	return sig
}

// report posts body to /v1/leaks with the signature sig (nil: none).
func report(t *testing.T, n *node, id string, sig, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.url+"/v1/leaks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != nil {
		req.Header.Set("Github-Public-Key-Identifier", id)
		req.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestLeakReportDisablesTheKeyOnEveryNode: two nodes on one database; a
// signed report of a live key, sent to node A, disables the key on node
// B within a second and delivers key.leaked with where it was found.
// Unsigned reports, a wrong key id and every byte of the signature changed
// are refused and change nothing; a replayed report changes nothing more.
func TestLeakReportDisablesTheKeyOnEveryNode(t *testing.T) {
	signer, keysFile := newLeakSigner(t)
	var mu sync.Mutex
	var leaked []map[string]any
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e map[string]any
		json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		defer mu.Unlock()
		if e["type"] == "key.leaked" {
			leaked = append(leaked, e)
		}
	}))
	defer rcv.Close()
	url := storetest.NewSchemaURL(t)
	args := []string{"--database", url, "--leak-report-keys", keysFile, "--outbound-allow", "127.0.0.0/8", "--outbound-allow-http"}
	a := startNode(t, append([]string{"--demo"}, args...)...)
	b := startNode(t, args...)
	tok := a.adminToken()
	if status, ep := a.call(tok, "POST", "/api/v1/webhooks", map[string]any{"url": rcv.URL + "/hook", "events": []string{"key.leaked"}}); status != 201 {
		t.Fatalf("create endpoint: %d %v", status, ep)
	}
	id, key := createKey(t, a, tok, "Leaky")
	waitFor(t, 5*time.Second, "VALID", func() string { return b.verify(key) })

	body, _ := json.Marshal([]map[string]string{{"token": key, "type": "keyward_api_key", "url": "https://github.com/acme/shop/blob/abc/config.yml", "source": "content"}})
	sig := signer.sign(body)

	// Refused, and nothing changes: no signature, an unknown key id, a
	// signature of another body, and every byte of the signature changed.
	refused := map[string]func() (int, string){
		"unsigned":    func() (int, string) { return report(t, a, "", nil, body) },
		"unknown id":  func() (int, string) { return report(t, a, "other", sig, body) },
		"other body":  func() (int, string) { return report(t, a, signer.id, signer.sign([]byte("[]")), body) },
		"not base64!": func() (int, string) { return report(t, a, signer.id, []byte("!"), body) },
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 0x01
		if status, out := report(t, a, signer.id, bad, body); status != 401 || strings.Contains(out, "positive") {
			t.Fatalf("signature with byte %d changed: %d %s", i, status, out)
		}
	}
	for name, send := range refused {
		if status, out := send(); status != 401 || strings.Contains(out, "positive") {
			t.Errorf("%s: %d %s, want 401 and no answer per token", name, status, out)
		}
	}
	if got := b.verify(key); got != "VALID" {
		t.Fatalf("after refused reports the key is %s", got)
	}

	status, answer := report(t, a, signer.id, sig, body)
	if status != 200 || !strings.Contains(answer, `"label": "true_positive"`) || strings.Contains(answer, key) {
		t.Fatalf("signed report: %d %s", status, answer)
	}
	start := time.Now()
	waitFor(t, time.Second, "DISABLED", func() string { return b.verify(key) })
	t.Logf("the leaked key was refused on node B %s after the report", time.Since(start))

	waitFor(t, 10*time.Second, "1", func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Repeat("1", len(leaked))
	})
	mu.Lock()
	data, _ := leaked[0]["data"].(map[string]any)
	mu.Unlock()
	where, _ := data["leak"].(map[string]any)
	if data["hint"] != secret.Hint(key) || data["action"] != "disabled" || where["url"] != "https://github.com/acme/shop/blob/abc/config.yml" || where["source"] != "content" {
		t.Errorf("key.leaked data: %v", data)
	}

	// A replay: the same answer, and nothing changes (the key, enabled
	// again by its administrator, stays enabled).
	if status, _ := a.call(tok, "PATCH", "/api/v1/keys/"+id, map[string]any{"enabled": true}); status != 200 {
		t.Fatalf("enable: %d", status)
	}
	if status, again := report(t, b, signer.id, sig, body); status != 200 || again != answer {
		t.Fatalf("replay: %d %s, want %s", status, again, answer)
	}
	if got := a.verify(key); got != "VALID" {
		t.Errorf("after a replay the key is %s", got)
	}
}
