-- +goose Up
-- Merchant users may turn on TOTP for portal sign-in: the seed is sealed
-- like staff seeds (users.totp_sealed), and the last step used is kept so
-- a code works once.
ALTER TABLE merchant_users ADD COLUMN totp_sealed TEXT;
ALTER TABLE merchant_users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
-- A portal session waits for its code as a staff session does.
ALTER TABLE merchant_sessions ADD COLUMN pending_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- A new API Auth Key may leave the previous one working for a grace the
-- user picks: its SHA-256 and when it stops.
ALTER TABLE merchant_users ADD COLUMN previous_key_digest BYTEA;
ALTER TABLE merchant_users ADD COLUMN previous_key_expires_at TIMESTAMPTZ;

-- A store may be deactivated (and reactivated) instead of removed; the
-- data plane refuses requests naming an inactive store.
ALTER TABLE stores ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE stores DROP COLUMN active;
ALTER TABLE merchant_users DROP COLUMN previous_key_expires_at;
ALTER TABLE merchant_users DROP COLUMN previous_key_digest;
ALTER TABLE merchant_sessions DROP COLUMN pending_mfa;
ALTER TABLE merchant_users DROP COLUMN totp_last_step;
ALTER TABLE merchant_users DROP COLUMN totp_sealed;
