package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// The CLI's verify decides as /v1/verify and the gateway do: the same
// reading of the request, on the database directly.
func TestCLIVerifyReadsRequestsAsTheGateway(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append(args, "--data", dir), &out, &out)
		return out.String(), err
	}
	for _, args := range [][]string{
		{"tenant", "create", "--domain", "shop"},
		{"store", "create", "--tenant", "shop", "--code", "eu"},
		{"licence", "grant", "--tenant", "shop"},
	} {
		if out, err := cli(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := cli("keys", "create", "--tenant", "shop", "--name", "CPA", "--permissions", "orders=read", "--stores", "eu")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`kwk_[0-9A-Za-z]{49}`).FindString(out)
	for _, c := range []struct{ request, want string }{
		{"GET /api/v5/orders/statuses?store=eu", `"VALID"`},
		{"GET /api/v5/orders/..", `"INVALID_REQUEST"`},
		{"GET /api/v5/orders?store=eu&store=us", `"STORE_AMBIGUOUS"`},
		{"GET /api/v5/orders?store=nowhere", `"STORE_NOT_ALLOWED"`},
	} {
		out, _ := cli("verify", "--key", key, "--request", c.request)
		if !strings.Contains(out, c.want) {
			t.Errorf("verify --request %q: want %s in\n%s", c.request, c.want, out)
		}
	}
}
