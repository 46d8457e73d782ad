package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

const quotaFlagHelp = "a request budget: N/day, N/month or N/total (a one-off credit), e.g. 10000/day; none for no budget"

// parseQuotaFlag reads --quota: N/day, N/month or N/total.
func parseQuotaFlag(s string) (*keyward.Quota, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	limit, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(n), ",", ""), 10, 64)
	period := map[string]string{"day": keyward.QuotaDay, "month": keyward.QuotaMonth, "total": keyward.QuotaNone}[strings.TrimSpace(per)]
	if !ok || err != nil || period == "" {
		return nil, fmt.Errorf("--quota %q: write N/day, N/month or N/total, e.g. 10000/day, or none", s)
	}
	q := &keyward.Quota{Limit: limit, Period: period}
	return q, q.Validate()
}

// printQuota writes a key's quota, and what its period used, for printKey.
func printQuota(w io.Writer, k *keyward.Key) {
	if k.Quota == nil {
		return
	}
	fmt.Fprintf(w, "quota\t%s\n", k.Quota)
	if u := k.QuotaUsage; u != nil {
		line := fmt.Sprintf("%s used, %s remaining", keyward.GroupDigits(u.Used), keyward.GroupDigits(u.Remaining))
		if u.ResetAt != nil {
			line += ", refills " + u.ResetAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "quota usage\t%s\n", line)
	}
}

// runKeysUpdate runs "keyward keys update": only the flags given change.
func runKeysUpdate(ctx context.Context, args []string, out io.Writer) error {
	c := newCLI("keys update", out, true)
	defer c.close()
	id := c.fs.String("id", "", "the key's id (required)")
	name := c.fs.String("name", "", "a new name")
	description := c.fs.String("description", "", "a new description")
	rateLimit := c.fs.Int("rate-limit", 0, "requests per second for this key, 0 = the licence's limit only")
	quota := c.fs.String("quota", "", quotaFlagHelp+"; raising a credit tops it up")
	addrs := c.fs.String("allowed-addresses", "", addressesUsage)
	if err := c.open(ctx, args, "id"); err != nil {
		return err
	}
	var in keyward.KeyUpdate
	var err error
	given := false
	c.fs.Visit(func(f *flag.Flag) {
		given = given || f.Name != "id"
		switch f.Name {
		case "name":
			in.Name = name
		case "description":
			in.Description = description
		case "rate-limit":
			in.RateLimit = rateLimit
		case "quota":
			if *quota == "none" {
				in.RemoveQuota = true
			} else {
				in.Quota, err = parseQuotaFlag(*quota)
			}
		case "allowed-addresses":
			list := addressList(*addrs)
			in.AllowedAddresses = &list
		}
	})
	if err != nil {
		return err
	}
	if !given {
		return fmt.Errorf("give a setting to change: --name, --description, --rate-limit, --quota or --allowed-addresses")
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return err
	}
	k, err := c.svc.UpdateKey(tctx, *id, in)
	if err != nil {
		return err
	}
	if k, err = c.svc.Key(tctx, k.ID); err != nil {
		return err
	}
	printKey(out, k)
	return nil
}
