-- +goose Up
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    permissions  TEXT NOT NULL,
    store_access TEXT NOT NULL,
    methods      TEXT,
    rate_limit   INTEGER NOT NULL,
    expires_at   TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
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
    digest       BLOB NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX api_key_secrets_key ON api_key_secrets (key_id);

-- The change log: every change to what the data plane holds appends a row,
-- in the same transaction, so nodes can follow it by sequence.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    at         TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE changes;
DROP TABLE api_key_secrets;
DROP TABLE api_key_stores;
DROP TABLE api_keys;
