package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/keyward/keyward"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/leak"
)

// leakFlag is --leak-report-keys.
func (c *Config) leakFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.LeakReportKeysFile, "leak-report-keys", envOr("LEAK_REPORT_KEYS", ""), "JSON file of the ECDSA P-256 public keys leak reports to POST /v1/leaks are signed with, as GitHub publishes them: {\"public_keys\": [{\"key_identifier\": …, \"key\": PEM}]}; every report is refused when empty (env KEYWARD_LEAK_REPORT_KEYS)")
}

// finishLeakKeys loads --leak-report-keys.
func (c *Config) finishLeakKeys() error {
	if c.LeakReportKeysFile == "" {
		return nil
	}
	keys, err := leak.Load(c.LeakReportKeysFile)
	c.LeakReportKeys = keys
	return err
}

// leakHandler serves POST /v1/leaks.
func (m *Main) leakHandler() http.Handler {
	return api.LeakReports(m.Service, m.Config.LeakReportKeys)
}

// runLeakCLI runs "keyward leak-policy get|set"; ok is false for another
// command.
func runLeakCLI(ctx context.Context, cmd string, args []string, out io.Writer) (ok bool, err error) {
	if cmd != "leak-policy get" && cmd != "leak-policy set" {
		return false, nil
	}
	c := newCLI(cmd, out, true)
	defer c.close()
	onLeak := ""
	if cmd == "leak-policy set" {
		c.fs.StringVar(&onLeak, "on-leak", "", "disable: disable a key reported leaked at once; notify: only record, audit and send key.leaked (required)")
	}
	required := []string{}
	if cmd == "leak-policy set" {
		required = append(required, "on-leak")
	}
	if err := c.open(ctx, args, required...); err != nil {
		return true, err
	}
	tctx, err := c.asTenant(ctx)
	if err != nil {
		return true, err
	}
	var p *keyward.LeakPolicy
	if cmd == "leak-policy set" {
		p, err = c.svc.SetLeakPolicy(tctx, keyward.LeakPolicy{OnLeak: onLeak})
	} else {
		p, err = c.svc.LeakPolicy(tctx)
	}
	if err != nil {
		return true, err
	}
	fmt.Fprintf(out, "leak policy of %s: on_leak=%s\n", c.tenant, p.OnLeak)
	return true, nil
}
