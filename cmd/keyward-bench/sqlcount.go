package main

import (
	"fmt"
	"sync/atomic"

	"modernc.org/sqlite"
)

// SQLite asks a connection's authorizer about every statement it compiles,
// and the driver compiles each statement that database/sql sends (the store
// prepares nothing in advance). Installing a counting authorizer on every
// connection the driver opens therefore counts the statements this process
// runs on SQLite, whatever code sends them.
var (
	statements atomic.Int64 // statements compiled: SELECT, INSERT, UPDATE, DELETE, BEGIN/COMMIT, PRAGMA
	reads      atomic.Int64 // table columns read, summed over those statements
)

// countStatements installs the counting authorizer on every SQLite
// connection opened from now on. Call it before opening any database.
func countStatements() {
	sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		a, ok := c.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("the SQLite driver offers no authorizer; statements cannot be counted")
		}
		return a.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
			switch action {
			case sqlite.AuthSelect, sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete,
				sqlite.AuthTransaction, sqlite.AuthPragma, sqlite.AuthSavepoint:
				statements.Add(1)
			case sqlite.AuthRead:
				reads.Add(1)
			}
			return sqlite.AuthorizerOK
		})
	})
}
