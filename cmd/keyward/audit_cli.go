package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/internal/auditchain"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

// runAuditCLI runs the audit log's commands (verify, export, checkpoint)
// and the second-factor resets. It reports false for other commands.
func runAuditCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer) (bool, error) {
	switch cmd {
	case "audit verify":
		return true, cliAuditVerify(ctx, args, out, errOut)
	case "audit export":
		return true, cliAuditExport(ctx, args, out, errOut)
	case "audit checkpoint":
		return true, cliAuditCheckpoint(ctx, args, out, errOut)
	case "user reset-totp":
		c := newCLI(cmd, out, true)
		defer c.close()
		email := c.fs.String("email", "", "the user's e-mail or id (required)")
		if err := c.open(ctx, args, "email"); err != nil {
			return true, err
		}
		tctx, err := c.asTenant(ctx)
		if err != nil {
			return true, err
		}
		u, err := c.svc.ResetTOTP(tctx, *email)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "two-factor sign-in of %s is off, their recovery codes are gone and their sessions have ended\n", u.Email)
	case "tenant reset-admin-totp":
		c := newCLI(cmd, out, true)
		defer c.close()
		email := c.fs.String("email", "", "the administrator's e-mail (required)")
		if err := c.open(ctx, args, "email"); err != nil {
			return true, err
		}
		u, err := c.svc.ResetTenantAdminTOTP(asOperator(ctx), c.tenant, *email)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "two-factor sign-in of %s, the last administrator of %s, is off; they sign in with their password and can turn it on again\n", u.Email, c.tenant)
	default:
		return false, nil
	}
	return true, nil
}

// auditWitnessFile is where a node keeps the newest audit checkpoint of
// each chain it wrote, in its data directory beside master.key.
const auditWitnessFile = "audit-head.json"

// witness returns the audit witness the command uses: --witness when
// given, else the one in the data directory.
func (c *cli) witness() *auditchain.FileWitness {
	if c.witnessPath != "" {
		return &auditchain.FileWitness{Path: c.witnessPath}
	}
	return &auditchain.FileWitness{Path: filepath.Join(c.cfg.DataDir, auditWitnessFile)}
}

// openAudit opens the database with the master keyring, which checks and
// signs checkpoints, and the node's audit witness, and returns the context to act in: the --tenant
// tenant's system, or the operator's for every tenant.
func openAudit(ctx context.Context, c *cli, args []string, errOut io.Writer) (context.Context, *service.Service, error) {
	c.masterKeyFlag(errOut)
	if err := parseFlags(c.fs, args); err != nil {
		return nil, nil, err
	}
	if c.fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", c.fs.Arg(0))
	}
	if err := c.cfg.finish(); err != nil {
		return nil, nil, err
	}
	if err := c.demoKeyring(); err != nil {
		return nil, nil, err
	}
	db, err := store.OpenCurrent(ctx, c.cfg.DatabaseURL, c.cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	c.db = db
	svc := service.New(c.db, catalog.Builtin(), service.WithKeyring(c.cfg.Keyring), service.WithAuditWitness(c.witness()))
	c.svc = svc
	if c.tenant == "" {
		return asOperator(ctx), svc, nil
	}
	tctx, err := c.asTenant(ctx)
	return tctx, svc, err
}

// errAuditBroken is returned when verification finds a break, so the
// command exits non-zero.
var errAuditBroken = errors.New("the audit log does not verify")

func cliAuditVerify(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newAuditCLI("audit verify", out)
	defer c.close()
	c.fs.StringVar(&c.witnessPath, "witness", "", "the audit witness to compare the checkpoints with, e.g. a copy kept elsewhere (default: "+auditWitnessFile+" in --data)")
	actx, svc, err := openAudit(ctx, c, args, errOut)
	if err != nil {
		return err
	}
	v, err := svc.VerifyAudit(actx)
	if err != nil {
		return err
	}
	problems := 0
	now := time.Now()
	for _, r := range v.Chains {
		name := "operator"
		if r.Chain != "" {
			name = "tenant " + c.tenantName(ctx, r.Chain)
		}
		if len(r.Problems) == 0 {
			fmt.Fprintf(out, "%s: %d entries verify\n", name, r.Entries)
		} else {
			fmt.Fprintf(out, "%s: BROKEN from entry %d on\n", name, r.BrokenAt)
		}
		for _, p := range r.Problems {
			problems++
			fmt.Fprintf(out, "  %s\n", p.Message)
		}
		if r.Legacy > 0 {
			fmt.Fprintf(out, "  note: %d entries from before the chain was introduced are covered by nothing\n", r.Legacy)
		}
		switch {
		case r.Newest != nil:
			fmt.Fprintf(out, "  newest checkpoint: number %d at entry %d, %s (%s ago); %d entries after it are held by their links alone\n",
				r.Newest.Number, r.Newest.Seq, r.Newest.CreatedAt.Format(time.RFC3339), now.Sub(r.Newest.CreatedAt).Round(time.Second), r.Uncovered)
		case r.Entries > 0 && len(r.Problems) == 0:
			fmt.Fprintf(out, "  note: no signed checkpoint covers this chain yet: run \"keyward audit checkpoint\"\n")
		}
	}
	if v.Unsigned > 0 {
		fmt.Fprintf(out, "note: %d checkpoints carry no signature (written with no master key); they are not relied on\n", v.Unsigned)
	}
	if v.Unchecked > 0 {
		fmt.Fprintf(out, "note: %d checkpoint signatures were not checked: give the master key to check them\n", v.Unchecked)
	}
	if problems > 0 {
		return fmt.Errorf("%w (problems found: %d)", errAuditBroken, problems)
	}
	switch {
	case !v.Signed:
		fmt.Fprintln(out, "consistent, but not verified: without the master key, someone who can write the database could have rewritten the log")
	case !v.Witnessed:
		fmt.Fprintf(out, "ok: every chain verifies, but there is no witness at %s, so the newest checkpoints removed with the entries after them would not show\n", c.witness().Path)
	default:
		fmt.Fprintf(out, "ok: every chain verifies, against the signed checkpoints and the witness %s\n", c.witness().Path)
	}
	return nil
}

// newAuditCLI is a CLI whose --tenant is optional: without it the
// command covers every tenant.
func newAuditCLI(name string, out io.Writer) *cli {
	c := newCLI(name, out, false)
	c.fs.StringVar(&c.tenant, "tenant", "", "the tenant's domain (default: every tenant, and the operator's entries)")
	return c
}

// tenantName returns a tenant's domain for its id, or the id.
func (c *cli) tenantName(ctx context.Context, id string) string {
	if t, err := c.db.Read().TenantByID(ctx, id); err == nil {
		return t.Domain
	}
	return id
}

func cliAuditExport(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newAuditCLI("audit export", out)
	defer c.close()
	from := c.fs.String("from", "", "the first moment to export, RFC 3339 or YYYY-MM-DD (default: the oldest entry)")
	to := c.fs.String("to", "", "the moment to export up to, not included, RFC 3339 or YYYY-MM-DD (default: now)")
	file := c.fs.String("out", "", "the file to write (default: standard output)")
	actx, svc, err := openAudit(ctx, c, args, errOut)
	if err != nil {
		return err
	}
	var start, end time.Time
	if start, err = parseMoment("from", *from); err != nil {
		return err
	}
	if end, err = parseMoment("to", *to); err != nil {
		return err
	}
	w := out
	if *file != "" {
		f, err := os.OpenFile(*file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	n, unverified := 0, 0
	err = svc.ExportAudit(actx, start, end, func(r *service.AuditRecord) error {
		n++
		if r.Unverified {
			unverified++
		}
		return enc.Encode(r)
	})
	if err != nil {
		return err
	}
	if *file != "" {
		fmt.Fprintf(out, "%d entries written to %s\n", n, *file)
	}
	if unverified > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d entries do not verify and are marked \"unverified\": run \"keyward audit verify\"\n", unverified)
	}
	return nil
}

// parseMoment reads a time given as RFC 3339 or as a date (UTC midnight).
func parseMoment(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: give a time as RFC 3339 (2026-06-01T12:00:00Z) or a date (2026-06-01)", name)
}

func cliAuditCheckpoint(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCLI("audit checkpoint", out, false)
	defer c.close()
	retention := c.fs.Duration("retention", envDuration("AUDIT_RETENTION", 0), "trim entries older than this first, e.g. 8760h; 0 keeps every entry (env KEYWARD_AUDIT_RETENTION)")
	actx, svc, err := openAudit(ctx, c, args, errOut)
	if err != nil {
		return err
	}
	n, err := svc.AuditMaintenance(actx, *retention)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checkpoint written for every chain that moved; %d entries trimmed; witness: %s\n", n, c.witness().Path)
	return nil
}

// startAuditMaintenance checkpoints every audit chain, and trims entries
// past --audit-retention, every --audit-checkpoint until ctx ends, so the
// entries a database writer could rewrite unnoticed (those after the
// newest checkpoint) span at most that interval. Nodes sharing a database
// may all run it.
func (m *Main) startAuditMaintenance(ctx context.Context) {
	every := m.Config.AuditCheckpoint
	if every <= 0 {
		return
	}
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := m.Service.AuditMaintenance(asOperator(ctx), m.Config.AuditRetention)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				slog.Warn("audit checkpoint failed; it is tried again on the next tick", "err", err)
				continue
			}
			if n > 0 {
				slog.Info("audit entries past retention trimmed", "count", n)
			}
		}
	}()
}
