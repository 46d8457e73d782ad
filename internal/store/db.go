// Package store keeps keyward's records in SQLite or PostgreSQL. One
// implementation serves both engines: SQL is written once with "?"
// placeholders and a small dialect type handles what differs. Every write
// runs in one transaction; numbered migrations per engine run on open.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
)

//go:embed migrations
var migrations embed.FS

// Engine names a database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open keyward database.
type DB struct {
	sql    *sql.DB
	engine Engine
	dsn    string
	// writing queues this process's SQLite writers. SQLite has one writer
	// at a time, and a writer that finds the lock taken sleeps in its busy
	// handler for growing intervals (up to 100 ms) rather than being woken
	// when the lock is freed: under many writers, waits grow long and
	// unfair. Waiting here instead hands the lock on at once, in turn.
	writing sync.Mutex
	// latest is the newest migration this build knows, once the schema
	// was found current; guard watches for a newer keyward's migrations.
	latest int64
	guard  schemaGuard
}

// IsPostgresURL reports whether s names a PostgreSQL database.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open opens the database: PostgreSQL when url is a postgres:// URL,
// otherwise SQLite in the file keyward.db inside dataDir. It applies every
// pending migration before returning, and refuses a database whose schema
// is newer than this build knows. Serving and "keyward migrate" open this
// way; other commands use OpenCurrent.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	return open(ctx, url, dataDir, true)
}

// OpenCurrent opens the database as Open does, but changes the schema of
// a new, empty database only: one at an older schema is refused with
// ErrSchemaOlder (run "keyward migrate"), one at a newer schema with
// ErrSchemaNewer.
func OpenCurrent(ctx context.Context, url, dataDir string) (*DB, error) {
	return open(ctx, url, dataDir, false)
}

func open(ctx context.Context, url, dataDir string, migrate bool) (*DB, error) {
	db, err := Connect(ctx, url, dataDir)
	if err != nil {
		return nil, err
	}
	if _, _, err := db.Prepare(ctx, migrate); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect opens the database and leaves its schema as it is: Prepare
// readies it, or "keyward migrate status" reads it.
func Connect(ctx context.Context, url, dataDir string) (*DB, error) {
	var db *DB
	var err error
	if url != "" {
		if !IsPostgresURL(url) {
			return nil, fmt.Errorf("database URL must start with postgres:// or postgresql://")
		}
		db, err = openPostgres(ctx, url)
	} else {
		db, err = openSQLite(ctx, dataDir)
	}
	if err != nil {
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, dir string) (*DB, error) {
	if dir == "" {
		return nil, errors.New("a data directory is required for SQLite")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, "keyward.db")
	// Created here rather than by SQLite, so that only keyward's user can
	// read it; SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
	// Immediate transactions take the write lock at BEGIN, so two writers
	// wait on the busy timeout instead of failing on lock upgrade.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{sql: sdb, engine: SQLite, dsn: path}, nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	sdb, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	sdb.SetMaxOpenConns(20)
	sdb.SetMaxIdleConns(10)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sdb.PingContext(pctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", errUnreachable{err})
	}
	return &DB{sql: sdb, engine: Postgres, dsn: url}, nil
}

// Engine reports the engine in use.
func (db *DB) Engine() Engine { return db.engine }

// URL returns the PostgreSQL URL, or "" for SQLite.
func (db *DB) URL() string {
	if db.engine == Postgres {
		return db.dsn
	}
	return ""
}

// SQL returns the underlying handle, for tests and health checks.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs queries, inside a transaction (from Write) or not (from Read).
type Q struct {
	q      querier
	engine Engine
	tx     bool
	// path is the SQLite file, which scans of whole tables read on a
	// connection of their own (see sqliteRows); "" in a transaction.
	path string
	// committed runs after the transaction commits (see AfterCommit).
	committed []func()
}

// AfterCommit has fn run once the transaction q belongs to has committed,
// and never if it rolls back; outside a transaction, fn runs at once. It
// is for telling others about a change only when they can see it.
func (q *Q) AfterCommit(fn func()) {
	if !q.tx {
		fn()
		return
	}
	q.committed = append(q.committed, fn)
}

// Read returns a Q for reads outside a transaction.
func (db *DB) Read() *Q {
	q := &Q{q: db.sql, engine: db.engine}
	if db.engine == SQLite {
		q.path = db.dsn
	}
	return q
}

// Snapshot runs fn in one read-only transaction, which sees the database
// as it was when the transaction began however many nodes write
// meanwhile: for reading several tables that must agree.
func (db *DB) Snapshot(ctx context.Context, fn func(q *Q) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.engine == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return normalise(err)
	}
	defer tx.Rollback()
	return fn(&Q{q: tx, engine: db.engine, tx: true})
}

// Write runs fn in one transaction, committing when fn returns nil.
func (db *DB) Write(ctx context.Context, fn func(q *Q) error) error {
	if err := db.checkSchema(ctx); err != nil {
		return err
	}
	if db.engine == SQLite {
		db.writing.Lock()
		defer db.writing.Unlock()
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return normalise(err)
	}
	q := &Q{q: tx, engine: db.engine, tx: true}
	if err := fn(q); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return normalise(err)
	}
	for _, f := range q.committed {
		f()
	}
	return nil
}

// rebind turns "?" placeholders into "$1", "$2"… for PostgreSQL.
func (q *Q) rebind(query string) string {
	if q.engine != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (q *Q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.q.ExecContext(ctx, q.rebind(query), args...)
	return res, normalise(err)
}

func (q *Q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.q.QueryContext(ctx, q.rebind(query), args...)
	return rows, normalise(err)
}

func (q *Q) row(ctx context.Context, query string, args ...any) *sql.Row {
	return q.q.QueryRowContext(ctx, q.rebind(query), args...)
}

// Engine differences in error reporting, normalised by code.
var (
	errUnique  = errors.New("unique constraint violated")
	errForeign = errors.New("foreign key constraint violated")
)

// normalise maps driver errors to the domain: unavailable databases and
// constraint violations are recognised by code, never by message.
func normalise(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return fmt.Errorf("%w: %s", errUnique, pg.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: %s", errForeign, pg.ConstraintName)
		}
		if strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P") {
			return unavailable(err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errUnique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errForeign
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return unavailable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	// A deadline passing means the database did not answer in the time a
	// request may wait (--database-timeout).
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ce) || errors.Is(err, sql.ErrConnDone) || isNetError(err) {
		return unavailable(err)
	}
	return err
}

// unavailableErrors counts the errors answered as "the database is
// unavailable", for the metrics.
var unavailableErrors atomic.Int64

// UnavailableErrors returns how many database operations this process has
// seen fail because the database did not answer in time or at all.
func UnavailableErrors() int64 { return unavailableErrors.Load() }

func unavailable(err error) error {
	unavailableErrors.Add(1)
	return &keyward.Error{Code: keyward.EUnavailable, Message: "The database is unavailable; nothing was changed. Try again shortly.", Err: err}
}

// IsUnique reports whether err is a unique-constraint violation.
func IsUnique(err error) bool { return errors.Is(err, errUnique) }

// IsForeignKey reports whether err is a foreign-key violation.
func IsForeignKey(err error) bool { return errors.Is(err, errForeign) }

// nullTime converts an optional time for a query argument.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// timePtr converts a scanned nullable time.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}
