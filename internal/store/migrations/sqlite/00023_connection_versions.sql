-- +goose Up
-- Connections get a version for ETags and If-Match, raised on every
-- UPDATE as the other records have (00014, 00016).
ALTER TABLE connections ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- +goose StatementBegin
CREATE TRIGGER connections_version AFTER UPDATE ON connections FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN UPDATE connections SET version = OLD.version + 1 WHERE rowid = NEW.rowid; END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER connections_version;
ALTER TABLE connections DROP COLUMN version;
