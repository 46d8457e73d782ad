package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// sameDatabase opens a second handle on db's database, with open.
func sameDatabase(t *testing.T, db *store.DB, dir string, open func(context.Context, string, string) (*store.DB, error)) (*store.DB, error) {
	t.Helper()
	other, err := open(context.Background(), db.URL(), dir)
	if err == nil {
		t.Cleanup(func() { other.Close() })
	}
	return other, err
}

// A database migrated by a newer keyward is refused by every way of
// opening it, and a node already running stops writing once it sees the
// newer schema: an older binary must not write rows the new schema reads
// differently.
func TestNewerSchemaIsRefused(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir, url := t.TempDir(), storetest.URL(t, e)
			db, err := store.Open(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err := db.Schema(ctx)
			if err != nil || s.Current != s.Latest || len(s.Pending) != 0 {
				t.Fatalf("a new database is not current: %+v %v", s, err)
			}
			ten := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: "before", Name: "Before"}
			if err := db.Write(ctx, func(q *store.Q) error { return q.InsertTenant(ctx, ten) }); err != nil {
				t.Fatal(err)
			}
			// A newer keyward's migration.
			if err := db.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`, s.Latest+1, true); err != nil {
				t.Fatal(err)
			}
			for name, open := range map[string]func(context.Context, string, string) (*store.DB, error){
				"Open": store.Open, "OpenCurrent": store.OpenCurrent,
			} {
				if _, err := sameDatabase(t, db, dir, open); !errors.Is(err, store.ErrSchemaNewer) {
					t.Errorf("%s on a newer schema: %v", name, err)
				}
			}
			if _, _, err := db.Migrate(ctx); !errors.Is(err, store.ErrSchemaNewer) {
				t.Errorf("Migrate on a newer schema: %v", err)
			}
			store.ForgetSchemaCheck(db)
			after := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: "after", Name: "After"}
			err = db.Write(ctx, func(q *store.Q) error { return q.InsertTenant(ctx, after) })
			if keyward.ErrorCode(err) != keyward.EUnavailable {
				t.Fatalf("a write by the older node: %v", err)
			}
			if _, err := db.Read().TenantByDomain(ctx, "after"); err == nil {
				t.Error("the older node's write was stored")
			}
		})
	}
}

// Only migrate and serve change an existing database's schema: other
// commands open it with OpenCurrent, which refuses one that needs
// migrations and changes nothing. A new, empty database is set up.
func TestOlderSchemaNeedsMigrate(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir, url := t.TempDir(), storetest.URL(t, e)
			old, err := store.OpenAt(ctx, url, dir, 16)
			if err != nil {
				t.Fatal(err)
			}
			old.Close()
			if _, err := store.OpenCurrent(ctx, url, dir); !errors.Is(err, store.ErrSchemaOlder) {
				t.Fatalf("OpenCurrent on an older schema: %v", err)
			}
			db, err := store.Connect(ctx, url, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err := db.Schema(ctx)
			if err != nil || s.Current != 16 || len(s.Pending) == 0 || s.Pending[0] != "00017_merchant_totp_key_grace_store_active.sql" {
				t.Fatalf("schema of the older database: %+v %v", s, err)
			}
			before, after, err := db.Migrate(ctx)
			if err != nil || before.Current != 16 || after.Current != s.Latest || len(after.Pending) != 0 {
				t.Fatalf("migrate: %+v → %+v %v", before, after, err)
			}
			fresh, err := store.OpenCurrent(ctx, "", t.TempDir())
			if err != nil {
				t.Fatalf("OpenCurrent on a new database: %v", err)
			}
			fresh.Close()
		})
	}
}

// The SQLite file is readable by keyward's user alone.
func TestSQLiteFileIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "keyward.db"): 0o600, filepath.Join(dir, "keyward.db-wal"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}
