-- +goose NO TRANSACTION
-- +goose Up
-- A user's e-mail address is unique within its tenant, not across tenants:
-- one address may belong to users of several tenants, and no tenant learns
-- or reserves another's addresses. SQLite cannot drop a UNIQUE column
-- constraint, so the table is rebuilt, with foreign keys off so that
-- dropping the old table does not cascade to sessions and tokens; the
-- rebuild is one transaction, and every row keeps its id, so the
-- references stay true.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_new (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL,
    profile_id     TEXT NOT NULL REFERENCES profiles(id),
    active         INTEGER NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    totp_secret    TEXT,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, email)
);
INSERT INTO users_new (id, tenant_id, email, name, profile_id, active, password_hash, created_at, updated_at, totp_secret, totp_last_step)
    SELECT id, tenant_id, email, name, profile_id, active, password_hash, created_at, updated_at, totp_secret, totp_last_step FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_tenant ON users (tenant_id);
CREATE INDEX users_email ON users (email);
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_old (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    profile_id     TEXT NOT NULL REFERENCES profiles(id),
    active         INTEGER NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    totp_secret    TEXT,
    totp_last_step BIGINT NOT NULL DEFAULT 0
);
INSERT INTO users_old (id, tenant_id, email, name, profile_id, active, password_hash, created_at, updated_at, totp_secret, totp_last_step)
    SELECT id, tenant_id, email, name, profile_id, active, password_hash, created_at, updated_at, totp_secret, totp_last_step FROM users;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
CREATE INDEX users_tenant ON users (tenant_id);
COMMIT;
PRAGMA foreign_keys = ON;
