package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
)

// webhookService opens the service with the master keyring (signing
// secrets are sealed) and the outbound policy endpoints are saved under.
func (c *cli) webhookService(allow string, allowHTTP bool) (*service.Service, error) {
	ranges, err := httpx.ParseProxies(allow)
	if err != nil {
		return nil, fmt.Errorf("--outbound-allow: %v", err)
	}
	svc := service.New(c.db, catalog.Builtin(), service.WithKeyring(c.cfg.Keyring),
		service.WithOutbound(outbound.Config{Allow: ranges, AllowHTTP: allowHTTP}))
	return svc, svc.CheckSealing(context.Background())
}

func printWebhook(out io.Writer, w *keyward.WebhookEndpoint) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	stores := w.Stores.Access
	if w.Stores.Access == keyward.StoresSelected {
		stores += ": " + strings.Join(w.Stores.IDs, ",")
	}
	fmt.Fprintf(tw, "id\t%s\nurl\t%s\nstores\t%s\nevents\t%s\nenabled\t%t\nsecret\t%s\ndescription\t%s\n",
		w.ID, w.URL, stores, strings.Join(w.Events, ","), w.Enabled, w.SecretHint, w.Description)
	if w.PreviousSecretUntil != nil {
		fmt.Fprintf(tw, "previous secret signs until\t%s\n", w.PreviousSecretUntil.Format(time.RFC3339))
	}
	if w.DisabledReason != "" {
		fmt.Fprintf(tw, "disabled because\t%s\n", w.DisabledReason)
	}
	tw.Flush()
	if w.Secret != "" {
		fmt.Fprintf(out, "\nsigning secret (shown once; keep it with the receiver): %s\n", w.Secret)
	}
}

// runWebhookCLI runs "keyward webhooks …"; ok is false for other commands.
func runWebhookCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer) (ok bool, err error) {
	if !strings.HasPrefix(cmd, "webhooks ") {
		return false, nil
	}
	c := newCLI(cmd, out, true)
	defer c.close()
	c.masterKeyFlag(errOut)
	allow := c.fs.String("outbound-allow", envOr("OUTBOUND_ALLOW", ""), "CIDRs or addresses endpoint URLs may name although they are private (env KEYWARD_OUTBOUND_ALLOW)")
	allowHTTP := c.fs.Bool("outbound-allow-http", envBool("OUTBOUND_ALLOW_HTTP", false), "let endpoint URLs use plain http:// (env KEYWARD_OUTBOUND_ALLOW_HTTP=true)")
	var id, url, stores, events, description, overlap, status, since, delivery *string
	var disabled *bool
	required := []string{}
	withID := func() { id = c.fs.String("id", "", "the endpoint's id (required)"); required = append(required, "id") }
	switch cmd {
	case "webhooks list", "webhooks event-types":
	case "webhooks create", "webhooks update":
		if cmd == "webhooks update" {
			withID()
		} else {
			required = append(required, "url", "events")
		}
		url = c.fs.String("url", "", "the receiver's https:// URL")
		stores = c.fs.String("stores", "", "\"all\", or comma-separated store codes or ids whose events it receives (create: all)")
		events = c.fs.String("events", "", "event types, comma-separated: e.g. key.created,job.created, key.* or * (see keyward webhooks event-types)")
		description = c.fs.String("description", "", "what the endpoint is for")
		disabled = c.fs.Bool("disabled", false, "save the endpoint disabled")
	case "webhooks get", "webhooks delete", "webhooks test":
		withID()
	case "webhooks roll":
		withID()
		overlap = c.fs.String("overlap", "24h", "how long the old secret keeps signing beside the new one (0s to 168h)")
	case "webhooks log":
		withID()
		status = c.fs.String("status", "", "pending, succeeded or failed: only deliveries in that state")
	case "webhooks replay":
		withID()
		delivery = c.fs.String("delivery", "", "the delivery to send again")
		since = c.fs.String("since", "", "or: every failed delivery created since this RFC 3339 time")
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
	case "webhooks list":
		ws, err := svc.ListWebhooks(tctx, "")
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tSTORES\tEVENTS\tENABLED")
		for _, w := range ws {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\n", w.ID, w.URL, w.Stores.Access, strings.Join(w.Events, ","), w.Enabled)
		}
		return true, tw.Flush()
	case "webhooks event-types":
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tSENT BY\tDESCRIPTION")
		for _, t := range svc.EventTypes() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Type, t.Source, t.Description)
		}
		return true, tw.Flush()
	case "webhooks create":
		enabled := !*disabled
		in := keyward.WebhookCreate{URL: *url, Events: splitList(*events), Description: *description, Enabled: &enabled, Stores: storesFlag(*stores)}
		w, err := svc.CreateWebhook(tctx, in)
		if err != nil {
			return true, err
		}
		printWebhook(out, w)
	case "webhooks update":
		var in keyward.WebhookUpdate
		c.fs.Visit(func(f *flagValue) {
			switch f.Name {
			case "url":
				in.URL = url
			case "stores":
				in.Stores = storesFlag(*stores)
			case "events":
				ev := splitList(*events)
				in.Events = &ev
			case "description":
				in.Description = description
			case "disabled":
				enabled := !*disabled
				in.Enabled = &enabled
			}
		})
		w, err := svc.UpdateWebhook(tctx, *id, in)
		if err != nil {
			return true, err
		}
		printWebhook(out, w)
	case "webhooks get":
		w, err := svc.Webhook(tctx, *id)
		if err != nil {
			return true, err
		}
		printWebhook(out, w)
	case "webhooks delete":
		if err := svc.DeleteWebhook(tctx, *id); err != nil {
			return true, err
		}
		fmt.Fprintf(out, "webhook endpoint %s deleted\n", *id)
	case "webhooks roll":
		w, err := svc.RollWebhookSecret(tctx, *id, keyward.WebhookRoll{Overlap: *overlap})
		if err != nil {
			return true, err
		}
		printWebhook(out, w)
	case "webhooks test":
		d, err := svc.SendTestEvent(tctx, *id)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "test event %s queued as delivery %s; a running node sends it (see keyward webhooks log)\n", d.EventID, d.ID)
	case "webhooks log":
		page, err := svc.ListDeliveries(tctx, *id, service.DeliveryFilter{Status: *status, Limit: 100})
		if err != nil {
			return true, err
		}
		ds := page.Data
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tEVENT\tTYPE\tSTATUS\tATTEMPTS\tLAST\tNEXT\tERROR")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.EventID, d.EventType, d.Status, d.Attempts, d.LastStatus, timeOrDash(d.NextAttemptAt), d.LastError)
		}
		return true, tw.Flush()
	case "webhooks replay":
		var from time.Time
		if *since != "" {
			if from, err = time.Parse(time.RFC3339, *since); err != nil {
				return true, fmt.Errorf("--since %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", *since)
			}
		}
		n, err := svc.Replay(tctx, *id, *delivery, from)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "%d deliveries due again; a running node sends them\n", n)
	}
	return true, nil
}

type flagValue = flag.Flag

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
