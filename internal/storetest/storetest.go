// Package storetest opens real databases for tests: SQLite in a temporary
// directory, and PostgreSQL in a fresh schema per test.
//
// Migrating a SQLite database takes longer than copying a migrated one,
// so Open migrates once per test binary, keeps the file in memory and
// writes a copy for each test. PostgreSQL schemas are migrated per test:
// cloning a template database instead costs a DROP DATABASE per test,
// which makes the server checkpoint.
//
// PostgreSQL is found at KEYWARD_TEST_DATABASE_URL, or at
// postgres://postgres@127.0.0.1:5432/test when that is unset. When it cannot
// be reached the PostgreSQL tests skip with a message, unless CI or
// KEYWARD_TEST_REQUIRE_POSTGRES is set: then they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/keyward/keyward/internal/store"
)

// DefaultPostgresURL is used when KEYWARD_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the PostgreSQL server tests use.
func PostgresURL() string {
	if u := os.Getenv("KEYWARD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RequirePostgres reports whether PostgreSQL tests must run rather than skip.
func RequirePostgres() bool {
	return os.Getenv("CI") != "" || os.Getenv("KEYWARD_TEST_REQUIRE_POSTGRES") != ""
}

var (
	pgOnce sync.Once
	pgErr  error
)

// SkipWithoutPostgres skips (or, where PostgreSQL is required, fails) tb
// when the test server cannot be reached.
func SkipWithoutPostgres(tb testing.TB) {
	tb.Helper()
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", PostgresURL())
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr == nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL not reachable at %s (%v); set KEYWARD_TEST_DATABASE_URL to run these tests", redact(PostgresURL()), pgErr)
	if RequirePostgres() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Engines lists the engines every store test runs on.
var Engines = []store.Engine{store.SQLite, store.Postgres}

// Each runs fn once per engine as parallel subtests named after it.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, e))
		})
	}
}

// Open returns a migrated, empty database of the engine, removed when tb ends.
func Open(tb testing.TB, e store.Engine) *store.DB {
	tb.Helper()
	ctx := context.Background()
	var u, dir string
	if e == store.SQLite {
		dir = tb.TempDir()
		if err := copySQLiteTemplate(dir); err != nil {
			tb.Fatal(err)
		}
	} else {
		u = NewSchemaURL(tb)
	}
	db, err := store.Open(ctx, u, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// URL returns what store.Open takes to open a fresh database of engine e:
// "" for SQLite (in a data directory of the test's), or the URL of a new
// PostgreSQL schema.
func URL(tb testing.TB, e store.Engine) string {
	if e == store.SQLite {
		return ""
	}
	return NewSchemaURL(tb)
}

// NewSchemaURL creates an empty PostgreSQL schema, dropped when tb ends,
// and returns a URL whose connections use it. Several keyward nodes opened
// on that URL share one database, as in production.
func NewSchemaURL(tb testing.TB) string {
	tb.Helper()
	SkipWithoutPostgres(tb)
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		tb.Fatal(err)
	}
	schema := "kwt_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Tests need no durability; commits without waiting for the disk.
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

var (
	sqliteOnce sync.Once
	sqliteFile []byte
	sqliteErr  error
)

// copySQLiteTemplate writes a migrated, empty keyward.db into dir.
func copySQLiteTemplate(dir string) error {
	sqliteOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "keyward-template-")
		if err != nil {
			sqliteErr = err
			return
		}
		defer os.RemoveAll(tmp)
		db, err := store.Open(context.Background(), "", tmp)
		if err != nil {
			sqliteErr = err
			return
		}
		// Closing the last connection folds the WAL into the file.
		if sqliteErr = db.Close(); sqliteErr != nil {
			return
		}
		sqliteFile, sqliteErr = os.ReadFile(filepath.Join(tmp, "keyward.db"))
	})
	if sqliteErr != nil {
		return fmt.Errorf("migrate the SQLite template: %w", sqliteErr)
	}
	return os.WriteFile(filepath.Join(dir, "keyward.db"), sqliteFile, 0o600)
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
