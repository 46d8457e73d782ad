package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/keyward/keyward"
)

// Schema is where a database's schema stands against this build's
// migrations.
type Schema struct {
	// Current is the newest migration applied to the database, 0 for a
	// new, empty one.
	Current int64
	// Latest is the newest migration this build knows.
	Latest int64
	// Pending names the migrations this build would apply, in order.
	Pending []string
}

// Newer reports whether the database has migrations this build does not
// know: it was upgraded by a newer keyward.
func (s Schema) Newer() bool { return s.Current > s.Latest }

// ErrSchemaNewer refuses a database upgraded by a newer keyward: an older
// binary would write rows the newer schema reads differently.
var ErrSchemaNewer = errors.New("the database's schema is newer than this keyward")

// ErrSchemaOlder refuses a database that needs "keyward migrate" before a
// command other than serve or migrate may use it.
var ErrSchemaOlder = errors.New("the database's schema is older than this keyward; run \"keyward migrate\" first")

// provider reads this engine's migrations.
func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.engine))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if db.engine == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.sql, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Schema reports where the database's schema stands.
func (db *DB) Schema(ctx context.Context) (Schema, error) {
	p, err := db.provider()
	if err != nil {
		return Schema{}, err
	}
	return schemaOf(ctx, p)
}

func schemaOf(ctx context.Context, p *goose.Provider) (Schema, error) {
	statuses, err := p.Status(ctx)
	if err != nil {
		return Schema{}, normalise(fmt.Errorf("read the schema version: %w", err))
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return Schema{}, normalise(fmt.Errorf("read the schema version: %w", err))
	}
	s := Schema{Current: current}
	for _, st := range statuses {
		s.Latest = max(s.Latest, st.Source.Version)
		if st.State == goose.StatePending {
			s.Pending = append(s.Pending, path.Base(st.Source.Path))
		}
	}
	return s, nil
}

// Migrate applies every pending migration, each in its own transaction,
// and returns the schema before and after. On PostgreSQL an advisory lock
// keeps nodes starting together in step.
func (db *DB) Migrate(ctx context.Context) (before, after Schema, err error) {
	p, err := db.provider()
	if err != nil {
		return before, after, err
	}
	if before, err = schemaOf(ctx, p); err != nil {
		return before, after, err
	}
	return migrateFrom(ctx, p, before)
}

// migrateFrom applies what before lists as pending.
func migrateFrom(ctx context.Context, p *goose.Provider, before Schema) (_, after Schema, err error) {
	if before.Newer() {
		return before, before, newerError(before)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return before, after, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		slog.Debug("migration applied", "version", r.Source.Version, "file", r.Source.Path)
	}
	after, err = schemaOf(ctx, p)
	return before, after, err
}

// MigrateTo applies the pending migrations up to version only, so that
// upgrade tests can write rows as an older keyward would have.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Prepare readies the schema of a database opened with Connect: it
// refuses one newer than this build knows, applies pending migrations when
// migrate is set or the database is new and empty, and otherwise refuses
// one that needs them. It returns the schema before and after, and has
// Write refuse once a newer keyward migrates the database further.
func (db *DB) Prepare(ctx context.Context, migrate bool) (before, after Schema, err error) {
	p, err := db.provider()
	if err != nil {
		return before, after, err
	}
	if before, err = schemaOf(ctx, p); err != nil {
		return before, after, err
	}
	switch {
	case before.Newer():
		return before, before, newerError(before)
	case len(before.Pending) == 0:
		after = before
	case !migrate && before.Current > 0:
		return before, before, fmt.Errorf("%w (database at %d, this keyward at %d)", ErrSchemaOlder, before.Current, before.Latest)
	default:
		if _, after, err = migrateFrom(ctx, p, before); err != nil {
			return before, after, err
		}
	}
	db.latest = after.Latest
	return before, after, nil
}

func newerError(s Schema) error {
	return fmt.Errorf("%w (database at %d, this keyward knows up to %d): run the newer keyward, "+
		"or restore the backup taken before the upgrade", ErrSchemaNewer, s.Current, s.Latest)
}

// schemaCheckEvery bounds how often a running node looks for a newer
// schema before a write: a node left running beside a newer one stops
// writing within this time of the migration.
const schemaCheckEvery = time.Second

// schemaGuard remembers when the schema was last found current.
type schemaGuard struct {
	checked atomic.Int64 // unix nanoseconds
	newer   atomic.Bool
}

// checkSchema refuses writes once another keyward has migrated the
// database past what this build knows, so an older node in a rolling
// upgrade cannot write rows the new schema reads differently.
func (db *DB) checkSchema(ctx context.Context) error {
	if db.latest == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if !db.guard.newer.Load() && now-db.guard.checked.Load() < int64(schemaCheckEvery) {
		return nil
	}
	var current int64
	err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version`).Scan(&current)
	if err != nil {
		return normalise(err)
	}
	db.guard.checked.Store(now)
	db.guard.newer.Store(current > db.latest)
	if current > db.latest {
		return &keyward.Error{Code: keyward.EUnavailable,
			Message: "This node runs an older keyward than the database's schema; nothing was changed. Upgrade this node.",
			Err:     newerError(Schema{Current: current, Latest: db.latest})}
	}
	return nil
}
