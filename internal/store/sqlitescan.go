package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteRows reads the rows of one query on a SQLite connection of its
// own, opened read-only and used by the calling goroutine alone. The
// driver opens every connection with SQLITE_OPEN_FULLMUTEX, whose mutex,
// emulated in Go, it takes around every column it reads, and it copies
// every text column into a new string: for a scan of a million rows that
// was half the CPU. This connection is opened with SQLITE_OPEN_NOMUTEX,
// and fn reads each row's columns in place.
//
// It serves scans of whole tables in one statement (one snapshot), with
// no arguments.
func sqliteRows(ctx context.Context, path, query string, fn func(r *sqliteRow) error) (err error) {
	tls := libc.NewTLS()
	defer tls.Close()
	// Room for the connection and statement handles SQLite hands back.
	out := libc.Xmalloc(tls, 2*8)
	if out == 0 {
		return fmt.Errorf("sqlite: out of memory")
	}
	defer libc.Xfree(tls, out)
	cpath, err := libc.CString(path)
	if err != nil {
		return err
	}
	defer libc.Xfree(tls, cpath)
	rc := sqlite3.Xsqlite3_open_v2(tls, cpath, out, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	db := *(*uintptr)(unsafe.Add(nil, out))
	if db != 0 {
		defer sqlite3.Xsqlite3_close_v2(tls, db)
	}
	if rc != sqlite3.SQLITE_OK {
		return sqliteErr(tls, db, rc, "open "+path)
	}
	sqlite3.Xsqlite3_busy_timeout(tls, db, 10000)
	cquery, err := libc.CString(query)
	if err != nil {
		return err
	}
	defer libc.Xfree(tls, cquery)
	if rc := sqlite3.Xsqlite3_prepare_v2(tls, db, cquery, -1, out+8, 0); rc != sqlite3.SQLITE_OK {
		return sqliteErr(tls, db, rc, "prepare")
	}
	r := &sqliteRow{tls: tls, stmt: *(*uintptr)(unsafe.Add(nil, out+8))}
	defer sqlite3.Xsqlite3_finalize(tls, r.stmt)
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch rc := sqlite3.Xsqlite3_step(tls, r.stmt); rc {
		case sqlite3.SQLITE_ROW:
			if err := fn(r); err != nil {
				return err
			}
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return sqliteErr(tls, db, rc, "step")
		}
	}
}

func sqliteErr(tls *libc.TLS, db uintptr, rc int32, what string) error {
	msg := "out of memory"
	if db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(tls, db))
	}
	return fmt.Errorf("sqlite: %s: %s (%d)", what, msg, rc)
}

// sqliteRow is the current row of sqliteRows. What its methods return
// points into SQLite's memory and is valid until the next row.
type sqliteRow struct {
	tls  *libc.TLS
	stmt uintptr
}

// null reports whether column i is NULL.
func (r *sqliteRow) null(i int) bool {
	return sqlite3.Xsqlite3_column_type(r.tls, r.stmt, int32(i)) == sqlite3.SQLITE_NULL
}

// text returns column i as text, in place.
func (r *sqliteRow) text(i int) string {
	p := sqlite3.Xsqlite3_column_text(r.tls, r.stmt, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(r.tls, r.stmt, int32(i))
	if p == 0 || n == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(nil, p)), n)
}

// blob returns column i as bytes, in place.
func (r *sqliteRow) blob(i int) []byte {
	p := sqlite3.Xsqlite3_column_blob(r.tls, r.stmt, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(r.tls, r.stmt, int32(i))
	if p == 0 || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(nil, p)), n)
}

// int64 returns column i as an integer.
func (r *sqliteRow) int64(i int) int64 {
	return sqlite3.Xsqlite3_column_int64(r.tls, r.stmt, int32(i))
}

// sqliteTimeFormats are the layouts the driver reads a time column in, in
// its order; keyward writes the first.
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseSQLiteTime reads a time column's text as the driver does.
func parseSQLiteTime(s string) (time.Time, error) {
	ts, _ := strings.CutSuffix(s, "Z")
	for _, f := range sqliteTimeFormats {
		if t, err := time.Parse(f, ts); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("sqlite: cannot read %q as a time", s)
}
