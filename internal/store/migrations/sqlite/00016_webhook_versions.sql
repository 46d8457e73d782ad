-- +goose Up
-- Webhook endpoints get a version for ETags and If-Match, raised on every
-- UPDATE as migration 00014 does for the other records.
ALTER TABLE webhook_endpoints ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- +goose StatementBegin
CREATE TRIGGER webhook_endpoints_version AFTER UPDATE ON webhook_endpoints FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN UPDATE webhook_endpoints SET version = OLD.version + 1 WHERE rowid = NEW.rowid; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER webhook_endpoints_version;
ALTER TABLE webhook_endpoints DROP COLUMN version;
