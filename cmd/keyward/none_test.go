package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// "none" is what people write for no access; the CLI reads it so, as the
// API and the back office do.
func TestCLIReadsNoneAsNoAccess(t *testing.T) {
	cli := shopCLI(t)
	out, err := cli("keys", "create", "--tenant", "shop", "--name", "CPA", "--permissions", "orders=read,payments=none")
	if err != nil {
		t.Fatalf("keys create with payments=none: %v\n%s", err, out)
	}
	if !strings.Contains(out, "orders=read") || strings.Contains(out, "payments") {
		t.Errorf("payments=none must leave payments out:\n%s", out)
	}
}

// shopCLI runs commands on a data directory of their own, where tenant
// "shop" exists and holds a licence.
func shopCLI(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
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
	return cli
}
