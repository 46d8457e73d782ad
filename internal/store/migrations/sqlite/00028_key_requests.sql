-- +goose Up
-- Integrators registered to ask for keys through a signed link: per tenant,
-- or for the whole platform (tenant_id ''). The signing secret is sealed.
CREATE TABLE integrators (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    callback_url  TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    secret_hint   TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX integrators_tenant ON integrators (tenant_id);

-- A key asked for by a link, and what became of it. nonce_scope and nonce
-- make each link usable once. The key's secrets wait sealed in
-- payload_sealed while the callback delivery is pending, and are erased
-- once it ends.
CREATE TABLE key_requests (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    integrator_id      TEXT NOT NULL,
    integrator_name    TEXT NOT NULL,
    nonce_scope        TEXT NOT NULL,
    nonce              TEXT NOT NULL,
    requested          TEXT NOT NULL,
    granted            TEXT,
    status             TEXT NOT NULL,
    link_expires_at    TIMESTAMP NOT NULL,
    key_id             TEXT NOT NULL DEFAULT '',
    decided_by         TEXT NOT NULL DEFAULT '',
    decided_at         TIMESTAMP,
    delivery_via       TEXT NOT NULL,
    delivery_status    TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMP,
    claimed_until      TIMESTAMP,
    last_attempt_at    TIMESTAMP,
    last_status        INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT NOT NULL DEFAULT '',
    payload_sealed     TEXT,
    created_at         TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX key_requests_nonce ON key_requests (nonce_scope, nonce);
CREATE INDEX key_requests_tenant ON key_requests (tenant_id, created_at);
CREATE INDEX key_requests_due ON key_requests (delivery_status, next_attempt_at);

-- +goose Down
DROP TABLE key_requests;
DROP TABLE integrators;
