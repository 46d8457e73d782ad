-- +goose Up
-- Usage rows cover a span of seconds: a minute as written, then an hour
-- or a day once retention rolls older rows up.
ALTER TABLE key_usage ADD COLUMN span INTEGER NOT NULL DEFAULT 60;
CREATE INDEX key_usage_span ON key_usage (span, minute);
-- Retention removes old events (with their deliveries and attempts).
CREATE INDEX webhook_events_created ON webhook_events (created_at);

-- +goose Down
DROP INDEX webhook_events_created;
DROP INDEX key_usage_span;
ALTER TABLE key_usage DROP COLUMN span;
