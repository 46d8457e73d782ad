-- +goose Up
-- The keys signing the identity headers the gateway and forward-auth send
-- upstream, sealed with the master key and shared by every node. One key
-- signs (current); during a rotation a next key is published before it
-- signs, and the previous one keeps verifying until it is retired.
CREATE TABLE identity_keys (
    id            TEXT PRIMARY KEY,
    secret_sealed TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('next', 'current', 'previous')),
    created_at    TIMESTAMP NOT NULL,
    activated_at  TIMESTAMP
);
-- At most one key signs and one waits: two nodes creating the first key
-- at once create one.
CREATE UNIQUE INDEX identity_keys_one_per_state ON identity_keys (state) WHERE state IN ('next', 'current');

-- +goose Down
DROP TABLE identity_keys;
