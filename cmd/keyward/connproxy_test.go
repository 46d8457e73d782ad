package main

import (
	"fmt"
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

// A connection of type keyward checks a key against a real keyward's
// POST /v1/verify: the key's display name and permissions come back, and
// a permission the key lacks is named.
func TestKeywardConnectionChecksARealNode(t *testing.T) {
	n := startNode(t, "--demo", "--data", t.TempDir(), "--outbound-allow", "127.0.0.1", "--outbound-allow-http")
	token := n.adminToken()
	_, secret := createKey(t, n, token, "Integrator")
	in := map[string]any{"type": "keyward", "name": "Staging keyward", "api_url": n.url, "access_token": secret,
		"fields": map[string]string{"store": "main"}, "required_scopes": []string{"orders:read"}}
	status, v := n.call(token, "POST", "/api/v1/connections/verify", in)
	if status != 200 || v["outcome"] != "ok" || v["account"] != "demo-Integrator" || !strings.Contains(fmtAny(v["scopes"]), "orders:read") {
		t.Fatalf("verify: %d %v", status, v)
	}
	in["required_scopes"] = []string{"orders:read", "payments:write"}
	status, v = n.call(token, "POST", "/api/v1/connections/verify", in)
	if status != 200 || v["outcome"] != "insufficient_scope" || fmtAny(v["missing_scopes"]) != "[payments:write]" {
		t.Fatalf("a missing permission: %d %v", status, v)
	}
	in["access_token"] = "kwk_not_a_key"
	in["required_scopes"] = nil
	if status, v = n.call(token, "POST", "/api/v1/connections/verify", in); v["outcome"] != "invalid_credentials" {
		t.Fatalf("an unknown key: %d %v", status, v)
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }
