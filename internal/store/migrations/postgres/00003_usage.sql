-- +goose Up
-- Requests per key per minute, written in batches by each node.
CREATE TABLE key_usage (
    key_id   TEXT NOT NULL,
    minute   TIMESTAMPTZ NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (key_id, minute)
);

-- +goose Down
DROP TABLE key_usage;
