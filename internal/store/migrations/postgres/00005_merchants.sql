-- +goose Up
CREATE TABLE merchants (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE merchant_stores (
    merchant_id TEXT NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    PRIMARY KEY (merchant_id, store_id)
);

CREATE TABLE merchant_users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    level           INTEGER NOT NULL,
    api_access      BOOLEAN NOT NULL,
    account_id      TEXT UNIQUE,
    auth_key_hint   TEXT,
    auth_key_digest BYTEA UNIQUE,
    api_enabled_at  TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, email)
);
CREATE INDEX merchant_users_merchant ON merchant_users (merchant_id);

-- Records created through the gateway by a merchant; only that merchant
-- may read, change or delete them.
CREATE TABLE record_owners (
    tenant_id   TEXT NOT NULL,
    resource    TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, resource, record_id)
);

-- +goose Down
DROP TABLE record_owners;
DROP TABLE merchant_users;
DROP TABLE merchant_stores;
DROP TABLE merchants;
