package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// cliBackup is "keyward backup --out FILE": a consistent copy of the SQLite
// database taken while it serves.
func cliBackup(ctx context.Context, args []string, out io.Writer) error {
	c := newCLI("backup", out, false)
	to := c.fs.String("out", "", "file to write the copy to; it must not exist (required)")
	if err := c.parse(args, "out"); err != nil {
		return err
	}
	db, err := store.Connect(ctx, c.cfg.DatabaseURL, c.cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := db.Schema(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := db.Backup(ctx, *to); err != nil {
		return err
	}
	fmt.Fprintf(out, "backed up the database (schema %d) to %s in %s\n", s.Current, *to, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(out, "Sealed secrets in it open only with the master key: keep a copy of the key, apart from this file.")
	return nil
}

// cliRestore is "keyward restore --from FILE": the backup takes the place
// of the SQLite database in --data, which no serve may be using.
func cliRestore(ctx context.Context, args []string, out io.Writer) error {
	c := newCLI("restore", out, false)
	from := c.fs.String("from", "", "the backup file written by keyward backup (required)")
	if err := c.parse(args, "from"); err != nil {
		return err
	}
	if c.cfg.DatabaseURL != "" {
		return errors.New("keyward restore replaces a SQLite database; restore PostgreSQL with pg_restore (docs/operations.md)")
	}
	release, err := lockDataDir(c.cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	suffix := time.Now().UTC().Format("20060102T150405Z")
	s, err := store.Restore(ctx, *from, c.cfg.DataDir, suffix)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s (schema %d) into %s; the database it replaced, if any, is keyward.db.replaced-%s\n", *from, s.Current, c.cfg.DataDir, suffix)
	if len(s.Pending) > 0 {
		fmt.Fprintf(out, "the backup is from an older keyward: serve, or keyward migrate, applies %d migrations\n", len(s.Pending))
	}
	return nil
}
