-- +goose Up
-- API keys and merchant credentials may be limited to client addresses:
-- a JSON array of addresses and CIDR ranges, NULL for any address.
ALTER TABLE api_keys ADD COLUMN allowed_addresses TEXT;
ALTER TABLE merchant_users ADD COLUMN allowed_addresses TEXT;

-- +goose Down
ALTER TABLE merchant_users DROP COLUMN allowed_addresses;
ALTER TABLE api_keys DROP COLUMN allowed_addresses;
