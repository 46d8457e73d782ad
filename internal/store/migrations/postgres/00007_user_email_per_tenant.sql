-- +goose Up
-- A user's e-mail address is unique within its tenant, not across tenants:
-- one address may belong to users of several tenants, and no tenant learns
-- or reserves another's addresses.
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email);
CREATE INDEX users_email ON users (email);

-- +goose Down
DROP INDEX users_email;
ALTER TABLE users DROP CONSTRAINT users_tenant_id_email_key;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
