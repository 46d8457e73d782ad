-- +goose Up
-- A key may have a request budget per UTC day, per UTC month or in total
-- (period 'none', a one-off credit); both columns are NULL when it has none.
ALTER TABLE api_keys ADD COLUMN quota_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN quota_period TEXT;

-- What each node allowed under a key's quota, per period, written in
-- batches; the sum over nodes is the period's use. period_start is the
-- period's first instant (the Unix epoch for a credit).
CREATE TABLE key_quota_usage (
    key_id       TEXT NOT NULL,
    period       TEXT NOT NULL,
    period_start TIMESTAMP NOT NULL,
    used         BIGINT NOT NULL,
    PRIMARY KEY (key_id, period, period_start)
);

-- +goose Down
DROP TABLE key_quota_usage;
ALTER TABLE api_keys DROP COLUMN quota_period;
ALTER TABLE api_keys DROP COLUMN quota_limit;
