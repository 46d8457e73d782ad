package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/keywardtest"
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

// tenant admin's sign-in link points where serve is reached with the same
// settings, not at a fixed port: KEYWARD_PUBLIC_URL (--public-url), or
// else KEYWARD_ADDR (--addr), and the link opens on that node.
func TestTenantAdminLinkPointsAtTheNode(t *testing.T) {
	dir := t.TempDir()
	addr := keywardtest.FreeAddr(t)
	t.Setenv("KEYWARD_PUBLIC_URL", "")
	t.Setenv("KEYWARD_ADDR", addr)
	cli := func(args ...string) (string, error) { return cliRun(t, append(args, "--data", dir)...) }
	if out, err := cli("tenant", "create", "--domain", "shop"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	linkRE := regexp.MustCompile(`(\S+)/signin/link/\?token=kwl_[0-9A-Z]+`)
	link := func(want string, args ...string) string {
		t.Helper()
		out, err := cli(append([]string{"tenant", "admin", "--tenant", "shop", "--email", "owner@shop.test"}, args...)...)
		m := linkRE.FindStringSubmatch(out)
		if err != nil || m == nil || m[1] != want {
			t.Fatalf("%v: %v, want a link on %s:\n%s", args, err, want, out)
		}
		return m[0]
	}
	link("http://localhost:9000", "--addr", "0.0.0.0:9000")
	link("https://keys.example.com", "--public-url", "https://keys.example.com/")
	t.Setenv("KEYWARD_PUBLIC_URL", "https://keys.example.com")
	link("https://keys.example.com")
	if out, err := cli("tenant", "admin", "--tenant", "shop", "--email", "owner@shop.test", "--public-url", "keys.example.com"); err == nil {
		t.Fatalf("a public URL without a scheme was taken:\n%s", out)
	}
	t.Setenv("KEYWARD_PUBLIC_URL", "")
	url := link("http://" + addr)

	startNode(t, "--data", dir, "--addr", addr)
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "password") {
		t.Fatalf("the link answers %d:\n%s", res.StatusCode, body)
	}
}
