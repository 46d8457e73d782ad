-- +goose Up
-- Names of keys, security profiles and merchants are unique in a tenant
-- without regard to case: "THQ" and "thq" cannot both exist. name_fold
-- holds the name as the application folds it (keyward.FoldName) and a
-- unique index guards it. Rows that already differ only in case are kept
-- as they are, names unchanged: the oldest of each group gets the plain
-- fold, each later one its fold followed by its own id, so the migration
-- cannot fail on them and they go on working. Renaming any of them to a
-- name another already holds in some case is refused from now on.
-- lower() folds ASCII here; key names are ASCII only, and profile and
-- merchant names written from now on are folded by the application.
ALTER TABLE api_keys ADD COLUMN name_fold TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET name_fold = lower(name);
UPDATE api_keys SET name_fold = name_fold || ' ' || id
    WHERE EXISTS (SELECT 1 FROM api_keys o WHERE o.tenant_id = api_keys.tenant_id AND lower(o.name) = lower(api_keys.name)
        AND (o.created_at < api_keys.created_at OR (o.created_at = api_keys.created_at AND o.id < api_keys.id)));
CREATE UNIQUE INDEX api_keys_tenant_name_fold ON api_keys (tenant_id, name_fold);

ALTER TABLE profiles ADD COLUMN name_fold TEXT NOT NULL DEFAULT '';
UPDATE profiles SET name_fold = lower(name);
UPDATE profiles SET name_fold = name_fold || ' ' || id
    WHERE EXISTS (SELECT 1 FROM profiles o WHERE o.tenant_id = profiles.tenant_id AND lower(o.name) = lower(profiles.name)
        AND (o.created_at < profiles.created_at OR (o.created_at = profiles.created_at AND o.id < profiles.id)));
CREATE UNIQUE INDEX profiles_tenant_name_fold ON profiles (tenant_id, name_fold);

ALTER TABLE merchants ADD COLUMN name_fold TEXT NOT NULL DEFAULT '';
UPDATE merchants SET name_fold = lower(name);
UPDATE merchants SET name_fold = name_fold || ' ' || id
    WHERE EXISTS (SELECT 1 FROM merchants o WHERE o.tenant_id = merchants.tenant_id AND lower(o.name) = lower(merchants.name)
        AND (o.created_at < merchants.created_at OR (o.created_at = merchants.created_at AND o.id < merchants.id)));
CREATE UNIQUE INDEX merchants_tenant_name_fold ON merchants (tenant_id, name_fold);

-- +goose Down
DROP INDEX merchants_tenant_name_fold;
ALTER TABLE merchants DROP COLUMN name_fold;
DROP INDEX profiles_tenant_name_fold;
ALTER TABLE profiles DROP COLUMN name_fold;
DROP INDEX api_keys_tenant_name_fold;
ALTER TABLE api_keys DROP COLUMN name_fold;
