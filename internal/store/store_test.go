package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// columns lists table.column pairs of the application's tables.
func columns(t *testing.T, db *store.DB) []string {
	t.Helper()
	var query string
	if db.Engine() == store.SQLite {
		query = `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	} else {
		query = `SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`
	}
	rows, err := db.SQL().Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestMigrationsGiveBothEnginesTheSameColumns(t *testing.T) {
	lite := columns(t, storetest.Open(t, store.SQLite))
	pg := columns(t, storetest.Open(t, store.Postgres))
	if !slices.Equal(lite, pg) {
		t.Fatalf("engines differ:\nsqlite:   %v\npostgres: %v", lite, pg)
	}
	if len(lite) < 40 {
		t.Fatalf("only %d columns; migrations did not run", len(lite))
	}
}

func TestMigrateTwiceIsHarmless(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if _, _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTenantRoundTripAndConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
		ten := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: "acme", Name: "Acme", CreatedAt: at}
		err := db.Write(ctx, func(q *store.Q) error { return q.InsertTenant(ctx, ten) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Read().TenantByDomain(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if *got != *ten {
			t.Fatalf("got %+v, want %+v", got, ten)
		}
		dup := &keyward.Tenant{ID: keyward.NewID("ten"), Domain: "acme", Name: "x", CreatedAt: at}
		err = db.Write(ctx, func(q *store.Q) error { return q.InsertTenant(ctx, dup) })
		if keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("duplicate domain: got %v, want conflict", err)
		}
		if _, err := db.Read().TenantByDomain(ctx, "nope"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("unknown domain: got %v", err)
		}
		exp := at.Add(time.Hour)
		lic := &keyward.Licence{TenantID: ten.ID, APIAccess: true, MaxKeys: 5, ExpiresAt: &exp, UpdatedAt: at}
		if err := db.Write(ctx, func(q *store.Q) error { return q.PutLicence(ctx, lic) }); err != nil {
			t.Fatal(err)
		}
		l, err := db.Read().Licence(ctx, ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !l.APIAccess || l.MaxKeys != 5 || l.ExpiresAt == nil || !l.ExpiresAt.Equal(exp) {
			t.Fatalf("licence round trip: %+v", l)
		}
	})
}

func TestFailedTransactionChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Now().UTC()
		err := db.Write(ctx, func(q *store.Q) error {
			if err := q.InsertTenant(ctx, &keyward.Tenant{ID: "ten_a", Domain: "a", Name: "a", CreatedAt: at}); err != nil {
				return err
			}
			return q.InsertTenant(ctx, &keyward.Tenant{ID: "ten_b", Domain: "a", Name: "b", CreatedAt: at})
		})
		if keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("got %v, want conflict", err)
		}
		if _, err := db.Read().TenantByID(ctx, "ten_a"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("first insert survived a failed transaction: %v", err)
		}
	})
}
