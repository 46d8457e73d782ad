package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward"
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

// runKeysUpdate runs "keyward keys update": settings left out keep their
// value.
func runKeysUpdate(ctx context.Context, args []string, out io.Writer) error {
	c := newCLI("keys update", out, true)
	defer c.close()
	id := c.fs.String("id", "", "the key's id (required)")
	addrs := c.fs.String("allowed-addresses", "", addressesUsage)
	if err := c.open(ctx, args, "id"); err != nil {
		return err
	}
	var in keyward.KeyUpdate
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == "allowed-addresses" {
			list := addressList(*addrs)
			in.AllowedAddresses = &list
		}
	})
	if in.AllowedAddresses == nil {
		return fmt.Errorf("give a setting to change: --allowed-addresses")
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return err
	}
	k, err := c.svc.UpdateKey(tctx, *id, in)
	if err != nil {
		return err
	}
	printKey(out, k)
	return nil
}
