package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/service"
)

// An administrator with the CLI registers TranslatorHQ, records the
// request its link makes, lists it, approves it narrowed, and declines
// another; a widened approval is refused.
func TestCLIKeyRequests(t *testing.T) {
	t.Setenv("KEYWARD_MASTER_KEY", testMasterKey)
	dir := t.TempDir()
	startNodeEnv(t, "--demo", "--data", dir).shut()
	do := func(args ...string) string {
		t.Helper()
		out, err := cliRun(t, append(args, "--tenant", service.DemoDomain, "--data", dir)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	out := do("integrator", "create", "--name", "TranslatorHQ", "--callback", "https://thq.example/keyward/keys", "--permissions", "orders=write,customers=read")
	id := regexp.MustCompile(`itg_[a-z0-9]+`).FindString(out)
	secret := regexp.MustCompile(`shown once; give it to the integrator\): (whsec_\S+)`).FindStringSubmatch(out)[1]
	if id == "" || secret == "" {
		t.Fatalf("integrator create printed:\n%s", out)
	}
	link := func(nonce string) string {
		f := map[string]string{"integrator": id, "name": "THQ", "description": "TranslatorHQ", "permissions": "orders:write,customers:read",
			"stores": "all", "delivery": "callback", "issued_at": strconv.FormatInt(time.Now().Unix(), 10), "nonce": nonce}
		sig, err := service.SignLink(secret, f)
		if err != nil {
			t.Fatal(err)
		}
		return "https://keyward.example/key-requests/new?" + service.LinkQuery(f, sig)
	}
	reqID := regexp.MustCompile(`krq_[a-z0-9]+`)
	first := reqID.FindString(do("key-request", "open", "--link", link("cli-nonce-0123456789-a")))
	second := reqID.FindString(do("key-request", "open", "--link", link("cli-nonce-0123456789-b")))
	if out := do("key-request", "list", "--status", "pending"); !strings.Contains(out, first) || !strings.Contains(out, second) {
		t.Fatalf("pending requests:\n%s", out)
	}
	if out, err := cliRun(t, "key-request", "approve", "--id", first, "--permissions", "orders=write,customers=write", "--tenant", service.DemoDomain, "--data", dir); err == nil ||
		!strings.Contains(err.Error(), "never widen") {
		t.Fatalf("a widened approval: %v\n%s", err, out)
	}
	if out := do("key-request", "approve", "--id", first, "--permissions", "orders=read"); !strings.Contains(out, "approved "+first) || !strings.Contains(out, "callback pending") {
		t.Fatalf("approve printed:\n%s", out)
	}
	do("key-request", "decline", "--id", second)
	if out := do("key-request", "list", "--status", "declined"); !strings.Contains(out, second) || strings.Contains(out, first) {
		t.Fatalf("declined requests:\n%s", out)
	}
}
