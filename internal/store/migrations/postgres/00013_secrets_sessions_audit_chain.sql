-- +goose Up
-- A user's TOTP seed, sealed (see internal/seal). Seeds stored in clear in
-- totp_secret by earlier versions are sealed into this column, and cleared
-- there, at the first start with a master key.
ALTER TABLE users ADD COLUMN totp_sealed TEXT;

-- One-time recovery codes for two-factor sign-in, kept as SHA-256 only.
CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest     BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- checked_at is when the session's user last proved their password (and
-- second factor), for actions that ask for it again; grant_hash is what
-- the user was allowed when the session id was issued: when it no longer
-- matches, the session gets a new id.
ALTER TABLE sessions ADD COLUMN checked_at TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN grant_hash TEXT NOT NULL DEFAULT '';

-- The audit log is a hash chain per tenant (chain '' for the operator's
-- entries): each entry holds the hash of the entry before it in its chain.
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';

-- The last entry of each chain. Writers lock this row, so entries of one
-- chain are appended one at a time across nodes.
CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);

-- Checkpoints of each chain, signed with the master keyring (signature
-- is a value sealed over the checkpoint's digest; NULL when no master key
-- was set). A checkpoint written when old entries are trimmed records
-- the last trimmed entry, so the rest of the chain still verifies.
CREATE TABLE audit_checkpoints (
    id              TEXT PRIMARY KEY,
    chain           TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    hash            TEXT NOT NULL,
    trimmed_through BIGINT NOT NULL,
    trimmed_hash    TEXT NOT NULL,
    trimmed_count   BIGINT NOT NULL,
    signature       TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_checkpoints_chain ON audit_checkpoints (chain, created_at);

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_heads;
ALTER TABLE audit DROP COLUMN hash;
ALTER TABLE audit DROP COLUMN prev_hash;
ALTER TABLE sessions DROP COLUMN grant_hash;
ALTER TABLE sessions DROP COLUMN checked_at;
DROP TABLE recovery_codes;
ALTER TABLE users DROP COLUMN totp_sealed;
