-- +goose Up
-- Connections get a version for ETags and If-Match, raised on every
-- UPDATE as the other records have (00014, 00016).
ALTER TABLE connections ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TRIGGER connections_version BEFORE UPDATE ON connections FOR EACH ROW EXECUTE FUNCTION keyward_next_version();

-- +goose Down
DROP TRIGGER connections_version ON connections;
ALTER TABLE connections DROP COLUMN version;
