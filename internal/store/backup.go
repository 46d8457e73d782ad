package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrBackupPostgres says that keyward leaves PostgreSQL's backups to
// pg_dump, which the runbook documents.
var ErrBackupPostgres = errors.New("keyward backup copies SQLite databases; back up PostgreSQL with pg_dump (docs/operations.md)")

// Backup writes a consistent copy of the SQLite database to path, which
// must not exist yet, while the database stays in use: SQLite's VACUUM
// INTO reads one snapshot, so every write committed before it began is
// in the copy, and none half-done. The copy is created mode 0600.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.engine != SQLite {
		return ErrBackupPostgres
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(abs, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Restore puts the backup at from in place of the SQLite database in dir,
// which no node may be serving. It checks the copy first (SQLite's
// integrity check, and a schema this build knows), then moves the
// database it replaces aside as keyward.db.replaced-<time> with its -wal
// file, so that nothing is lost if the wrong backup was chosen. It returns
// the restored database's schema; serve or "keyward migrate" brings an
// older one up to date.
func Restore(ctx context.Context, from, dir string, suffix string) (Schema, error) {
	src, err := os.Open(from)
	if err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	work := filepath.Join(dir, "restoring")
	if err := os.RemoveAll(work); err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(work)
	dst, err := os.OpenFile(filepath.Join(work, "keyward.db"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Schema{}, fmt.Errorf("restore: %w", err)
	}
	s, err := checkCopy(ctx, work)
	if err != nil {
		return s, err
	}
	live := filepath.Join(dir, "keyward.db")
	if _, err := os.Stat(live); err == nil {
		aside := live + ".replaced-" + suffix
		for _, ext := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(live+ext, aside+ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return s, fmt.Errorf("restore: move the current database aside: %w", err)
			}
		}
	}
	if err := os.Rename(filepath.Join(work, "keyward.db"), live); err != nil {
		return s, fmt.Errorf("restore: %w", err)
	}
	return s, nil
}

// checkCopy opens the SQLite copy in dir and checks it is whole and of a
// schema this build can serve.
func checkCopy(ctx context.Context, dir string) (Schema, error) {
	db, err := openSQLite(ctx, dir)
	if err != nil {
		return Schema{}, fmt.Errorf("restore: the backup cannot be opened (%w); nothing was changed", err)
	}
	defer db.Close()
	var check string
	if err := db.sql.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		return Schema{}, fmt.Errorf("restore: the backup is damaged (integrity check: %s %v); nothing was changed", check, err)
	}
	s, err := db.Schema(ctx)
	if err != nil {
		return s, fmt.Errorf("restore: %w; nothing was changed", err)
	}
	if s.Current == 0 {
		return s, errors.New("restore: the file is not a keyward database; nothing was changed")
	}
	if s.Newer() {
		return s, fmt.Errorf("restore: %w; nothing was changed", newerError(s))
	}
	return s, nil
}
