package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/service"
)

// runHandoverCLI runs "keyward handover …"; ok is false for other commands.
func runHandoverCLI(ctx context.Context, cmd string, args []string, out, errOut io.Writer, stdin io.Reader) (ok bool, err error) {
	if !strings.HasPrefix(cmd, "handover ") {
		return false, nil
	}
	c := newCLI(cmd, out, true)
	defer c.close()
	c.masterKeyFlag(errOut)
	var kind, subject, ttl, note, secretFile, publicURL, addr, state *string
	var requireCode *bool
	var required []string
	switch cmd {
	case "handover create":
		kind = c.fs.String("kind", "", "key_secret, merchant_auth_key, webhook_secret or key_request (required)")
		subject = c.fs.String("subject", "", "the key, merchant user, webhook endpoint or key request the secret belongs to (required)")
		secretFile = c.fs.String("secret-file", "-", "a file holding the secret; - reads it from standard input")
		ttl = c.fs.String("ttl", "24h", "how long the link stays open, 1m to 168h")
		requireCode = c.fs.Bool("require-code", false, "the link asks for a code, printed once, to send separately")
		note = c.fs.String("note", "", "for the administrators, such as who the link is for")
		publicURL = c.fs.String("public-url", envOr("PUBLIC_URL", ""), "the address users reach keyward at, as serve's --public-url, for the link (env KEYWARD_PUBLIC_URL)")
		addr = c.fs.String("addr", envOr("ADDR", "127.0.0.1:8080"), "the address serve listens on, for the link when there is no --public-url (env KEYWARD_ADDR)")
		required = []string{"kind", "subject"}
	case "handover list":
		subject = c.fs.String("subject", "", "only links for this key, merchant user, webhook endpoint or key request")
		state = c.fs.String("state", "", "only links in this state: waiting, opened, expired or burned")
	default:
		return true, fmt.Errorf("unknown command %q; run keyward -h", cmd)
	}
	if err := c.open(ctx, args, required...); err != nil {
		return true, err
	}
	var opts []service.Option
	if cmd == "handover create" {
		base, err := checkPublicURL("--public-url", *publicURL)
		if err != nil {
			return true, err
		}
		opts = append(opts, service.WithPublicURL(linkBase(base, envOr("TLS_CERT", "") != "", *addr)))
	}
	svc := service.New(c.db, catalog.Builtin(), append([]service.Option{service.WithKeyring(c.cfg.Keyring)}, opts...)...)
	if err := svc.CheckSealing(ctx); err != nil {
		return true, err
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return true, err
	}
	switch cmd {
	case "handover create":
		d, err := time.ParseDuration(*ttl)
		if err != nil {
			return true, fmt.Errorf("--ttl %q is not a duration such as 1h or 72h", *ttl)
		}
		secret, err := readSecretFile(*secretFile, stdin)
		if err != nil {
			return true, err
		}
		h, err := svc.CreateHandover(tctx, keyward.HandoverCreate{Kind: *kind, SubjectID: *subject, TTL: d, RequireCode: *requireCode, Note: *note}, secret)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "one-time link %s, open until %s (shown once):\n%s\n", h.ID, h.ExpiresAt.Format(time.RFC3339), h.URL)
		if h.Code != "" {
			fmt.Fprintf(out, "code (send it separately from the link): %s\n", h.Code)
		}
	case "handover list":
		hs, err := svc.ListHandovers(tctx, keyward.HandoverFilter{SubjectID: *subject, State: *state, Limit: 500})
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSUBJECT\tSTATE\tEXPIRES\tOPENED\tFROM")
		for _, h := range hs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Kind, h.SubjectID, h.State, h.ExpiresAt.Format(time.RFC3339),
				timeOrDash(h.OpenedAt), orDash(h.OpenedFrom))
		}
		return true, tw.Flush()
	}
	return true, nil
}

// readSecretFile reads a secret from path, or from stdin for "-": its
// first line, without the line's end.
func readSecretFile(path string, stdin io.Reader) (string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--secret-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	if line = strings.TrimRight(line, "\r\n"); line == "" {
		return "", fmt.Errorf("--secret-file: no secret given; write it on the first line")
	}
	return line, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
