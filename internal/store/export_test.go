package store

import "context"

// OpenAt opens a database as Open does but migrates it only up to
// version, so a test can write rows as an older keyward would have.
func OpenAt(ctx context.Context, url, dataDir string, version int64) (*DB, error) {
	db, err := Connect(ctx, url, dataDir)
	if err != nil {
		return nil, err
	}
	if err := db.MigrateTo(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Exec runs a statement written with "?" placeholders on either engine.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.Read().exec(ctx, query, args...)
	return err
}

// ForgetSchemaCheck has db's next write look at the schema again at once.
func ForgetSchemaCheck(db *DB) { db.guard.checked.Store(0) }
