-- +goose Up
-- Back-office sessions. The session id a browser holds is stored only as
-- its SHA-256; idle and absolute expiry are checked on every request.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    digest       BLOB NOT NULL UNIQUE,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pending_mfa  INTEGER NOT NULL,
    address      TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins and second-factor attempts, per subject (an e-mail, an
-- address or a user), counted over a sliding window to throttle guessing.
CREATE TABLE sign_in_failures (
    subject TEXT NOT NULL,
    at      TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, at);

-- Optional TOTP second factor: the base32 seed, and the last time step
-- accepted, so each code is used at most once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_secret;
DROP TABLE sign_in_failures;
DROP TABLE sessions;
