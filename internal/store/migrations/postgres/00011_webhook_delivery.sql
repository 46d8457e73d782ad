-- +goose Up
-- Endpoints receive the events of the stores they choose, or of all of
-- them; a rolled secret keeps signing beside the new one until its overlap
-- ends; an endpoint failing for days is disabled with the reason kept.
ALTER TABLE webhook_endpoints ADD COLUMN store_access TEXT NOT NULL DEFAULT 'selected';
ALTER TABLE webhook_endpoints ADD COLUMN store_ids TEXT NOT NULL DEFAULT '[]';
UPDATE webhook_endpoints SET store_ids = '["' || store_id || '"]';
ALTER TABLE webhook_endpoints ALTER COLUMN store_access DROP DEFAULT;
ALTER TABLE webhook_endpoints ALTER COLUMN store_ids DROP DEFAULT;
DROP INDEX webhook_endpoints_tenant;
ALTER TABLE webhook_endpoints DROP COLUMN store_id;
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_sealed TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until TIMESTAMPTZ;
ALTER TABLE webhook_endpoints ADD COLUMN failing_since TIMESTAMPTZ;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';

-- An event as sent: written in the transaction of the change it reports.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    store_ids  TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
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
    next_attempt_at TIMESTAMPTZ,
    claimed_until   TIMESTAMPTZ,
    last_attempt_at TIMESTAMPTZ,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Every attempt, for the endpoint's delivery log.
CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    status_code   INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    error         TEXT NOT NULL,
    response      TEXT NOT NULL,
    next_retry_at TIMESTAMPTZ
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
ALTER TABLE webhook_endpoints DROP COLUMN disabled_reason;
ALTER TABLE webhook_endpoints DROP COLUMN failing_since;
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_until;
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_sealed;
DELETE FROM webhook_endpoints WHERE store_access <> 'selected';
ALTER TABLE webhook_endpoints ADD COLUMN store_id TEXT REFERENCES stores(id);
UPDATE webhook_endpoints SET store_id = (store_ids::jsonb)->>0;
ALTER TABLE webhook_endpoints ALTER COLUMN store_id SET NOT NULL;
DROP INDEX webhook_endpoints_tenant;
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, store_id);
ALTER TABLE webhook_endpoints DROP COLUMN store_ids;
ALTER TABLE webhook_endpoints DROP COLUMN store_access;
