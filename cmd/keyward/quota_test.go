package main

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/internal/storetest"
)

// quotaNodes starts three nodes on one PostgreSQL database whose counts
// are written only when the test flushes them, and a key of node A with a
// budget of 30 requests a day that every node knows.
func quotaNodes(t *testing.T, extra ...string) (nodes []*node, tok, id, secret string) {
	storetest.SkipWithoutPostgres(t)
	url := storetest.NewSchemaURL(t)
	args := append([]string{"--database", url, "--usage-flush", "1h"}, extra...)
	a := startNode(t, append([]string{"--demo"}, args...)...)
	nodes = []*node{a, startNode(t, args...), startNode(t, args...)}
	tok = a.adminToken()
	status, k := a.call(tok, "POST", "/api/v1/keys", map[string]any{"name": "Daily", "permissions": map[string]string{"orders": "read"},
		"quota": map[string]any{"limit": 30, "period": "day"}})
	if status != 201 {
		t.Fatalf("create key: %d %v", status, k)
	}
	id, secret = k["id"].(string), k["secrets"].([]any)[0].(map[string]any)["secret"].(string)
	for _, n := range nodes {
		waitFor(t, 5*time.Second, "VALID", func() string { return n.quotaVerify(secret, true) })
	}
	return nodes, tok, id, secret
}

// quotaVerify asks the node about one request of the key, taking it from
// the budget unless dry.
func (n *node) quotaVerify(secret string, dry bool) string {
	_, out := n.call("", "POST", "/v1/verify", map[string]any{"key": secret, "method": "orders.list", "store": "main", "dry_run": dry})
	code, _ := out["code"].(string)
	return code
}

// Three nodes without Redis: no node refuses a request the budget covers;
// a node allows more than the budget by at most what the other nodes
// allowed that it has not read yet, and once every node has flushed twice
// each refuses, and the key shows what was used.
func TestQuotaAcrossThreeNodes(t *testing.T) {
	nodes, tok, id, secret := quotaNodes(t)
	for _, n := range nodes {
		for i := range 10 {
			if got := n.quotaVerify(secret, false); got != "VALID" {
				t.Fatalf("request %d on a node, 30 in the budget, 30 in all: %s", i+1, got)
			}
		}
	}
	// Node A knows only its own 10: the 20 the others allowed are the
	// tolerance, and it allows exactly that many more.
	extra := 0
	for nodes[0].quotaVerify(secret, false) == "VALID" {
		if extra++; extra > 20 {
			t.Fatal("node A allowed more than the requests it had not read")
		}
	}
	if extra != 20 {
		t.Fatalf("node A allowed %d past the budget, want the 20 the other nodes allowed", extra)
	}
	ctx := context.Background()
	for range 2 {
		for _, n := range nodes {
			if err := n.m.Quota.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range nodes {
		if got := n.quotaVerify(secret, false); got != "QUOTA_EXCEEDED" {
			t.Fatalf("node %d after the flushes: %s", i, got)
		}
	}
	status, k := nodes[1].call(tok, "GET", "/api/v1/keys/"+id, nil)
	u, _ := k["quota_usage"].(map[string]any)
	if status != 200 || u["used"] != 50.0 || u["remaining"] != 0.0 || u["reset_at"] == nil {
		t.Fatalf("GET key: %d %v", status, k["quota_usage"])
	}
}

// Three nodes sharing Redis hold the budget exactly: 30 requests pass in
// all, whichever nodes they reach, and the 31st is refused by every node.
func TestQuotaAcrossThreeNodesWithRedis(t *testing.T) {
	redistest.SkipWithoutRedis(t)
	nodes, _, _, secret := quotaNodes(t, "--redis", redistest.Addr())
	passed := 0
	for i := range 45 {
		if nodes[i%3].quotaVerify(secret, false) == "VALID" {
			passed++
		}
	}
	if passed != 30 {
		t.Fatalf("%d of 45 requests passed across three nodes, want the budget of 30", passed)
	}
	for i, n := range nodes {
		if got := n.quotaVerify(secret, false); got != "QUOTA_EXCEEDED" {
			t.Fatalf("node %d: %s", i, got)
		}
	}
}
