package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// cliMigrate is "keyward migrate [status] [--dry-run]": the one command,
// besides serve, that changes the database's schema. It prints the schema
// version from and to, and the migrations it applies.
func cliMigrate(ctx context.Context, args []string, out io.Writer) error {
	status := len(args) > 0 && args[0] == "status"
	if status {
		args = args[1:]
	}
	c := newCLI("migrate", out, false)
	dryRun := c.fs.Bool("dry-run", false, "print the migrations that would be applied and change nothing")
	if err := c.parse(args); err != nil {
		return err
	}
	db, err := store.Connect(ctx, c.cfg.DatabaseURL, c.cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := db.Schema(ctx)
	if err != nil {
		return err
	}
	if status || *dryRun {
		printSchema(out, db.Engine(), before)
		if before.Newer() {
			return store.ErrSchemaNewer
		}
		return nil
	}
	before, after, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(before.Pending) == 0 {
		fmt.Fprintf(out, "database is up to date (%s, schema %d)\n", db.Engine(), after.Current)
		return nil
	}
	for _, name := range before.Pending {
		fmt.Fprintf(out, "applied %s\n", name)
	}
	fmt.Fprintf(out, "migrated the %s database from schema %d to %d\n", db.Engine(), before.Current, after.Current)
	return nil
}

func printSchema(out io.Writer, engine store.Engine, s store.Schema) {
	fmt.Fprintf(out, "engine:   %s\ndatabase: schema %d\nkeyward:  schema %d\n", engine, s.Current, s.Latest)
	switch {
	case s.Newer():
		fmt.Fprintln(out, "state:    the database is newer than this keyward; run the newer keyward or restore the backup taken before the upgrade")
	case len(s.Pending) == 0:
		fmt.Fprintln(out, "state:    up to date")
	default:
		fmt.Fprintf(out, "state:    %d migrations pending; \"keyward migrate\" applies:\n", len(s.Pending))
		for _, name := range s.Pending {
			fmt.Fprintf(out, "  %s\n", name)
		}
	}
}

// openDatabase opens serve's database: it waits up to --database-wait for
// a database that does not answer yet, keeps a second serve off the same
// SQLite folder, and migrates unless --migrate=false.
func (m *Main) openDatabase(ctx context.Context) (*store.DB, error) {
	if m.Config.DatabaseURL == "" {
		release, err := lockDataDir(m.Config.DataDir)
		if err != nil {
			return nil, err
		}
		m.release = release
	}
	db, err := connectWaiting(ctx, m.Config.DatabaseURL, m.Config.DataDir, m.Config.DatabaseWait)
	if err != nil {
		m.releaseDataDir()
		return nil, err
	}
	before, after, err := db.Prepare(ctx, m.Config.Migrate)
	if err != nil {
		db.Close()
		m.releaseDataDir()
		return nil, err
	}
	if before.Current > 0 && after.Current != before.Current {
		fmt.Fprintf(m.Out, "migrated the %s database from schema %d to %d\n", db.Engine(), before.Current, after.Current)
	}
	return db, nil
}

// connectWaiting connects to a database that may not answer yet, trying
// again with growing pauses until wait has passed.
func connectWaiting(ctx context.Context, url, dataDir string, wait time.Duration) (*store.DB, error) {
	deadline := time.Now().Add(wait)
	for pause := 500 * time.Millisecond; ; pause = min(2*pause, 8*time.Second) {
		db, err := store.Connect(ctx, url, dataDir)
		if err == nil || !store.IsUnreachable(err) || time.Now().Add(pause).After(deadline) {
			return db, err
		}
		slog.Warn("database unavailable; trying again", "in", pause.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (m *Main) releaseDataDir() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// lockDataDir takes the SQLite folder for this process: a second serve on
// the same folder would run a second replica and dispatcher over one file.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another keyward serve is using %s; stop it first, or give this one another --data folder", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
