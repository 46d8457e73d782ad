package main

import (
	"bytes"
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

// Help asked for at any level prints usage and succeeds; a group of
// commands named alone lists its commands and fails; an unknown command
// fails.
func TestHelpSucceedsAtEveryLevel(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in the output
		ok   bool
	}{
		{[]string{"--help"}, "keyward keys create", true},
		{[]string{"help"}, "keyward keys create", true},
		{[]string{"keys", "--help"}, "keyward keys list", true},
		{[]string{"keys", "-h"}, "keyward keys roll", true},
		{[]string{"keys", "help"}, "keyward keys get", true},
		{[]string{"help", "keys"}, "keyward keys create", true},
		{[]string{"help", "help"}, "keyward keys create", true},
		{[]string{"--help", "-h"}, "keyward keys create", true},
		{[]string{"licence", "--help"}, "keyward licence grant", true},
		{[]string{"keys", "create", "--help"}, "-permissions", true},
		{[]string{"licence", "grant", "-h"}, "-max-keys", true},
		{[]string{"serve", "--help"}, "-addr", true},
		{[]string{"migrate", "-h"}, "-database", true},
		{[]string{"verify", "--help"}, "-key", true},
		{[]string{"secrets", "--help"}, "keyward secrets rotate", true},
		{[]string{"secrets", "rotate", "-h"}, "-master-key-file", true},
		{[]string{"keys"}, "keyward keys create", false},
		{[]string{"keys", "frob"}, "Usage", false},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), c.args, &out, &out)
			if (err == nil) != c.ok {
				t.Fatalf("error %v, want success %t\n%s", err, c.ok, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("want %q in\n%s", c.want, out.String())
			}
			group := c.args[0] == "keys" && (len(c.args) == 1 || isHelp(c.args[1]))
			if group && strings.Contains(out.String(), "keyward serve") {
				t.Fatalf("the keys group printed every command:\n%s", out.String())
			}
		})
	}
}

// A mistyped command or flag fails with the error on the first line, a
// suggestion of the command or flag meant, and only the usage that helps:
// the group's own commands, not every command.
func TestMistakesSayWhatWasMeantFirst(t *testing.T) {
	for _, c := range []struct {
		args  []string
		first string // the first line of the output
		want  string // also in the output
	}{
		{[]string{"keys", "lst"}, `keyward: unknown command "keys lst"; did you mean "keys list"?`, "keyward keys roll"},
		{[]string{"kyes", "list"}, `keyward: unknown command "kyes"; did you mean "keys list"?`, `keyward -h`},
		{[]string{"kyes"}, `keyward: unknown command "kyes"; did you mean "keys"?`, `keyward -h`},
		{[]string{"license", "grant"}, `keyward: unknown command "license"; did you mean "licence grant"?`, `keyward -h`},
		{[]string{"webhooks", "lst", "--tenant", "shop"}, `keyward: unknown command "webhooks lst"; did you mean "webhooks list"?`, "keyward webhooks replay"},
		{[]string{"identity", "rotat"}, `keyward: unknown command "identity rotat"; did you mean "identity rotate"?`, "keyward identity keys"},
		{[]string{"keys", "--tenant", "shop"}, `keyward: "keys" needs one of its commands`, "keyward keys list"},
		{[]string{"frobnicate"}, `keyward: unknown command "frobnicate"`, `keyward -h`},
		{[]string{"keys", "list", "--tenant", "shop", "--enabeld", "true"}, "flag provided but not defined: -enabeld", "did you mean --enabled?"},
		{[]string{"serve", "--adr", ":0"}, "flag provided but not defined: -adr", "did you mean --addr?"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), c.args, &out, &out)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out.String())
			}
			if first, _, _ := strings.Cut(out.String(), "\n"); first != c.first {
				t.Fatalf("first line %q, want %q\n%s", first, c.first, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("want %q in\n%s", c.want, out.String())
			}
			if strings.Contains(out.String(), "keyward serve [") || strings.Contains(out.String(), "keyward audit verify") {
				t.Fatalf("printed every command:\n%s", out.String())
			}
		})
	}
	if s := nearest("zzzz", []string{"keys", "audit"}); s != "" {
		t.Fatalf("a word near nothing suggests %q", s)
	}
}

// Every command the usage names is one the dispatcher knows: with -h it
// succeeds.
func TestEveryCommandInTheUsageRuns(t *testing.T) {
	for _, cmd := range commands() {
		if cmd == "version" {
			continue
		}
		t.Run(cmd, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), append(strings.Fields(cmd), "-h"), &out, &out); err != nil || strings.Contains(out.String(), "unknown command") {
				t.Fatalf("%v\n%s", err, out.String())
			}
		})
	}
}

// "keyward version" names the module version and the commit it was built
// from, and says when the checkout had uncommitted changes.
func TestVersionNamesModuleAndCommit(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil || !strings.HasPrefix(out.String(), "keyward ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/keyward/keyward", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}}
	got := versionText(bi)
	for _, want := range []string{"v1.4.0", "commit 0123abcd", "(modified)"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in %q", want, got)
		}
	}
	bi.Settings[1].Value = "false"
	if got := versionText(bi); strings.Contains(got, "modified") {
		t.Errorf("a clean build says %q", got)
	}
}

// licence grant passes negative limits on to be refused, changing
// nothing; --expires none removes the expiry.
func TestLicenceGrantRefusesNegativeLimits(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append(args, "--data", dir), &out, &out)
		return out.String(), err
	}
	if out, err := cli("tenant", "create", "--domain", "shop"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := cli("licence", "grant", "--tenant", "shop", "--max-keys", "3", "--expires", "2099-01-01T00:00:00Z"); err != nil || !strings.Contains(out, "expires=2099") {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, flag := range []string{"--max-keys", "--rate-limit"} {
		out, err := cli("licence", "grant", "--tenant", "shop", flag, "-5")
		if err == nil || errors.Is(err, errUsage) || !strings.Contains(errorText(err), "0") {
			t.Fatalf("%s -5: %v\n%s", flag, err, out)
		}
	}
	out, err := cli("licence", "grant", "--tenant", "shop", "--expires", "none")
	if err != nil || !strings.Contains(out, "max_keys=3") || strings.Contains(out, "expires=") {
		t.Fatalf("after refused grants and --expires none: %v\n%s", err, out)
	}
}
