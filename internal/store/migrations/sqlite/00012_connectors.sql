-- +goose Up
-- Connections to external systems (Shopify, Magento, Fortnox, another
-- keyward …). Settings that are not secret are kept as JSON; the secret
-- fields (access token, secret, refresh token …) are kept together as one
-- JSON object sealed by the master keyring (see internal/seal), never in
-- clear. secret_names lists which secret fields hold a value.
CREATE TABLE connections (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    name             TEXT NOT NULL,
    name_fold        TEXT NOT NULL,
    store_access     TEXT NOT NULL,
    api_url          TEXT NOT NULL,
    settings         TEXT NOT NULL,
    secret_names     TEXT NOT NULL,
    secrets_sealed   TEXT,
    required_scopes  TEXT NOT NULL,
    enabled          INTEGER NOT NULL,
    state            TEXT NOT NULL,
    -- The last check's result (JSON), when it was made, and when the
    -- credentials last changed: a result newer than the change, within
    -- the type's cache period, is answered again without asking the system.
    verification     TEXT,
    verified_at      TIMESTAMP,
    creds_changed_at TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX connections_tenant_name_fold ON connections (tenant_id, name_fold);

CREATE TABLE connection_stores (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    store_id      TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    PRIMARY KEY (connection_id, store_id)
);
CREATE INDEX connection_stores_store ON connection_stores (store_id);

-- +goose Down
DROP TABLE connection_stores;
DROP TABLE connections;
