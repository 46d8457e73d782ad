-- +goose Up
-- A version per record, for ETags and If-Match: it starts at 1 and a
-- trigger adds 1 on every UPDATE, whoever writes it, so a change made by
-- any node or any code path moves it.
ALTER TABLE api_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE stores ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE profiles ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE merchants ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE merchant_users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE licences ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- +goose StatementBegin
CREATE FUNCTION keyward_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER api_keys_version BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER stores_version BEFORE UPDATE ON stores FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER profiles_version BEFORE UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER merchants_version BEFORE UPDATE ON merchants FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER merchant_users_version BEFORE UPDATE ON merchant_users FOR EACH ROW EXECUTE FUNCTION keyward_next_version();
CREATE TRIGGER licences_version BEFORE UPDATE ON licences FOR EACH ROW EXECUTE FUNCTION keyward_next_version();

-- The first answer to a create sent with an Idempotency-Key, kept so a
-- retry gets it again (Stripe's semantics). scope is who sent it; the
-- answer, which may hold secrets, is sealed (see internal/seal) and kept
-- until expires_at only. status is 0 while the first request runs. id
-- names the row for the sealed answer (its associated data) and for
-- master key rotation.
CREATE TABLE idempotency_keys (
    id           TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    route        TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    response     TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TRIGGER api_keys_version ON api_keys;
DROP TRIGGER stores_version ON stores;
DROP TRIGGER profiles_version ON profiles;
DROP TRIGGER users_version ON users;
DROP TRIGGER merchants_version ON merchants;
DROP TRIGGER merchant_users_version ON merchant_users;
DROP TRIGGER licences_version ON licences;
DROP FUNCTION keyward_next_version();
ALTER TABLE api_keys DROP COLUMN version;
ALTER TABLE stores DROP COLUMN version;
ALTER TABLE profiles DROP COLUMN version;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE merchants DROP COLUMN version;
ALTER TABLE merchant_users DROP COLUMN version;
ALTER TABLE licences DROP COLUMN version;
