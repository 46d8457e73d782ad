-- +goose Up
-- One-time links handing over a secret. The link's token and its code are
-- kept only as SHA-256 hashes; the secret is kept sealed (see internal/seal)
-- until the link is opened, burned or expired, and then set to NULL.
CREATE TABLE handovers (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    code_hash     TEXT,
    failed_codes  INTEGER NOT NULL DEFAULT 0,
    secret_sealed TEXT,
    note          TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    opened_at     TIMESTAMPTZ,
    opened_from   TEXT NOT NULL DEFAULT '',
    burned_at     TIMESTAMPTZ
);
CREATE INDEX handovers_tenant_subject ON handovers (tenant_id, subject_id);
CREATE INDEX handovers_sealed_expiry ON handovers (expires_at) WHERE secret_sealed IS NOT NULL;

-- +goose Down
DROP TABLE handovers;
