package store

import "context"

// OpenAt opens a database as Open does but migrates it only up to
// version, so a test can write rows as an older keyward would have.
func OpenAt(ctx context.Context, url, dataDir string, version int64) (*DB, error) {
	var db *DB
	var err error
	if url != "" {
		db, err = openPostgres(ctx, url)
	} else {
		db, err = openSQLite(ctx, dataDir)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, version); err != nil {
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
