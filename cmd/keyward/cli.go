package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keyward "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// cli is one CLI invocation: parsed flags and an open service.
type cli struct {
	cfg    Config
	fs     *flag.FlagSet
	db     *store.DB
	svc    *service.Service
	tenant string
	out    io.Writer
	// witnessPath is the audit commands' --witness; "" for the one in
	// the data directory.
	witnessPath string
	// errOut is where a command that takes the master key (see
	// masterKeyFlag) says it uses the demo key; nil for other commands.
	errOut io.Writer
}

func newCLI(name string, out io.Writer, withTenant bool) *cli {
	c := &cli{fs: newFlagSet(name, out), out: out}
	c.cfg.databaseFlags(c.fs)
	if withTenant {
		c.fs.StringVar(&c.tenant, "tenant", "", "the tenant's domain (required)")
	}
	return c
}

// open parses args, checks required flags and opens the database.
func (c *cli) open(ctx context.Context, args []string, required ...string) error {
	if err := c.parse(args, required...); err != nil {
		return err
	}
	db, err := store.OpenCurrent(ctx, c.cfg.DatabaseURL, c.cfg.DataDir)
	if err != nil {
		return err
	}
	c.db = db
	c.svc = service.New(db, catalog.Builtin())
	return nil
}

// parse parses args and checks required flags and the settings.
func (c *cli) parse(args []string, required ...string) error {
	if err := parseFlags(c.fs, args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; flags go before nothing else", c.fs.Arg(0))
	}
	if c.tenant != "" || c.fs.Lookup("tenant") != nil {
		required = append([]string{"tenant"}, required...)
	}
	var missing []string
	for _, name := range required {
		if f := c.fs.Lookup(name); f != nil && f.Value.String() == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s; run with -h for help", strings.Join(missing, ", "))
	}
	if err := c.cfg.finish(); err != nil {
		return err
	}
	return c.demoKeyring()
}

// masterKeyFlag adds --master-key-file for a command that needs the
// master keyring. Without a master key set, the command uses the one
// "serve --demo" generated into the data directory, as serve there does,
// and says so on errOut.
func (c *cli) masterKeyFlag(errOut io.Writer) {
	c.cfg.masterKeyFlag(c.fs)
	c.errOut = errOut
}

// demoKeyring reads the demo master key for a command that takes the
// master key and was given none. A data directory without one is left
// as it is: the command then works without a keyring, or says it needs one.
func (c *cli) demoKeyring() error {
	if c.errOut == nil || c.cfg.Keyring != nil {
		return nil
	}
	path := filepath.Join(c.cfg.DataDir, demoMasterKeyFile)
	kr, err := readDemoKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	c.cfg.Keyring = kr
	fmt.Fprintf(c.errOut, "keyward: no master key set; using the demo key in %s, as \"serve --demo\" does\n", path)
	return nil
}

// asTenant returns ctx acting as the system in the --tenant tenant.
func (c *cli) asTenant(ctx context.Context) (context.Context, error) {
	t, err := c.svc.TenantByDomain(ctx, c.tenant)
	if err != nil {
		return nil, err
	}
	return keyward.WithActor(ctx, service.SystemActor(t, "cli")), nil
}

func asOperator(ctx context.Context) context.Context {
	return keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorSystem, Address: "cli"})
}

func (c *cli) close() {
	if c.db != nil {
		c.db.Close()
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func features(s string) []keyward.Feature {
	out := []keyward.Feature{}
	for _, p := range splitList(s) {
		out = append(out, keyward.Feature(p))
	}
	return out
}

// runCLI runs the record-management commands.
func runCLI(ctx context.Context, args []string, out, errOut io.Writer) error {
	cmd := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		cmd += " " + args[1]
		args = args[2:]
	} else {
		args = args[1:]
	}
	switch cmd {
	case "tenant create":
		c := newCLI(cmd, out, false)
		defer c.close()
		domain := c.fs.String("domain", "", "the tenant's domain, e.g. mybusiness (required)")
		name := c.fs.String("name", "", "display name")
		if err := c.open(ctx, args, "domain"); err != nil {
			return err
		}
		t, err := c.svc.CreateTenant(asOperator(ctx), keyward.TenantCreate{Domain: *domain, Name: *name})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "tenant %s created (%s)\n", t.Domain, t.ID)
	case "store create":
		c := newCLI(cmd, out, true)
		defer c.close()
		code := c.fs.String("code", "", "the store's code, e.g. main-shop (required)")
		name := c.fs.String("name", "", "display name")
		if err := c.open(ctx, args, "code"); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		s, err := c.svc.CreateStore(tctx, keyward.StoreCreate{Code: *code, Name: *name})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "store %s created (%s)\n", s.Code, s.ID)
	case "licence grant", "licence revoke":
		c := newCLI(cmd, out, true)
		defer c.close()
		maxKeys := c.fs.Int("max-keys", 0, "most API keys the tenant may hold, 0 = no limit (left out: unchanged)")
		rate := c.fs.Int("rate-limit", 0, "requests per second across the tenant, 0 = no limit (left out: unchanged)")
		expires := c.fs.String("expires", "", "expiry as RFC 3339, e.g. 2027-12-31T00:00:00Z, or \"none\" to remove it (left out: unchanged)")
		if err := c.open(ctx, args); err != nil {
			return err
		}
		given := map[string]bool{}
		c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		var l *keyward.Licence
		var err error
		if cmd == "licence revoke" {
			l, err = c.svc.RevokeLicence(asOperator(ctx), c.tenant)
		} else {
			var in keyward.LicenceGrant
			if given["max-keys"] {
				in.MaxKeys = maxKeys
			}
			if given["rate-limit"] {
				in.RateLimit = rate
			}
			switch {
			case *expires == "none":
				in.ExpiresAt = keyward.NullableTime{Set: true}
			case given["expires"]:
				t, perr := time.Parse(time.RFC3339, *expires)
				if perr != nil {
					return fmt.Errorf("--expires %q is not an RFC 3339 time such as 2027-12-31T00:00:00Z, nor \"none\"", *expires)
				}
				in.ExpiresAt = keyward.SetTime(t)
			}
			l, err = c.svc.GrantLicence(asOperator(ctx), c.tenant, in)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "licence of %s: api_access=%t max_keys=%d rate_limit=%d", c.tenant, l.APIAccess, l.MaxKeys, l.RateLimit)
		if l.ExpiresAt != nil {
			fmt.Fprintf(out, " expires=%s", l.ExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintln(out)
	case "profile create", "profile grant":
		c := newCLI(cmd, out, true)
		defer c.close()
		name := c.fs.String("name", "", "the profile's name (create)")
		profile := c.fs.String("profile", "", "the profile's name or id (grant)")
		feats := c.fs.String("features", "", "comma-separated features: api_management, webhooks, connectors, merchants, users, audit")
		req := "name"
		if cmd == "profile grant" {
			req = "profile"
		}
		if err := c.open(ctx, args, req); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		var p *keyward.Profile
		if cmd == "profile create" {
			p, err = c.svc.CreateProfile(tctx, keyward.ProfileCreate{Name: *name, Features: features(*feats)})
		} else {
			p, err = c.svc.GrantFeatures(tctx, *profile, features(*feats))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "profile %q (%s) features: %v\n", p.Name, p.ID, p.Features)
	case "user create":
		c := newCLI(cmd, out, true)
		defer c.close()
		email := c.fs.String("email", "", "the user's e-mail (required)")
		name := c.fs.String("name", "", "display name")
		profile := c.fs.String("profile", "", "security profile name or id (required)")
		if err := c.open(ctx, args, "email", "profile"); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		u, pw, err := c.svc.CreateUser(tctx, keyward.UserCreate{Email: *email, Name: *name, ProfileID: *profile})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s created (%s)\npassword (shown once): %s\n", u.Email, u.ID, pw)
	case "token create":
		c := newCLI(cmd, out, true)
		defer c.close()
		user := c.fs.String("user", "", "the user's e-mail or id (required)")
		name := c.fs.String("name", "cli", "a name for the token")
		if err := c.open(ctx, args, "user"); err != nil {
			return err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return err
		}
		t, secret, err := c.svc.CreateToken(tctx, *user, keyward.TokenCreate{Name: *name})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "token %s created for %s\ntoken (shown once): %s\n", t.ID, *user, secret)
	case "secrets rotate":
		return cliRotateSecrets(ctx, args, out, errOut)
	default:
		if ok, err := runAccountCLI(ctx, cmd, args, out); ok {
			return err
		}
		if ok, err := runAuditCLI(ctx, cmd, args, out, errOut); ok {
			return err
		}
		if ok, err := runConnectorCLI(ctx, cmd, args, out, errOut, os.Stdin); ok {
			return err
		}
		if ok, err := runWebhookCLI(ctx, cmd, args, out, errOut); ok {
			return err
		}
		if ok, err := runKeyRequestCLI(ctx, cmd, args, out, errOut); ok {
			return err
		}
		if ok, err := runIdentityCLI(ctx, cmd, args, out, errOut); ok {
			return err
		}
		if ok, err := runHandoverCLI(ctx, cmd, args, out, errOut, os.Stdin); ok {
			return err
		}
		if ok, err := runLeakCLI(ctx, cmd, args, out); ok {
			return err
		}
		return runKeysCLI(ctx, cmd, args, out)
	}
	return nil
}

// cliRotateSecrets moves every sealed secret to the primary (first) key
// of the master keyring, which must still hold the key they were sealed
// with. It may be stopped and run again: values already moved are skipped.
func cliRotateSecrets(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCLI("secrets rotate", out, false)
	defer c.close()
	c.masterKeyFlag(errOut)
	batch := c.fs.Int("batch", 500, "sealed values rewrapped per transaction")
	if err := c.open(ctx, args); err != nil {
		return err
	}
	kr := c.cfg.Keyring
	if kr == nil {
		return errors.New("no master key set: give the new key first and the old one(s) after it, as KEYWARD_MASTER_KEY=new:<key>,old:<key> (or KEYWARD_MASTER_KEY_FILE, --master-key-file)")
	}
	svc := service.New(c.db, catalog.Builtin(), service.WithKeyring(kr))
	if err := svc.CheckSealing(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "rewrapping sealed secrets with master key %s\n", kr.Primary())
	p, err := svc.RewrapSealed(ctx, *batch, func(p service.RewrapProgress) error {
		fmt.Fprintf(out, "  %d of %d checked, %d rewrapped\n", p.Done, p.Total, p.Rewrapped)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotation stopped after %d rewrapped (run it again to go on; nothing is lost): %w", p.Rewrapped, err)
	}
	fmt.Fprintf(out, "done: every sealed secret is on master key %s; the older keys may now be removed from the keyring\n", kr.Primary())
	return nil
}
