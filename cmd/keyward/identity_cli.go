package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
)

// runIdentityCLI runs the identity key commands; it reports false for a
// command that is not one of them.
func runIdentityCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer) (bool, error) {
	switch cmd {
	case "identity keys", "identity rotate", "identity activate", "identity retire":
	default:
		return false, nil
	}
	c := newCLI(cmd, out, false)
	defer c.close()
	c.masterKeyFlag(errOut)
	asJSON := false
	if cmd == "identity keys" {
		c.fs.BoolVar(&asJSON, "json", false, `print {"keys":[{"kid","state","secret",…}]}, the secrets included, for upstreams to load`)
	}
	if err := c.open(ctx, args); err != nil {
		return true, err
	}
	svc := service.New(c.db, catalog.Builtin(), service.WithKeyring(c.cfg.Keyring))
	if err := svc.CheckSealing(ctx); err != nil {
		return true, err
	}
	switch cmd {
	case "identity keys":
		keys, err := svc.IdentityKeys(ctx)
		if err != nil {
			return true, err
		}
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return true, enc.Encode(map[string]any{"keys": keys})
		}
		printIdentityKeys(out, keys)
	case "identity rotate":
		k, err := svc.RotateIdentityKey(ctx)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "identity key %s created; no node signs with it yet.\nsecret: %s\n"+
			"Give it to every upstream beside the current key (keyward identity keys --json lists both), "+
			"then run \"keyward identity activate\".\n", k.ID, k.Secret)
	case "identity activate":
		k, err := svc.ActivateIdentityKey(ctx)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "identity key %s now signs on every node (each takes it up from the change log).\n"+
			"The key it replaced still verifies at the upstreams that hold it; once no request signed with it can be in flight, "+
			"run \"keyward identity retire\" and remove it from the upstreams.\n", k.ID)
	case "identity retire":
		gone, err := svc.RetireIdentityKeys(ctx)
		if err != nil {
			return true, err
		}
		for _, id := range gone {
			fmt.Fprintf(out, "identity key %s retired; remove it from the upstreams.\n", id)
		}
	}
	return true, nil
}

func printIdentityKeys(out io.Writer, keys []service.IdentityKey) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "kid\tstate\tcreated\tsigning since")
	for _, k := range keys {
		since := "-"
		if k.ActivatedAt != nil {
			since = k.ActivatedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.State, k.CreatedAt.Format(time.RFC3339), since)
	}
	tw.Flush()
	fmt.Fprintln(out, "The secrets are printed with --json.")
}
