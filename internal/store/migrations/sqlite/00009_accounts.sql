-- +goose Up
-- A user whose password an administrator reset, or who was given a
-- sign-in link, must choose a password before anything else.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- One-time sign-in links the operator hands a tenant's administrator. The
-- link's secret is stored only as its SHA-256; used_at marks it spent.
CREATE TABLE sign_in_links (
    id         TEXT PRIMARY KEY,
    digest     BLOB NOT NULL UNIQUE,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX sign_in_links_user ON sign_in_links (user_id);

-- +goose Down
DROP TABLE sign_in_links;
ALTER TABLE users DROP COLUMN must_change_password;
