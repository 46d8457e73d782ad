-- +goose Up
-- Checkpoints of each audit chain form a chain of their own: number is
-- the checkpoint's place in its chain (1, 2, …; 0 for checkpoints written
-- before they were chained) and prev_digest the digest of the checkpoint
-- before it, both covered by the signature, so removing or replacing a
-- checkpoint breaks the next one. legacy_through and legacy_count record,
-- under the signature, the entries written before entries were hashed.
ALTER TABLE audit_checkpoints ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN prev_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_checkpoints ADD COLUMN legacy_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN legacy_count BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX audit_checkpoints_number ON audit_checkpoints (chain, number) WHERE number > 0;

-- The entries of each chain that hold no hash and come before its first
-- hashed entry, as found when this migration ran: entries written before
-- the chain was introduced. The first chained checkpoint of a chain signs
-- this record; an entry without a hash that it does not cover was written
-- outside keyward (or by an older version after the upgrade) and does not
-- verify.
CREATE TABLE audit_legacy (
    chain   TEXT PRIMARY KEY,
    through BIGINT NOT NULL,
    count   BIGINT NOT NULL
);
INSERT INTO audit_legacy (chain, through, count)
SELECT COALESCE(a.tenant_id, ''), MAX(a.seq), COUNT(*) FROM audit a
WHERE a.hash = '' AND NOT EXISTS (
    SELECT 1 FROM audit b
    WHERE COALESCE(b.tenant_id, '') = COALESCE(a.tenant_id, '') AND b.hash <> '' AND b.seq < a.seq)
GROUP BY COALESCE(a.tenant_id, '');

-- +goose Down
DROP TABLE audit_legacy;
DROP INDEX audit_checkpoints_number;
ALTER TABLE audit_checkpoints DROP COLUMN legacy_count;
ALTER TABLE audit_checkpoints DROP COLUMN legacy_through;
ALTER TABLE audit_checkpoints DROP COLUMN prev_digest;
ALTER TABLE audit_checkpoints DROP COLUMN number;
