package main

import (
	"strings"
)

const addressesUsage = "client addresses and CIDR ranges the key may be used from, comma-separated, e.g. 203.0.113.7,198.51.100.0/24,2001:db8::/32; empty or \"any\" allows any address"

// addressList reads --allowed-addresses: "" and "any" are an empty list.
func addressList(s string) []string {
	if strings.TrimSpace(s) == "any" {
		return []string{}
	}
	return splitList(s)
}

// addressesText prints an allowlist as "keys get" shows it.
func addressesText(addrs []string) string {
	if len(addrs) == 0 {
		return "any address"
	}
	return strings.Join(addrs, ",")
}
