-- +goose Up
-- Webhook endpoints get a version for ETags and If-Match, raised on every
-- UPDATE as migration 00014 does for the other records.
ALTER TABLE webhook_endpoints ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TRIGGER webhook_endpoints_version BEFORE UPDATE ON webhook_endpoints FOR EACH ROW EXECUTE FUNCTION keyward_next_version();

-- +goose Down
DROP TRIGGER webhook_endpoints_version ON webhook_endpoints;
ALTER TABLE webhook_endpoints DROP COLUMN version;
