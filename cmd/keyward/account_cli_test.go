package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// Every way back in works from the command line on the database alone:
// the operator's lost token, a tenant with no administrator, a user's lost
// password. A restart never prints the operator token again, only how to
// get a new one.
func TestCLIWaysBackIn(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "--data", dir), &out, &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	first := startNode(t, "--data", dir)
	if !regexp.MustCompile(`Operator token \(shown once; keep it safe\): kwo_`).MatchString(first.out.String()) {
		t.Fatalf("first start prints no operator token:\n%s", first.out.String())
	}
	first.stop()
	first.m.Close()
	again := startNode(t, "--data", dir)
	out := again.out.String()
	if !strings.Contains(out, "keyward operator rotate-token") || strings.Contains(out, "kwo_") {
		t.Fatalf("restart: want the rotate-token hint and no token:\n%s", out)
	}
	again.stop()
	again.m.Close()

	cli("tenant", "create", "--domain", "shop")
	out = cli("tenant", "admin", "--tenant", "shop", "--email", "owner@shop.test", "--url", "https://keys.example.com/")
	if !regexp.MustCompile(`https://keys\.example\.com/signin/link/\?token=kwl_[0-9A-Z]+`).MatchString(out) {
		t.Fatalf("tenant admin prints no sign-in link:\n%s", out)
	}
	out = cli("user", "reset-password", "--tenant", "shop", "--email", "owner@shop.test")
	if !regexp.MustCompile(`temporary password \(shown once; must be changed at the next sign-in\): \S{20}`).MatchString(out) {
		t.Fatalf("user reset-password prints no temporary password:\n%s", out)
	}
	out = cli("operator", "rotate-token")
	if !regexp.MustCompile(`operator token \(shown once\): kwo_\S+`).MatchString(out) {
		t.Fatalf("operator rotate-token prints no token:\n%s", out)
	}
}
