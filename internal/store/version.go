package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// Versioned tables and the column naming their records. Each has a
// version column that a trigger raises on every update (migration 00014).
var versionedTables = map[string]string{
	"api_keys":       "id",
	"stores":         "id",
	"profiles":       "id",
	"users":          "id",
	"merchants":      "id",
	"merchant_users": "id",
	"licences":       "tenant_id",
	// migration 00016
	"webhook_endpoints": "id",
	// migration 00023
	"connections": "id",
	// migration 00026
	"key_policies": "tenant_id",
}

// Version returns the version of the record id of table. Inside Write on
// PostgreSQL it locks the row until the transaction ends, so a version
// checked against If-Match stays current until the change is written;
// SQLite transactions hold the database's write lock from BEGIN.
func (q *Q) Version(ctx context.Context, table, id string) (int64, error) {
	col, ok := versionedTables[table]
	if !ok {
		return 0, fmt.Errorf("store: %q has no version", table)
	}
	query := `SELECT version FROM ` + table + ` WHERE ` + col + ` = ?`
	if q.tx && q.engine == Postgres {
		query += ` FOR UPDATE`
	}
	var v int64
	err := q.row(ctx, query, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, keyward.Errorf(keyward.ENotFound, "no such record")
	}
	return v, normalise(err)
}
