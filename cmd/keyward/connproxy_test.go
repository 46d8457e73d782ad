package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/connector/connectortest"
)

// A node with --connector-proxy-addr: a connection made through the REST
// API is used through the proxy, which sends the stored token; without
// the flag there is no proxy.
func TestNodeServesTheOutboundProxy(t *testing.T) {
	f := connectortest.New(t, "recharge")
	n := startNode(t, "--demo", "--data", t.TempDir(), "--connector-proxy-addr", "127.0.0.1:0",
		"--outbound-allow", "127.0.0.1", "--outbound-allow-http")
	if n.m.ConnectorProxyListener == nil {
		t.Fatal("no proxy listener")
	}
	token := n.adminToken()
	status, c := n.call(token, "POST", "/api/v1/connections", map[string]any{"type": "recharge", "name": "Subscriptions",
		"api_url": f.URL, "access_token": connectortest.Token})
	if status != 201 || c["state"] != "verified" {
		t.Fatalf("create: %d %v", status, c)
	}
	req, _ := http.NewRequest("GET", "http://"+n.m.ConnectorProxyListener.Addr().String()+"/connections/"+c["id"].(string)+"/store", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "Fake Subscriptions") {
		t.Fatalf("through the proxy: %d %s", res.StatusCode, b)
	}
	if f.LastHeader.Get("X-Recharge-Access-Token") != connectortest.Token || f.LastHeader.Get("Authorization") != "" {
		t.Fatalf("the system got %v", f.LastHeader)
	}

	off := startNode(t, "--data", t.TempDir())
	if off.m.ConnectorProxyListener != nil {
		t.Fatal("the proxy is on without --connector-proxy-addr")
	}
}
