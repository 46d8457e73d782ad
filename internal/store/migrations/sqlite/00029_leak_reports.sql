-- +goose Up
-- What a tenant does when one of its secrets is reported leaked:
-- 'disable' it at once, or only 'notify'.
ALTER TABLE tenants ADD COLUMN leak_policy TEXT NOT NULL DEFAULT 'disable';

-- Each signed leak report accepted, by the SHA-256 of its body, with the
-- answer it got: a report sent again gets that answer and changes nothing.
CREATE TABLE leak_reports (
    digest      BLOB PRIMARY KEY,
    signer      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

-- Each token a report named. tenant_id and object_id are set only for a
-- secret that was live when it was reported.
CREATE TABLE leaks (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    hint         TEXT NOT NULL,
    token_digest BLOB NOT NULL,
    type         TEXT NOT NULL,
    url          TEXT NOT NULL,
    source       TEXT NOT NULL,
    action       TEXT NOT NULL,
    found_at     TIMESTAMP NOT NULL
);
CREATE INDEX leaks_object ON leaks (object_id, found_at);
CREATE INDEX leaks_tenant ON leaks (tenant_id, found_at);

-- +goose Down
DROP TABLE leaks;
DROP TABLE leak_reports;
ALTER TABLE tenants DROP COLUMN leak_policy;
