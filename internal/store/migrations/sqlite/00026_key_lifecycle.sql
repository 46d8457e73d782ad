-- +goose Up
-- Each secret remembers the client address of its last use, beside its
-- time, so an administrator sees which secret an integration still uses.
ALTER TABLE api_key_secrets ADD COLUMN last_used_from TEXT;

-- A tenant's rules for its keys: the longest lifetime a new key may have
-- and how many days unused disable a key (0 = no rule).
CREATE TABLE key_policies (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    max_lifetime_days INTEGER NOT NULL DEFAULT 0,
    inactive_days     INTEGER NOT NULL DEFAULT 0,
    updated_at        TIMESTAMP NOT NULL,
    version           BIGINT NOT NULL DEFAULT 1
);

-- +goose StatementBegin
CREATE TRIGGER key_policies_version AFTER UPDATE ON key_policies FOR EACH ROW WHEN NEW.version = OLD.version
BEGIN UPDATE key_policies SET version = OLD.version + 1 WHERE rowid = NEW.rowid; END;
-- +goose StatementEnd

-- Notices sent about a credential (an expiry warning, an inactivity
-- report): the key makes each one sent once per credential, notice and
-- due time, whichever node or restart finds it due.
CREATE TABLE credential_notices (
    credential_id TEXT NOT NULL,
    notice        TEXT NOT NULL,
    due_at        TIMESTAMP NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sent_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (credential_id, notice, due_at)
);
CREATE INDEX credential_notices_due ON credential_notices (due_at);

-- +goose Down
DROP TABLE credential_notices;
DROP TRIGGER key_policies_version;
DROP TABLE key_policies;
ALTER TABLE api_key_secrets DROP COLUMN last_used_from;
