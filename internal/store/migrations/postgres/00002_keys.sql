-- +goose Up
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    permissions  TEXT NOT NULL,
    store_access TEXT NOT NULL,
    methods      TEXT,
    rate_limit   INTEGER NOT NULL,
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE api_key_stores (
    key_id   TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    store_id TEXT NOT NULL REFERENCES stores(id),
    PRIMARY KEY (key_id, store_id)
);
CREATE INDEX api_key_stores_store ON api_key_stores (store_id);

CREATE TABLE api_key_secrets (
    id           TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    slot         INTEGER NOT NULL,
    hint         TEXT NOT NULL,
    digest       BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_key_secrets_key ON api_key_secrets (key_id);

-- The change log: every change to what the data plane holds appends a row,
-- in the same transaction, so nodes can follow it by sequence.
CREATE TABLE changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE changes;
DROP TABLE api_key_secrets;
DROP TABLE api_key_stores;
DROP TABLE api_keys;
