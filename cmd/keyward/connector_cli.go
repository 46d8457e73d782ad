package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
)

// fieldsFlag collects repeated --field name=value flags.
type fieldsFlag map[string]string

func (f fieldsFlag) String() string { return "" }

func (f fieldsFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("write name=value, such as shop_domain=mystore")
	}
	f[strings.TrimSpace(name)] = value
	return nil
}

// connectionFlags are what "connections create" and "update" take.
type connectionFlags struct {
	typ, name, apiURL, accessToken, secret, secretsFile, stores, scopes string
	fields                                                              fieldsFlag
	unverified, disabled                                                bool
	allow                                                               string
	allowHTTP                                                           bool
}

func (c *cli) addConnectionFlags(f *connectionFlags, create bool, errOut io.Writer) {
	f.fields = fieldsFlag{}
	if create {
		c.fs.StringVar(&f.typ, "type", "", "the external system: "+connectorIDs()+" (required)")
	}
	c.fs.StringVar(&f.name, "name", "", "the connection's name, unique in the tenant")
	c.fs.StringVar(&f.apiURL, "api-url", "", "the system's API address; systems with a fixed one fill it in")
	c.fs.StringVar(&f.accessToken, "access-token", "", "the access token (prefer --secrets-file: flags show in the process list)")
	c.fs.StringVar(&f.secret, "secret", "", "the secret (prefer --secrets-file)")
	c.fs.StringVar(&f.secretsFile, "secrets-file", "", "a file of name=value lines with the secret fields, such as access_token=… and secret=…; - reads standard input")
	c.fs.Var(f.fields, "field", "one of the system's fields as name=value, such as shop_domain=mystore; repeat for more")
	c.fs.StringVar(&f.stores, "stores", "", "\"all\", or comma-separated store codes or ids")
	c.fs.StringVar(&f.scopes, "required-scopes", "", "scopes the connection needs, comma-separated")
	c.fs.BoolVar(&f.unverified, "save-unverified", false, "save without a passing check; listed as unverified")
	c.fs.BoolVar(&f.disabled, "disabled", false, "save the connection disabled")
	c.outboundFlags(f, errOut)
}

func (c *cli) outboundFlags(f *connectionFlags, errOut io.Writer) {
	c.fs.StringVar(&f.allow, "outbound-allow", envOr("OUTBOUND_ALLOW", ""), "CIDRs or addresses checks may reach although they are private (env KEYWARD_OUTBOUND_ALLOW)")
	c.fs.BoolVar(&f.allowHTTP, "outbound-allow-http", envBool("OUTBOUND_ALLOW_HTTP", false), "let API URLs use plain http:// (env KEYWARD_OUTBOUND_ALLOW_HTTP=true)")
	c.masterKeyFlag(errOut)
}

func connectorIDs() string {
	var ids []string
	for _, t := range connector.Types() {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, ", ")
}

// readSecrets reads name=value lines; blank lines and # comments are skipped.
func readSecrets(path string, stdin io.Reader) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--secrets-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("--secrets-file line %d: write name=value", n)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, sc.Err()
}

// connectionService opens the service with the master keyring and the
// outbound policy the flags give.
func (c *cli) connectionService(f *connectionFlags) (*service.Service, error) {
	allow, err := httpx.ParseProxies(f.allow)
	if err != nil {
		return nil, fmt.Errorf("--outbound-allow: %v", err)
	}
	svc := service.New(c.db, catalog.Builtin(), service.WithKeyring(c.cfg.Keyring),
		service.WithOutbound(outbound.Config{Allow: allow, AllowHTTP: f.allowHTTP}))
	return svc, svc.CheckSealing(context.Background())
}

func storesFlag(s string) *keyward.StoreAccess {
	switch s {
	case "":
		return nil
	case "all":
		return &keyward.StoreAccess{Access: keyward.StoresAll}
	}
	return &keyward.StoreAccess{Access: keyward.StoresSelected, IDs: splitList(s)}
}

func printConnection(out io.Writer, c *keyward.Connection) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nname\t%s\nsystem\t%s\napi url\t%s\nenabled\t%t\nstate\t%s\n", c.ID, c.Name, c.Type, c.APIURL, c.Enabled, c.State)
	for k, v := range c.Settings {
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	fmt.Fprintf(tw, "secrets kept\t%s\n", strings.Join(c.SecretsSet, ", "))
	stores := c.Stores.Access
	if c.Stores.Access == keyward.StoresSelected {
		stores += ": " + strings.Join(c.Stores.IDs, ",")
	}
	fmt.Fprintf(tw, "stores\t%s\n", stores)
	if len(c.RequiredScopes) > 0 {
		fmt.Fprintf(tw, "required scopes\t%s\n", strings.Join(c.RequiredScopes, ", "))
	}
	tw.Flush()
	if c.Verification != nil {
		printVerification(out, c.Verification)
	}
}

func printVerification(out io.Writer, v *keyward.Verification) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "check\t%s: %s\n", v.Outcome, v.Message)
	if v.Account != "" {
		fmt.Fprintf(tw, "account\t%s\n", v.Account)
	}
	if len(v.Scopes) > 0 {
		fmt.Fprintf(tw, "scopes\t%s\n", strings.Join(v.Scopes, ", "))
	}
	if len(v.MissingScopes) > 0 {
		fmt.Fprintf(tw, "missing\t%s\n", strings.Join(v.MissingScopes, ", "))
	}
	if v.RetryAfter > 0 {
		fmt.Fprintf(tw, "retry after\t%ds\n", v.RetryAfter)
	}
	when := v.CheckedAt.Format("2006-01-02 15:04:05 UTC")
	if v.Cached {
		when += " (kept from an earlier check)"
	}
	fmt.Fprintf(tw, "checked\t%s\n", when)
	tw.Flush()
}

// runConnectorCLI runs "keyward connections …"; it reports false for
// other commands.
func runConnectorCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer, stdin io.Reader) (bool, error) {
	switch cmd {
	case "connections types":
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tSYSTEM\tAPI URL\tFIELDS")
		for _, t := range connector.Types() {
			var fields []string
			for _, f := range t.Fields {
				s := f.Name
				if f.Secret {
					s += " (secret)"
				}
				if f.Required {
					s += "*"
				}
				fields = append(fields, s)
			}
			u := t.DefaultURL
			if t.NeedsURL() {
				u = "required"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, u, strings.Join(fields, ", "))
		}
		return true, tw.Flush()
	case "connections list":
		c := newCLI(cmd, out, true)
		defer c.close()
		typ := c.fs.String("type", "", "only connections to this system")
		state := c.fs.String("state", "", "verified, unverified or failed: only connections in that state")
		storeRef := c.fs.String("store", "", "only connections serving this store (code or id)")
		if err := c.open(ctx, args); err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		cs, err := c.svc.ListConnections(tctx, service.ConnectionFilter{Type: *typ, State: *state, Store: *storeRef})
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSYSTEM\tSTATE\tENABLED\tAPI URL")
		for _, x := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", x.ID, x.Name, x.Type, x.State, x.Enabled, x.APIURL)
		}
		return true, tw.Flush()
	case "connections create", "connections update":
		create := cmd == "connections create"
		c := newCLI(cmd, out, true)
		defer c.close()
		var f connectionFlags
		var id *string
		if !create {
			id = c.fs.String("id", "", "the connection's id (required)")
		}
		c.addConnectionFlags(&f, create, errOut)
		enable, resend := false, false
		if !create {
			c.fs.BoolVar(&enable, "enable", false, "enable the connection")
			c.fs.BoolVar(&resend, "resend-stored-secrets", false, "when the API URL or a field deciding where secrets go changes, send the stored secrets not given again to the new destination (audited)")
		}
		required := []string{"type", "name"}
		if !create {
			required = []string{"id"}
		}
		if err := c.open(ctx, args, required...); err != nil {
			return true, err
		}
		secrets, err := readSecrets(f.secretsFile, stdin)
		if err != nil {
			return true, err
		}
		for k, v := range secrets {
			f.fields[k] = v
		}
		svc, err := c.connectionService(&f)
		if err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		var conn *keyward.Connection
		if create {
			enabled := !f.disabled
			conn, err = svc.CreateConnection(tctx, keyward.ConnectionInput{Type: f.typ, Name: f.name, APIURL: f.apiURL, AccessToken: f.accessToken,
				Secret: f.secret, Fields: f.fields, Stores: storesFlag(f.stores), RequiredScopes: splitList(f.scopes), Enabled: &enabled, SaveUnverified: f.unverified})
		} else {
			in := keyward.ConnectionUpdate{Fields: f.fields, Stores: storesFlag(f.stores), SaveUnverified: f.unverified, ResendStoredSecrets: resend}
			set := map[string]bool{}
			c.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
			if set["name"] {
				in.Name = &f.name
			}
			if set["api-url"] {
				in.APIURL = &f.apiURL
			}
			if f.accessToken != "" {
				in.AccessToken = &f.accessToken
			}
			if f.secret != "" {
				in.Secret = &f.secret
			}
			if set["required-scopes"] {
				sc := splitList(f.scopes)
				in.RequiredScopes = &sc
			}
			switch {
			case f.disabled && enable:
				return true, fmt.Errorf("give --enable or --disabled, not both")
			case f.disabled:
				off := false
				in.Enabled = &off
			case enable:
				on := true
				in.Enabled = &on
			}
			conn, err = svc.UpdateConnection(tctx, *id, in)
		}
		if err != nil {
			return true, err
		}
		printConnection(out, conn)
	case "connections verify":
		c := newCLI(cmd, out, true)
		defer c.close()
		var f connectionFlags
		id := c.fs.String("id", "", "the connection's id (required)")
		c.outboundFlags(&f, errOut)
		if err := c.open(ctx, args, "id"); err != nil {
			return true, err
		}
		svc, err := c.connectionService(&f)
		if err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		v, err := svc.VerifyConnection(tctx, *id)
		if err != nil {
			return true, err
		}
		printVerification(out, v)
		if !v.OK() {
			return true, fmt.Errorf("the check did not pass: %s", v.Outcome)
		}
	case "connections reveal":
		c := newCLI(cmd, out, true)
		defer c.close()
		var f connectionFlags
		id := c.fs.String("id", "", "the connection's id (required)")
		field := c.fs.String("field", "access_token", "the secret field to show")
		c.outboundFlags(&f, errOut)
		if err := c.open(ctx, args, "id"); err != nil {
			return true, err
		}
		svc, err := c.connectionService(&f)
		if err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		v, err := svc.RevealConnectionSecret(tctx, *id, *field)
		if err != nil {
			return true, err
		}
		fmt.Fprintln(out, v)
	case "connections delete":
		c := newCLI(cmd, out, true)
		defer c.close()
		id := c.fs.String("id", "", "the connection's id (required)")
		if err := c.open(ctx, args, "id"); err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		if err := c.svc.DeleteConnection(tctx, *id); err != nil {
			return true, err
		}
		fmt.Fprintf(out, "connection %s deleted\n", *id)
	default:
		return false, nil
	}
	return true, nil
}
