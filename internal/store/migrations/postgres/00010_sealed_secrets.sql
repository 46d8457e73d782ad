-- +goose Up
-- A webhook endpoint's signing secret, sealed (see internal/seal). Endpoints
-- created before this migration kept no secret and have NULL here.
ALTER TABLE webhook_endpoints ADD COLUMN secret_sealed TEXT;

-- One known value sealed with the master key, so that a wrong master key
-- is found at start even when nothing else is sealed yet.
CREATE TABLE seal_canary (
    id         TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE seal_canary;
ALTER TABLE webhook_endpoints DROP COLUMN secret_sealed;
