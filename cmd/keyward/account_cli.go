package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/service"
)

// runAccountCLI runs the ways back in: an administrator's reset of a
// user's password, a tenant's administrator with a sign-in link, and the
// operator token's rotation. It reports false for other commands.
func runAccountCLI(ctx context.Context, cmd string, args []string, out io.Writer) (bool, error) {
	switch cmd {
	case "user reset-password":
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
		u, pw, err := c.svc.ResetPassword(tctx, *email)
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "password of %s reset; their sessions have ended\ntemporary password (shown once; must be changed at the next sign-in): %s\n", u.Email, pw)
	case "tenant admin":
		c := newCLI(cmd, out, true)
		defer c.close()
		email := c.fs.String("email", "", "the administrator's e-mail (required)")
		name := c.fs.String("name", "", "display name")
		// The link points where serve would be reached with the same
		// settings: its --public-url, or else its --addr.
		publicURL := c.fs.String("public-url", envOr("PUBLIC_URL", ""), "the address users reach keyward at, as serve's --public-url, for the link (env KEYWARD_PUBLIC_URL)")
		c.fs.StringVar(publicURL, "url", *publicURL, "the same as --public-url")
		addr := c.fs.String("addr", envOr("ADDR", "127.0.0.1:8080"), "the address serve listens on, for the link when there is no --public-url (env KEYWARD_ADDR)")
		if err := c.open(ctx, args, "email"); err != nil {
			return true, err
		}
		base, err := checkPublicURL("--public-url", *publicURL)
		if err != nil {
			return true, err
		}
		base = linkBase(base, envOr("TLS_CERT", "") != "", *addr)
		ta, err := c.svc.CreateTenantAdmin(asOperator(ctx), c.tenant, service.TenantAdminCreate{Email: *email, Name: *name})
		if err != nil {
			return true, err
		}
		what := "administrator " + ta.User.Email + " created in " + c.tenant
		if !ta.Created {
			what = ta.User.Email + " already exists in " + c.tenant + "; a new sign-in link replaces any earlier one"
		}
		fmt.Fprintf(out, "%s\nsign-in link (shown once; works once, until %s; it leads to setting a password):\n  %s%s%s\n",
			what, ta.ExpiresAt.Format(time.RFC3339), base, api.SignInLinkPath, ta.Link)
	case "operator rotate-token":
		c := newCLI(cmd, out, false)
		defer c.close()
		if err := c.open(ctx, args); err != nil {
			return true, err
		}
		tok, err := c.svc.RotateOperatorToken(asOperator(ctx))
		if err != nil {
			return true, err
		}
		fmt.Fprintf(out, "operator token rotated; the old one no longer works\noperator token (shown once): %s\n", tok)
		if os.Getenv("KEYWARD_OPERATOR_TOKEN") != "" {
			fmt.Fprintln(out, "note: KEYWARD_OPERATOR_TOKEN is set here; a node started with it replaces this token")
		}
	default:
		return false, nil
	}
	return true, nil
}
