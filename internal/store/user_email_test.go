package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

// Migration 00007 makes a user's e-mail address unique within its tenant
// only. On SQLite it rebuilds the users table: the users, and the sessions
// and tokens that refer to them, must all survive it.
func TestEmailMigrationKeepsUsersSessionsAndTokens(t *testing.T) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			ctx := context.Background()
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db := migrateOver(t, e, 6, []row{
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_a", "a", "A", at}},
				{`INSERT INTO tenants (id, domain, name, created_at) VALUES (?, ?, ?, ?)`, []any{"ten_b", "b", "B", at}},
				{`INSERT INTO profiles (id, tenant_id, name, features, created_at, updated_at) VALUES (?, ?, ?, '[]', ?, ?)`, []any{"prf_a", "ten_a", "Staff", at, at}},
				{`INSERT INTO profiles (id, tenant_id, name, features, created_at, updated_at) VALUES (?, ?, ?, '[]', ?, ?)`, []any{"prf_b", "ten_b", "Staff", at, at}},
				{`INSERT INTO users (id, tenant_id, email, name, profile_id, active, password_hash, created_at, updated_at, totp_secret, totp_last_step)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{"usr_a", "ten_a", "ana@demo.test", "Ana", "prf_a", true, "hash", at, at, "SEED", 42}},
				{`INSERT INTO sessions (id, digest, tenant_id, user_id, pending_mfa, address, created_at, last_seen_at, expires_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{"ses_a", []byte("digest-s"), "ten_a", "usr_a", false, "192.0.2.1", at, at, at.Add(time.Hour)}},
				{`INSERT INTO tokens (id, tenant_id, user_id, name, hint, digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					[]any{"tok_a", "ten_a", "usr_a", "ci", "kwp_…", []byte("digest-t"), at}},
			})
			q := db.Read()
			u, err := q.User(ctx, "ten_a", "ana@demo.test")
			if err != nil || u.ID != "usr_a" || u.PasswordHash != "hash" || !u.Active {
				t.Fatalf("user after migrating: %+v, %v", u, err)
			}
			if seed, step, err := q.UserTOTP(ctx, "usr_a"); err != nil || seed != "SEED" || step != 42 {
				t.Fatalf("second factor after migrating: %q %d %v", seed, step, err)
			}
			if s, err := q.SessionByDigest(ctx, []byte("digest-s")); err != nil || s.UserID != "usr_a" {
				t.Fatalf("session after migrating: %+v, %v", s, err)
			}
			if tok, err := q.TokenByDigest(ctx, []byte("digest-t")); err != nil || tok.UserID != "usr_a" {
				t.Fatalf("token after migrating: %+v, %v", tok, err)
			}

			// The address is now free in tenant b, and still taken in tenant a.
			mk := func(id, tenant string) error {
				return db.Write(ctx, func(q *store.Q) error {
					return q.InsertUser(ctx, &keyward.User{ID: id, TenantID: tenant, Email: "ana@demo.test", Name: "Ana",
						ProfileID: "prf_" + tenant[len(tenant)-1:], Active: true, PasswordHash: "h", CreatedAt: at, UpdatedAt: at})
				})
			}
			if err := mk("usr_b", "ten_b"); err != nil {
				t.Fatalf("the same address in another tenant: %v", err)
			}
			if err := mk("usr_a2", "ten_a"); keyward.ErrorCode(err) != keyward.EConflict {
				t.Fatalf("the same address twice in one tenant: %v, want conflict", err)
			}
			users, err := q.UsersByEmail(ctx, "ana@demo.test", "")
			if err != nil || len(users) != 2 {
				t.Fatalf("users holding the address: %d, %v", len(users), err)
			}
			if users, err := q.UsersByEmail(ctx, "ana@demo.test", "b"); err != nil || len(users) != 1 || users[0].ID != "usr_b" {
				t.Fatalf("users holding the address in tenant b: %v, %v", users, err)
			}

			// References are enforced again after the rebuild.
			err = db.Exec(ctx, `INSERT INTO sessions (id, digest, tenant_id, user_id, pending_mfa, address, created_at, last_seen_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, "ses_x", []byte("digest-x"), "ten_a", "usr_nobody", false, "", at, at, at)
			if err == nil {
				t.Fatal("a session of no user was accepted after the migration: foreign keys are off")
			}
			// Deleting a user still cascades to its sessions.
			if err := db.Exec(ctx, `DELETE FROM users WHERE id = ?`, "usr_a"); err != nil {
				t.Fatal(err)
			}
			if _, err := q.SessionByDigest(ctx, []byte("digest-s")); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Fatalf("session of a deleted user: %v", err)
			}
		})
	}
}
