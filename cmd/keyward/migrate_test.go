package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// olderSchema creates the database named by args as the keyward before
// the newest migration left it.
func olderSchema(t *testing.T, args []string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Connect(ctx, argAfter(args, "--database"), argAfter(args, "--data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(ctx, s.Latest-1); err != nil {
		t.Fatal(err)
	}
}

func argAfter(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Commands other than migrate and serve never change an existing
// database's schema: they refuse one that needs migrations and say what
// to run. "migrate status" and "migrate --dry-run" show what is pending
// and change nothing; serve --migrate=false refuses too.
func TestOnlyMigrateAndServeChangeTheSchema(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			args := dbArgs(t, e)
			cli := func(cmd ...string) (string, error) {
				var out bytes.Buffer
				err := run(context.Background(), append(cmd, args...), &out, &out)
				return out.String(), err
			}
			olderSchema(t, args)
			if _, err := cli("tenant", "create", "--domain", "shop"); !errors.Is(err, store.ErrSchemaOlder) || !strings.Contains(errorText(err), "keyward migrate") {
				t.Fatalf("tenant create on an older schema: %v", err)
			}
			for _, cmd := range [][]string{{"migrate", "status"}, {"migrate", "--dry-run"}} {
				out, err := cli(cmd...)
				if err != nil || !strings.Contains(out, "1 migrations pending") {
					t.Fatalf("%v: %v\n%s", cmd, err, out)
				}
			}
			if _, _, err := openMain(t, testMasterKey, append([]string{"--migrate=false"}, args...)...); !errors.Is(err, store.ErrSchemaOlder) {
				t.Fatalf("serve --migrate=false on an older schema: %v", err)
			}
			out, err := cli("migrate")
			if err != nil || !strings.Contains(out, "applied 000") || !strings.Contains(out, "from schema") {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			if out, err := cli("tenant", "create", "--domain", "shop"); err != nil {
				t.Fatalf("tenant create after migrate: %v\n%s", err, out)
			}
			if out, err := cli("migrate", "status"); err != nil || !strings.Contains(out, "up to date") {
				t.Fatalf("status after migrate: %v\n%s", err, out)
			}
		})
	}
}

// A second serve on the SQLite folder another serve is using is refused,
// and starts once the first has stopped.
func TestSecondServeOnOneFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	first, _, err := openMain(t, testMasterKey, "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openMain(t, testMasterKey, "--data", dir); err == nil || !strings.Contains(err.Error(), "another keyward serve is using") {
		t.Fatalf("second serve: %v", err)
	}
	first.Close()
	if _, _, err := openMain(t, testMasterKey, "--data", dir); err != nil {
		t.Fatalf("serve after the first stopped: %v", err)
	}
}

// Boolean settings in the environment take the usual spellings, and a
// value that is none of them is an error rather than false.
func TestEnvironmentBooleans(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "yes": true, "1": true, "On": true, "false": false, "no": false, "0": false, "OFF": false} {
		t.Setenv("KEYWARD_DEMO", v)
		m := NewMain(&bytes.Buffer{})
		if err := m.Parse(nil); err != nil || m.Config.Demo != want {
			t.Errorf("KEYWARD_DEMO=%s: demo %v, err %v", v, m.Config.Demo, err)
		}
	}
	t.Setenv("KEYWARD_DEMO", "maybe")
	badEnv = nil
	t.Cleanup(func() { badEnv = nil })
	m := NewMain(&bytes.Buffer{})
	if err := m.Parse(nil); err == nil || !strings.Contains(err.Error(), `KEYWARD_DEMO="maybe" is not a boolean`) {
		t.Fatalf("KEYWARD_DEMO=maybe: %v", err)
	}
}

// A release build names its version and commit even without the VCS
// stamp (-buildvcs=false), from -ldflags -X.
func TestVersionSetAtLinkTime(t *testing.T) {
	version, commit = "v1.2.3", "feedbeef"
	t.Cleanup(func() { version, commit = "", "" })
	got := versionText(nil)
	if got != "keyward v1.2.3 commit feedbeef" {
		t.Fatalf("version: %q", got)
	}
	if v, c := buildVersion(); v != "v1.2.3" || c != "feedbeef" {
		t.Fatalf("build info: %s %s", v, c)
	}
}
