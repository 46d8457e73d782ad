-- +goose Up
-- Endpoints receive the events of the stores they choose, or of all of
-- them; a rolled secret keeps signing beside the new one until its overlap
-- ends; an endpoint failing for days is disabled with the reason kept.
CREATE TABLE webhook_endpoints_new (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    store_access            TEXT NOT NULL,
    store_ids               TEXT NOT NULL,
    url                     TEXT NOT NULL,
    events                  TEXT NOT NULL,
    enabled                 INTEGER NOT NULL,
    secret_hint             TEXT NOT NULL,
    description             TEXT NOT NULL,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL,
    secret_sealed           TEXT,
    previous_secret_sealed  TEXT,
    previous_secret_until   TIMESTAMP,
    failing_since           TIMESTAMP,
    disabled_reason         TEXT NOT NULL DEFAULT ''
);
INSERT INTO webhook_endpoints_new (id, tenant_id, store_access, store_ids, url, events, enabled, secret_hint, description, created_at, updated_at, secret_sealed)
    SELECT id, tenant_id, 'selected', '["' || store_id || '"]', url, events, enabled, secret_hint, description, created_at, updated_at, secret_sealed FROM webhook_endpoints;
DROP TABLE webhook_endpoints;
ALTER TABLE webhook_endpoints_new RENAME TO webhook_endpoints;
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

-- An event as sent: written in the transaction of the change it reports.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    store_ids  TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, created_at);

-- The outbox: one row per event and endpoint, due at next_attempt_at, held
-- by a node until claimed_until while it is being sent.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    claimed_until   TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Every attempt, for the endpoint's delivery log.
CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    at            TIMESTAMP NOT NULL,
    status_code   INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    error         TEXT NOT NULL,
    response      TEXT NOT NULL,
    next_retry_at TIMESTAMP
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
CREATE TABLE webhook_endpoints_old (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    secret_hint TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    secret_sealed TEXT
);
INSERT INTO webhook_endpoints_old SELECT id, tenant_id, json_extract(store_ids, '$[0]'), url, events, enabled, secret_hint, description, created_at, updated_at, secret_sealed
    FROM webhook_endpoints WHERE store_access = 'selected';
DROP TABLE webhook_endpoints;
ALTER TABLE webhook_endpoints_old RENAME TO webhook_endpoints;
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, store_id);
