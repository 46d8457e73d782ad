-- +goose Up
-- Merchant users sign in to the merchant portal with a password an
-- administrator sets (shown once); only its hash is kept.
ALTER TABLE merchant_users ADD COLUMN password_hash TEXT;

-- Merchant portal sessions, kept apart from staff sessions so that a
-- merchant session can never resolve to a staff user. The id a browser
-- holds is stored only as its SHA-256.
CREATE TABLE merchant_sessions (
    id               TEXT PRIMARY KEY,
    digest           BLOB NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    merchant_user_id TEXT NOT NULL REFERENCES merchant_users(id) ON DELETE CASCADE,
    address          TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    last_seen_at     TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL
);
CREATE INDEX merchant_sessions_user ON merchant_sessions (merchant_user_id);

-- +goose Down
DROP TABLE merchant_sessions;
ALTER TABLE merchant_users DROP COLUMN password_hash;
