package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward"
)

// permissionsFlag reads resource=level pairs; "none" is no access.
func permissionsFlag(name, v string) (keyward.Permissions, error) {
	out := keyward.Permissions{}
	for _, p := range splitList(v) {
		res, lvl, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--%s %q: write resource=none, resource=read or resource=write", name, p)
		}
		var l keyward.Level
		l.UnmarshalText([]byte(strings.TrimSpace(lvl)))
		out[strings.TrimSpace(res)] = l
	}
	return out, nil
}

func printIntegrator(out io.Writer, it *keyward.Integrator) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	var perms []string
	for r, l := range it.Permissions {
		perms = append(perms, r+"="+string(l))
	}
	fmt.Fprintf(tw, "id\t%s\nname\t%s\ncallback\t%s\nat most\t%s\nsecret\t%s\n", it.ID, it.Name, it.CallbackURL, strings.Join(perms, ","), it.SecretHint)
	tw.Flush()
	if it.Secret != "" {
		fmt.Fprintf(out, "\nsigning secret (shown once; give it to the integrator): %s\n", it.Secret)
	}
}

// runKeyRequestCLI runs "keyward integrator …" and "keyward key-request
// …"; ok is false for other commands.
func runKeyRequestCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer) (ok bool, err error) {
	if !strings.HasPrefix(cmd, "integrator ") && !strings.HasPrefix(cmd, "key-request ") {
		return false, nil
	}
	c := newCLI(cmd, out, true)
	defer c.close()
	c.masterKeyFlag(errOut)
	allow := c.fs.String("outbound-allow", envOr("OUTBOUND_ALLOW", ""), "CIDRs or addresses callback URLs may name although they are private (env KEYWARD_OUTBOUND_ALLOW)")
	allowHTTP := c.fs.Bool("outbound-allow-http", envBool("OUTBOUND_ALLOW_HTTP", false), "let callback URLs use plain http:// (env KEYWARD_OUTBOUND_ALLOW_HTTP=true)")
	var id, name, callback, perms, status, stores, methods, expires, link *string
	required := []string{}
	withID := func(what string) { id = c.fs.String("id", "", what+" (required)"); required = append(required, "id") }
	switch cmd {
	case "integrator list":
	case "integrator create":
		name = c.fs.String("name", "", "the integrator's name, e.g. TranslatorHQ (required)")
		callback = c.fs.String("callback", "", "the https:// URL that receives approved keys; none for a one-time pickup")
		perms = c.fs.String("permissions", "", "the most its requests may ask for: resource=read|write pairs, e.g. orders=write,customers=read (required)")
		required = append(required, "name", "permissions")
	case "integrator roll", "integrator delete":
		withID("the integrator's id")
	case "key-request open":
		link = c.fs.String("link", "", "the link the integrator sent (required)")
		required = append(required, "link")
	case "key-request list":
		status = c.fs.String("status", "", "pending, approved, declined or expired; all when empty")
	case "key-request approve":
		withID("the key request's id")
		perms = c.fs.String("permissions", "", "grant less: resource=none|read|write pairs replacing the request's permissions")
		stores = c.fs.String("stores", "", "grant fewer stores: \"all\" or comma-separated store codes or ids")
		methods = c.fs.String("methods", "", "grant fewer methods: comma-separated method ids")
		expires = c.fs.String("expires", "", "an earlier expiry, RFC 3339")
	case "key-request decline":
		withID("the key request's id")
	default:
		return true, fmt.Errorf("unknown command %q; run keyward -h", cmd)
	}
	if err := c.open(ctx, args, required...); err != nil {
		return true, err
	}
	svc, err := c.webhookService(*allow, *allowHTTP)
	if err != nil {
		return true, err
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return true, err
	}
	switch cmd {
	case "integrator list":
		its, err := svc.ListIntegrators(tctx)
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCALLBACK\tPLATFORM")
		for _, it := range its {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", it.ID, it.Name, it.CallbackURL, it.Platform)
		}
		return true, tw.Flush()
	case "integrator create":
		p, err := permissionsFlag("permissions", *perms)
		if err != nil {
			return true, err
		}
		it, err := svc.CreateIntegrator(tctx, keyward.IntegratorCreate{Name: *name, CallbackURL: *callback, Permissions: p})
		if err != nil {
			return true, err
		}
		printIntegrator(out, it)
	case "integrator roll":
		it, err := svc.RollIntegratorSecret(tctx, *id)
		if err != nil {
			return true, err
		}
		printIntegrator(out, it)
	case "integrator delete":
		if err := svc.DeleteIntegrator(tctx, *id); err != nil {
			return true, err
		}
		fmt.Fprintf(out, "deleted integrator %s\n", *id)
	case "key-request open":
		r, created, err := svc.OpenKeyRequest(tctx, *link)
		if err != nil {
			return true, err
		}
		if !created {
			return true, fmt.Errorf("this link was already used; it made key request %s", r.ID)
		}
		fmt.Fprintf(out, "key request %s: %s asks for key %s; approve or decline it (keyward key-request approve|decline --id %s)\n",
			r.ID, cmp.Or(r.IntegratorName, "an unregistered integrator"), r.Requested.Name, r.ID)
	case "key-request list":
		rs, err := svc.ListKeyRequests(tctx, *status, 500)
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKEY\tINTEGRATOR\tSTATUS\tDELIVERY")
		for _, r := range rs {
			who := r.IntegratorName
			if r.IntegratorID == "" {
				who = "(unregistered)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\n", r.ID, r.Requested.Name, who, r.Status, r.Delivery, r.DeliveryStatus)
		}
		return true, tw.Flush()
	case "key-request approve":
		var in keyward.KeyRequestApprove
		if *perms != "" {
			p, err := permissionsFlag("permissions", *perms)
			if err != nil {
				return true, err
			}
			in.Permissions = &p
		}
		in.Stores = storesFlag(*stores)
		if *methods != "" {
			ms := splitList(*methods)
			in.Methods = &ms
		}
		if *expires != "" {
			t, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return true, fmt.Errorf("--expires %q: give an RFC 3339 time such as 2027-01-31T00:00:00Z", *expires)
			}
			in.ExpiresAt = &t
		}
		r, err := svc.ApproveKeyRequest(tctx, *id, in)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "approved %s: key %s made; delivery by %s %s\n", r.ID, r.KeyID, r.Delivery, r.DeliveryStatus)
		if r.PickupURL != "" {
			fmt.Fprintf(out, "pickup link (give it to the integrator; it opens once): %s\n", r.PickupURL)
		}
	case "key-request decline":
		r, err := svc.DeclineKeyRequest(tctx, *id)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "declined %s; no key was made\n", r.ID)
	}
	return true, nil
}
