package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/gateway"
	"github.com/keyward/keyward/internal/replica"
)

// keyFlags are the settings "keys create" takes.
type keyFlags struct {
	name, description, permissions, stores, methods, expires string
	disabled                                                 bool
	rateLimit                                                int
	// addresses is --allowed-addresses as given.
	addresses string
	quota     string
}

func (c *cli) addKeyFlags(f *keyFlags) {
	c.fs.StringVar(&f.name, "name", "", "the key's name, unique in the tenant, e.g. THQ (required)")
	c.fs.StringVar(&f.description, "description", "", "what the key is for, e.g. TranslatorHQ")
	c.fs.StringVar(&f.permissions, "permissions", "", "resource=none|read|write pairs, comma-separated, e.g. orders=write,payments=read")
	c.fs.StringVar(&f.stores, "stores", "all", "\"all\", or comma-separated store codes or ids")
	c.fs.StringVar(&f.methods, "methods", "", "allowed method ids and/or block names, comma-separated; empty allows every method the permissions allow")
	c.fs.StringVar(&f.expires, "expires", "", "expiry as RFC 3339, e.g. 2027-12-31T00:00:00Z")
	c.fs.BoolVar(&f.disabled, "disabled", false, "create the key disabled")
	c.fs.IntVar(&f.rateLimit, "rate-limit", 0, "requests per second for this key, 0 = the licence's limit only")
	c.fs.StringVar(&f.addresses, "allowed-addresses", "", addressesUsage)
	c.fs.StringVar(&f.quota, "quota", "", quotaFlagHelp)
}

func (f *keyFlags) create() (keyward.KeyCreate, error) {
	in := keyward.KeyCreate{Name: f.name, Description: f.description, Permissions: keyward.Permissions{}, RateLimit: f.rateLimit}
	enabled := !f.disabled
	in.Enabled = &enabled
	perms, err := permissionsFlag("permissions", f.permissions)
	if err != nil {
		return in, err
	}
	in.Permissions = perms
	if f.stores == "" || f.stores == "all" {
		in.Stores = keyward.StoreAccess{Access: keyward.StoresAll}
	} else {
		in.Stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: splitList(f.stores)}
	}
	if f.methods != "" {
		in.Methods = splitList(f.methods)
	}
	in.AllowedAddresses = addressList(f.addresses)
	if f.expires != "" {
		t, err := time.Parse(time.RFC3339, f.expires)
		if err != nil {
			return in, fmt.Errorf("--expires %q is not an RFC 3339 time such as 2027-12-31T00:00:00Z", f.expires)
		}
		in.ExpiresAt = &t
	}
	if f.quota != "" && f.quota != "none" {
		q, err := parseQuotaFlag(f.quota)
		if err != nil {
			return in, err
		}
		in.Quota = q
	}
	return in, nil
}

func printKey(out io.Writer, k *keyward.Key) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nname\t%s\ndescription\t%s\nenabled\t%t\n", k.ID, k.DisplayName, k.Description, k.Enabled)
	perms := []string{}
	for r, l := range k.Permissions {
		perms = append(perms, r+"="+string(l))
	}
	fmt.Fprintf(tw, "permissions\t%s\n", strings.Join(perms, ","))
	stores := k.Stores.Access
	if k.Stores.Access == keyward.StoresSelected {
		stores += ": " + strings.Join(k.Stores.IDs, ",")
	}
	fmt.Fprintf(tw, "stores\t%s\n", stores)
	if k.Methods == nil {
		fmt.Fprintf(tw, "methods\tevery method the permissions allow\n")
	} else {
		fmt.Fprintf(tw, "methods\t%s\n", strings.Join(k.Methods, ","))
	}
	if k.ExpiresAt != nil {
		fmt.Fprintf(tw, "expires\t%s\n", k.ExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "allowed addresses\t%s\n", addressesText(k.AllowedAddresses))
	printQuota(tw, k)
	for _, s := range k.Secrets {
		line := s.Hint
		if s.Secret != "" {
			line = s.Secret + "   (shown once)"
		} else if s.ExpiresAt != nil {
			line += "   (retiring " + s.ExpiresAt.Format(time.RFC3339) + ")"
		}
		if s.LastUsedAt != nil {
			line += "   last used " + s.LastUsedAt.Format(time.RFC3339)
			if s.LastUsedFrom != "" {
				line += " from " + s.LastUsedFrom
			}
		}
		fmt.Fprintf(tw, "secret %d\t%s\n", s.Slot, line)
	}
	tw.Flush()
}

// runKeysCLI runs "keyward keys …" and "keyward verify".
func runKeysCLI(ctx context.Context, cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "keys create":
		c := newCLI(cmd, out, true)
		defer c.close()
		var f keyFlags
		c.addKeyFlags(&f)
		if err := c.open(ctx, args, "name"); err != nil {
			return err
		}
		in, err := f.create()
		if err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		k, err := c.svc.CreateKey(tctx, in)
		if err != nil {
			return err
		}
		printKey(out, k)
		fmt.Fprintln(out, "\nStore both secrets now: they are not shown again. Either one works.")
	case "keys list":
		c := newCLI(cmd, out, true)
		defer c.close()
		enabled := c.fs.String("enabled", "", "true or false: only enabled or disabled keys")
		access := c.fs.String("access", "", "all or selected: only keys with that store access")
		storeRef := c.fs.String("store", "", "only keys that may act on this store (code or id)")
		if err := c.open(ctx, args); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		f := keyward.KeyFilter{Access: *access, StoreID: *storeRef, Limit: 500}
		if *enabled != "" {
			b := *enabled == "true"
			if !b && *enabled != "false" {
				return fmt.Errorf("--enabled must be true or false")
			}
			f.Enabled = &b
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tENABLED\tSTORES\tSECRETS\tDESCRIPTION")
		for {
			p, err := c.svc.ListKeys(tctx, f)
			if err != nil {
				return err
			}
			for _, k := range p.Data {
				hints := []string{}
				for _, s := range k.Secrets {
					hints = append(hints, s.Hint)
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", k.ID, k.DisplayName, k.Enabled, k.Stores.Access, strings.Join(hints, " "), k.Description)
			}
			if p.NextCursor == "" {
				break
			}
			f.After = p.NextCursor
		}
		tw.Flush()
	case "keys update":
		return runKeysUpdate(ctx, args, out)
	case "keys get", "keys enable", "keys disable", "keys delete", "keys roll":
		c := newCLI(cmd, out, true)
		defer c.close()
		id := c.fs.String("id", "", "the key's id (required)")
		slot := c.fs.Int("slot", 1, "roll: the slot to give a new secret, 1 or 2")
		grace := c.fs.Duration("grace", 0, "roll: how long the slot's old secret keeps working, e.g. 24h")
		if err := c.open(ctx, args, "id"); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		var k *keyward.Key
		switch cmd {
		case "keys get":
			k, err = c.svc.Key(tctx, *id)
		case "keys enable", "keys disable":
			on := cmd == "keys enable"
			k, err = c.svc.UpdateKey(tctx, *id, keyward.KeyUpdate{Enabled: &on})
		case "keys roll":
			k, err = c.svc.RollKey(tctx, *id, keyward.KeyRoll{Slot: *slot, Grace: keyward.Duration(*grace)})
		case "keys delete":
			if err = c.svc.DeleteKey(tctx, *id); err == nil {
				fmt.Fprintf(out, "key %s deleted; its secrets no longer work\n", *id)
				return nil
			}
		}
		if err != nil {
			return err
		}
		printKey(out, k)
	case "keys policy":
		return cliKeyPolicy(ctx, args, out)
	case "verify":
		c := newCLI(cmd, out, false)
		defer c.close()
		key := c.fs.String("key", "", "the API key secret (required)")
		method := c.fs.String("method", "", "a catalog method id, e.g. orders.statuses.list")
		request := c.fs.String("request", "", "an HTTP request instead of a method, e.g. \"GET /api/v5/orders/statuses\"")
		storeRef := c.fs.String("store", "", "the store the request names")
		client := c.fs.String("client-address", "", "the IP address the request comes from, for keys limited to addresses")
		url := c.fs.String("url", "", "ask a running keyward at this URL, e.g. http://127.0.0.1:8080, instead of reading the database")
		if err := parseFlags(c.fs, args); err != nil {
			return err
		}
		if *key == "" || (*method == "") == (*request == "") {
			return fmt.Errorf("give --key and one of --method or --request; run with -h for help")
		}
		in := gateway.VerifyRequest{Key: *key, Method: *method, Store: *storeRef, ClientAddress: *client}
		if *request != "" {
			verb, path, ok := strings.Cut(strings.TrimSpace(*request), " ")
			if !ok {
				return fmt.Errorf("--request must look like \"GET /api/v5/orders/statuses\"")
			}
			in.Request = &gateway.HTTPRequest{Method: verb, Path: strings.TrimSpace(path)}
		}
		var res gateway.VerifyResponse
		if *url != "" {
			if err := remoteVerify(ctx, *url, in, &res); err != nil {
				return err
			}
		} else {
			if err := c.open(ctx, nil); err != nil {
				return err
			}
			rep := replica.New(c.db, c.svc.Catalog())
			if err := rep.Load(ctx); err != nil {
				return err
			}
			// Rate limits live in the running nodes; here the decision only.
			var err error
			if res, err = (&gateway.Verifier{Replica: rep}).Decide(ctx, in); err != nil {
				return err
			}
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(out, string(b))
		if !res.Valid {
			return fmt.Errorf("refused: %s", res.Code)
		}
	default:
		return fmt.Errorf("unknown command %q; run keyward -h", cmd)
	}
	return nil
}

func remoteVerify(ctx context.Context, url string, in gateway.VerifyRequest, out *gateway.VerifyResponse) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(url, "/")+"/v1/verify", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("verify answered %s: %s", res.Status, b)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// cliKeyPolicy prints the tenant's key policy, changing first the rules
// whose flags are given.
func cliKeyPolicy(ctx context.Context, args []string, out io.Writer) error {
	c := newCLI("keys policy", out, true)
	defer c.close()
	maxDays := c.fs.Int("max-lifetime-days", 0, "the longest lifetime of a new key in days, 0 = no maximum (left out: unchanged)")
	inactive := c.fs.Int("inactive-days", 0, "disable keys unused for this many days, reported the day before; 0 = never (left out: unchanged)")
	if err := c.open(ctx, args); err != nil {
		return err
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return err
	}
	var in keyward.KeyPolicyUpdate
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "max-lifetime-days":
			in.MaxLifetimeDays = maxDays
		case "inactive-days":
			in.InactiveDays = inactive
		}
	})
	var p *keyward.KeyPolicy
	if in.MaxLifetimeDays != nil || in.InactiveDays != nil {
		p, err = c.svc.UpdateKeyPolicy(tctx, in)
	} else {
		p, err = c.svc.KeyPolicy(tctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "key policy of %s: max_lifetime_days=%d inactive_days=%d\n", c.tenant, p.MaxLifetimeDays, p.InactiveDays)
	return nil
}
