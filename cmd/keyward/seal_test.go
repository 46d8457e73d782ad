package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// testMasterKey is the master key test nodes share.
const testMasterKey = "test:0707070707070707070707070707070707070707070707070707070707070707"

const otherMasterKey = "other:0808080808080808080808080808080808080808080808080808080808080808"

// openMain opens (without serving) a node over db with the master key
// environment given, and returns its Open error.
func openMain(t *testing.T, masterKey string, args ...string) (*Main, string, error) {
	t.Helper()
	t.Setenv("KEYWARD_MASTER_KEY", masterKey)
	t.Setenv("KEYWARD_MASTER_KEY_FILE", "")
	return openMainEnv(t, args...)
}

// dbArgs returns the flags naming a fresh database of engine e.
func dbArgs(t *testing.T, e store.Engine) []string {
	if e == store.SQLite {
		return []string{"--data", t.TempDir()}
	}
	storetest.SkipWithoutPostgres(t)
	return []string{"--data", t.TempDir(), "--database", storetest.NewSchemaURL(t)}
}

// A node started with another master key than the one its database's
// secrets are sealed with refuses to start, naming the problem and not
// the key; one with no key refuses too once anything is sealed.
func TestWrongMasterKeyFailsAtStart(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			m, _, err := openMain(t, testMasterKey, args...)
			if err != nil {
				t.Fatal(err)
			}
			m.Close()
			_, _, err = openMain(t, otherMasterKey, args...)
			if err == nil || !strings.Contains(err.Error(), "master key cannot open") {
				t.Fatalf("wrong key: err = %v", err)
			}
			if strings.Contains(err.Error(), "0808") || strings.Contains(err.Error(), "0707") {
				t.Fatal("the error shows a key")
			}
			if _, _, err = openMain(t, "", args...); err == nil || !strings.Contains(err.Error(), "no master key is set") {
				t.Fatalf("no key: err = %v", err)
			}
			if _, _, err := openMain(t, "not-a-key-0808", args...); err == nil || strings.Contains(err.Error(), "not-a-key-0808") {
				t.Fatalf("malformed key: err = %v", err)
			}
		})
	}
}

// A demo node with no master key generates one into its data folder, with
// a warning, and uses it again on the next start.
func TestDemoGeneratesAMasterKeyIntoTheDataFolder(t *testing.T) {
	dir := t.TempDir()
	m, out, err := openMain(t, "", "--demo", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	// Its secrets need that key: a start without --demo and without a key
	// is refused, and says where the demo key is.
	if _, _, err := openMain(t, "", "--data", dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "master.key")) {
		t.Fatalf("start without --demo: err = %v", err)
	}
	if !strings.Contains(out, "WARNING: no master key set") {
		t.Fatalf("no warning in %q", out)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, %v", fi, err)
	}
	m, out, err = openMain(t, "", "--demo", "--data", dir)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	if strings.Contains(out, "WARNING") {
		t.Fatal("the second start generated another key")
	}
	m.Close()
}

// A webhook's signing secret survives a rotation of the master key and a
// restart with only the new key: "keyward secrets rotate" rewraps it, and
// the restarted node opens the very secret shown at creation (and the
// identity key, sealed too).
func TestRotationThenRestartStillOpensWebhookSecrets(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
			n := startNode(t, append(args, "--demo")...)
			tok := n.adminToken()
			status, body := n.call(tok, "POST", "/api/v1/webhooks", map[string]any{"store": "main", "url": "https://hooks.example.com/in", "events": []string{"*"}})
			id, _ := body["id"].(string)
			secret, _ := body["secret"].(string)
			if status != 201 || !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("create webhook: %d %v", status, body)
			}
			n.shut()

			t.Setenv("KEYWARD_MASTER_KEY", otherMasterKey+","+testMasterKey)
			var out bytes.Buffer
			if err := run(context.Background(), append([]string{"secrets", "rotate", "--batch", "1"}, args...), &out, &out); err != nil {
				t.Fatalf("rotate: %v\n%s", err, out.String())
			}
			// The canary, the webhook's secret and the identity key.
			if !strings.Contains(out.String(), "3 of 3 checked, 3 rewrapped") {
				t.Fatalf("rotate printed %q", out.String())
			}

			m, _, err := openMain(t, otherMasterKey, append(args, "--outbound-allow", "127.0.0.0/8", "--outbound-allow-http")...)
			if err != nil {
				t.Fatalf("restart with the new key alone: %v", err)
			}
			ten, err := m.Service.TenantByDomain(context.Background(), service.DemoDomain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Service.WebhookSigningSecrets(context.Background(), ten.ID, id)
			if err != nil || len(got) != 1 || got[0] != secret {
				t.Fatalf("after rotation and restart: %d secrets, %v", len(got), err)
			}
			// And it still signs: a receiver holding the secret shown at
			// creation accepts what the restarted node sends.
			arrived := make(chan error, 1)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				wh, _ := standardwebhooks.NewWebhook(secret)
				arrived <- wh.Verify(body, r.Header)
			}))
			defer rcv.Close()
			ctx := keyward.WithActor(context.Background(), service.SystemActor(ten, "test"))
			url := rcv.URL + "/in"
			if _, err := m.Service.UpdateWebhook(ctx, id, keyward.WebhookUpdate{URL: &url}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Service.SendTestEvent(ctx, id); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-arrived:
				if err != nil {
					t.Fatalf("the receiver refuses the delivery's signature: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no delivery within 10s of the test event")
			}
		})
	}
}

// The master key may come from a file, named by KEYWARD_MASTER_KEY_FILE or
// --master-key-file; the flag wins over the environment.
func TestMasterKeyFromAFile(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "good.key"), filepath.Join(dir, "other.key")
	os.WriteFile(good, []byte(testMasterKey+"\n"), 0o600)
	os.WriteFile(other, []byte(otherMasterKey+"\n"), 0o600)
	args := []string{"--data", filepath.Join(dir, "data")}
	t.Setenv("KEYWARD_MASTER_KEY", "")
	t.Setenv("KEYWARD_MASTER_KEY_FILE", good)
	m, _, err := openMainEnv(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Service.Keyring() == nil || m.Service.Keyring().Primary() != "test" {
		t.Fatal("the key file was not read")
	}
	m.Close()
	if _, _, err := openMainEnv(t, append(args, "--master-key-file", other)...); err == nil || !strings.Contains(err.Error(), "master key cannot open") {
		t.Fatalf("--master-key-file with another key: err = %v", err)
	}
}

// openMainEnv is openMain with the master key environment left as it is.
func openMainEnv(t *testing.T, args ...string) (*Main, string, error) {
	t.Helper()
	t.Setenv("KEYWARD_OPERATOR_TOKEN", "")
	var out bytes.Buffer
	m := NewMain(&out)
	if err := m.Parse(append([]string{"--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--log-level", "error"}, args...)); err != nil {
		return nil, out.String(), err
	}
	err := m.Open(context.Background())
	t.Cleanup(func() { m.Close() })
	return m, out.String(), err
}

// A node whose master key is lost starts with --master-key-lost: API keys
// keep verifying, and what is sealed answers 503 instead of the node not
// starting at all.
func TestStartWithTheMasterKeyLost(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			n := startNode(t, append([]string{"--demo"}, args...)...)
			tok := n.adminToken()
			_, secret := createKey(t, n, tok, "KeepsWorking")
			n.shut()

			if _, _, err := openMain(t, "", args...); !errors.Is(err, service.ErrNoMasterKey) {
				t.Fatalf("start without the master key: %v", err)
			}
			if _, _, err := openMain(t, testMasterKey, append([]string{"--master-key-lost"}, args...)...); err == nil || !strings.Contains(err.Error(), "--master-key-lost starts without a master key") {
				t.Fatalf("--master-key-lost with a key: %v", err)
			}
			t.Setenv("KEYWARD_MASTER_KEY", "")
			t.Setenv("KEYWARD_IDENTITY_KEY", strings.Repeat("k", 32))
			lost := startNodeEnv(t, append([]string{"--master-key-lost"}, args...)...)
			if got := lost.verify(secret); got != "VALID" {
				t.Fatalf("an API key on a node without its master key: %s", got)
			}
			status, p := lost.call(tok, "POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/in", "events": []string{"key.*"}})
			if status != 503 {
				t.Fatalf("creating a webhook endpoint without the master key: %d %v", status, p)
			}
		})
	}
}
