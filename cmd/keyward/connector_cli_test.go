package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/connector/connectortest"
	"github.com/keyward/keyward/internal/seal"
)

// The CLI creates, lists, verifies, reveals and deletes a connection; the
// secret comes from a file, is checked against the system, and is shown
// only by reveal.
func TestConnectionsCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KEYWARD_MASTER_KEY", seal.GenerateKey())
	t.Setenv("KEYWARD_OUTBOUND_ALLOW", "127.0.0.1")
	t.Setenv("KEYWARD_OUTBOUND_ALLOW_HTTP", "true")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append(args, "--data", dir), &out, &out)
		return out.String(), err
	}
	if out, err := cli("tenant", "create", "--domain", "shop"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f := connectortest.New(t, "mirakl")
	secrets := filepath.Join(dir, "mirakl.secrets")
	os.WriteFile(secrets, []byte("# the shop API key\naccess_token="+connectortest.Token+"\n"), 0o600)

	out, err := cli("connections", "create", "--tenant", "shop", "--type", "mirakl", "--name", "Marketplace", "--api-url", f.URL, "--secrets-file", secrets)
	if err != nil || !regexp.MustCompile(`state\s+verified`).MatchString(out) || !strings.Contains(out, "Fake Seller") || strings.Contains(out, connectortest.Token) {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`con_[a-z0-9]+`).FindString(out)

	os.WriteFile(secrets, []byte("access_token=wrong\n"), 0o600)
	if out, err := cli("connections", "create", "--tenant", "shop", "--type", "mirakl", "--name", "Bad", "--api-url", f.URL, "--secrets-file", secrets); err == nil || !strings.Contains(err.Error(), "invalid_credentials") {
		t.Fatalf("a failing create: %v\n%s", err, out)
	}
	out, err = cli("connections", "list", "--tenant", "shop")
	if err != nil || !strings.Contains(out, "Marketplace") || strings.Contains(out, "Bad") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = cli("connections", "verify", "--tenant", "shop", "--id", id)
	if err != nil || !strings.Contains(out, "kept from an earlier check") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = cli("connections", "reveal", "--tenant", "shop", "--id", id)
	if err != nil || strings.TrimSpace(out) != connectortest.Token {
		t.Fatalf("reveal: %v\n%s", err, out)
	}
	out, err = cli("connections", "update", "--tenant", "shop", "--id", id, "--name", "Main marketplace", "--disabled")
	if err != nil || !strings.Contains(out, "Main marketplace") || !regexp.MustCompile(`enabled\s+false`).MatchString(out) {
		t.Fatalf("update: %v\n%s", err, out)
	}
	if out, err := cli("connections", "delete", "--tenant", "shop", "--id", id); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if out, _ := cli("connections", "list", "--tenant", "shop"); strings.Contains(out, "marketplace") {
		t.Fatalf("after delete:\n%s", out)
	}
	if out, err := cli("connections", "types"); err != nil || !strings.Contains(out, "retailexpress") {
		t.Fatalf("types: %v\n%s", err, out)
	}
}
