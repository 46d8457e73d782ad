package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// "keyward handover create" seals a key's secret, read from a file, behind
// a one-time link under the public URL, and prints the link and its code
// once; "handover list" shows the link waiting, and neither the link nor
// the secret.
func TestCLIHandover(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KEYWARD_MASTER_KEY", "0303030303030303030303030303030303030303030303030303030303030303")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append(args, "--data", dir), &out, &out)
		return out.String(), err
	}
	for _, args := range [][]string{
		{"tenant", "create", "--domain", "shop"},
		{"licence", "grant", "--tenant", "shop"},
	} {
		if out, err := cli(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := cli("keys", "create", "--tenant", "shop", "--name", "CPA", "--permissions", "orders=read")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`kwk_[0-9A-Za-z]{49}`).FindString(out)
	id := regexp.MustCompile(`key_[0-9a-z]+`).FindString(out)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = cli("handover", "create", "--tenant", "shop", "--kind", "key_secret", "--subject", id, "--secret-file", file,
		"--ttl", "2h", "--require-code", "--public-url", "https://keys.example.com")
	link := regexp.MustCompile(`https://keys\.example\.com/h/[A-Za-z0-9_-]{43}`).FindString(out)
	if err != nil || link == "" || !regexp.MustCompile(`code \(send it separately from the link\): [A-Z2-9]{4}-[A-Z2-9]{4}`).MatchString(out) {
		t.Fatalf("handover create: %v\n%s", err, out)
	}
	out, err = cli("handover", "list", "--tenant", "shop", "--state", "waiting")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "waiting") || strings.Contains(out, key) || strings.Contains(out, link) {
		t.Fatalf("handover list: %v\n%s", err, out)
	}
	if out, err := cli("handover", "create", "--tenant", "shop", "--kind", "key_secret", "--subject", id, "--secret-file", file, "--ttl", "8d"); err == nil {
		t.Fatalf("a ttl that is no duration was taken:\n%s", out)
	}
}
