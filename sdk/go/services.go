package keyward

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// get, post and the like are the shapes most calls have: one answer
// decoded into a new T.
func get[T any](ctx context.Context, c *Client, path string, opts []CallOption) (*T, error) {
	return send[T](ctx, c, op("GET", path, false, false), opts)
}

func send[T any](ctx context.Context, c *Client, cl *call, opts []CallOption) (*T, error) {
	out := new(T)
	if _, err := c.do(ctx, cl, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

func none(ctx context.Context, c *Client, cl *call, opts []CallOption) error {
	_, err := c.do(ctx, cl, nil, opts...)
	return err
}

// KeysService manages API keys: /api/v1/keys.
type KeysService service

// List walks the tenant's keys, filtered by params (nil: all).
func (s *KeysService) List(ctx context.Context, params *ListKeysParams) iter.Seq2[*Key, error] {
	return list[Key](ctx, s.c, "/api/v1/keys", params)
}

// Create makes a key; its secrets are in the answer, and only there.
func (s *KeysService) Create(ctx context.Context, in KeyCreate, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, s.c, op("POST", "/api/v1/keys", true, false).with(in), opts)
}

// Get reads a key (ETagInto keeps its ETag).
func (s *KeysService) Get(ctx context.Context, id string, opts ...CallOption) (*Key, error) {
	return get[Key](ctx, s.c, pathf("/api/v1/keys/%s", id), opts)
}

// Update applies patch as a merge patch (WithIfMatch makes it conditional).
func (s *KeysService) Update(ctx context.Context, id string, patch KeyUpdate, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, s.c, op("PATCH", pathf("/api/v1/keys/%s", id), false, true).patch(patch), opts)
}

// Delete deletes a key: its secrets stop at once.
func (s *KeysService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/keys/%s", id), false, true), opts)
}

// Roll gives a secret slot a new secret; the old one works for the grace.
func (s *KeysService) Roll(ctx context.Context, id string, in KeyRoll, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, s.c, op("POST", pathf("/api/v1/keys/%s/roll", id), true, false).with(in), opts)
}

// StoresService manages stores: /api/v1/stores.
type StoresService service

// List walks the tenant's stores.
func (s *StoresService) List(ctx context.Context) iter.Seq2[*Store, error] {
	return list[Store](ctx, s.c, "/api/v1/stores", nil)
}

// Create makes a store.
func (s *StoresService) Create(ctx context.Context, in StoreCreate, opts ...CallOption) (*Store, error) {
	return send[Store](ctx, s.c, op("POST", "/api/v1/stores", true, false).with(in), opts)
}

// Get reads a store by id or code.
func (s *StoresService) Get(ctx context.Context, id string, opts ...CallOption) (*Store, error) {
	return get[Store](ctx, s.c, pathf("/api/v1/stores/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *StoresService) Update(ctx context.Context, id string, patch StoreUpdate, opts ...CallOption) (*Store, error) {
	return send[Store](ctx, s.c, op("PATCH", pathf("/api/v1/stores/%s", id), false, true).patch(patch), opts)
}

// Delete deletes a store.
func (s *StoresService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/stores/%s", id), false, true), opts)
}

// ProfilesService manages security profiles: /api/v1/profiles.
type ProfilesService service

// List walks the tenant's security profiles.
func (s *ProfilesService) List(ctx context.Context) iter.Seq2[*Profile, error] {
	return list[Profile](ctx, s.c, "/api/v1/profiles", nil)
}

// Create makes a security profile.
func (s *ProfilesService) Create(ctx context.Context, in ProfileCreate, opts ...CallOption) (*Profile, error) {
	return send[Profile](ctx, s.c, op("POST", "/api/v1/profiles", true, false).with(in), opts)
}

// Get reads a security profile by id or name.
func (s *ProfilesService) Get(ctx context.Context, id string, opts ...CallOption) (*Profile, error) {
	return get[Profile](ctx, s.c, pathf("/api/v1/profiles/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *ProfilesService) Update(ctx context.Context, id string, patch ProfileUpdate, opts ...CallOption) (*Profile, error) {
	return send[Profile](ctx, s.c, op("PATCH", pathf("/api/v1/profiles/%s", id), false, true).patch(patch), opts)
}

// Delete deletes a security profile no user holds.
func (s *ProfilesService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/profiles/%s", id), false, true), opts)
}

// UsersService manages the tenant's users: /api/v1/users.
type UsersService service

// List walks the tenant's users.
func (s *UsersService) List(ctx context.Context) iter.Seq2[*User, error] {
	return list[User](ctx, s.c, "/api/v1/users", nil)
}

// Create makes a user; the answer holds the first password.
func (s *UsersService) Create(ctx context.Context, in UserCreate, opts ...CallOption) (*UserCreated, error) {
	return send[UserCreated](ctx, s.c, op("POST", "/api/v1/users", true, false).with(in), opts)
}

// Get reads a user by id or name.
func (s *UsersService) Get(ctx context.Context, id string, opts ...CallOption) (*User, error) {
	return get[User](ctx, s.c, pathf("/api/v1/users/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *UsersService) Update(ctx context.Context, id string, patch UserUpdate, opts ...CallOption) (*User, error) {
	return send[User](ctx, s.c, op("PATCH", pathf("/api/v1/users/%s", id), false, true).patch(patch), opts)
}

// ResetTOTP removes a user's second factor.
func (s *UsersService) ResetTOTP(ctx context.Context, id string, opts ...CallOption) (*User, error) {
	return send[User](ctx, s.c, op("POST", pathf("/api/v1/users/%s/totp-reset", id), true, false), opts)
}

// ResetPassword gives a user a new one-time password.
func (s *UsersService) ResetPassword(ctx context.Context, id string, opts ...CallOption) (*PasswordReset, error) {
	return send[PasswordReset](ctx, s.c, op("POST", pathf("/api/v1/users/%s/password-reset", id), true, false), opts)
}

// MeService is the signed-in user's own account: /api/v1/me.
type MeService service

// SignIn exchanges a user name and password for a personal access token;
// it sends no credential of the client's.
func (s *MeService) SignIn(ctx context.Context, in TokenSignIn) (*TokenCreated, error) {
	cl := op("POST", "/api/v1/signin", false, false).with(in)
	cl.noAuth = true
	return send[TokenCreated](ctx, s.c, cl, nil)
}

// Get reads the signed-in user.
func (s *MeService) Get(ctx context.Context) (*User, error) {
	return get[User](ctx, s.c, "/api/v1/me", nil)
}

// ChangePassword changes the signed-in user's password.
func (s *MeService) ChangePassword(ctx context.Context, in PasswordChange, opts ...CallOption) error {
	return none(ctx, s.c, op("POST", "/api/v1/me/password", true, false).with(in), opts)
}

// Tokens walks the signed-in user's personal access tokens.
func (s *MeService) Tokens(ctx context.Context) iter.Seq2[*Token, error] {
	return list[Token](ctx, s.c, "/api/v1/me/tokens", nil)
}

// CreateToken makes a personal access token for the signed-in user.
func (s *MeService) CreateToken(ctx context.Context, in TokenCreate, opts ...CallOption) (*TokenCreated, error) {
	return send[TokenCreated](ctx, s.c, op("POST", "/api/v1/me/tokens", true, false).with(in), opts)
}

// RevokeToken revokes one of the signed-in user's tokens.
func (s *MeService) RevokeToken(ctx context.Context, id string) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/me/tokens/%s", id), false, false), nil)
}

// TokensService manages every personal access token of the tenant:
// /api/v1/tokens.
type TokensService service

// List walks the tenant's personal access tokens.
func (s *TokensService) List(ctx context.Context) iter.Seq2[*Token, error] {
	return list[Token](ctx, s.c, "/api/v1/tokens", nil)
}

// Create makes a personal access token.
func (s *TokensService) Create(ctx context.Context, in TokenCreate, opts ...CallOption) (*TokenCreated, error) {
	return send[TokenCreated](ctx, s.c, op("POST", "/api/v1/tokens", true, false).with(in), opts)
}

// Delete revokes a personal access token.
func (s *TokensService) Delete(ctx context.Context, id string) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/tokens/%s", id), false, false), nil)
}

// AuditService reads the tenant's audit log: /api/v1/audit.
type AuditService service

// List walks the audit log newest first.
func (s *AuditService) List(ctx context.Context, params *ListAuditParams) iter.Seq2[*AuditEntry, error] {
	return list[AuditEntry](ctx, s.c, "/api/v1/audit", params)
}

// CatalogService reads the platform's catalog of methods: /api/v1/catalog.
type CatalogService service

// Get reads the catalog.
func (s *CatalogService) Get(ctx context.Context) (*Catalog, error) {
	return get[Catalog](ctx, s.c, "/api/v1/catalog", nil)
}

// MerchantsService manages merchants and their API users:
// /api/v1/merchants.
type MerchantsService struct {
	c *Client
	// Users are a merchant's API users.
	Users *MerchantUsersService
}

// List walks the tenant's merchants.
func (s *MerchantsService) List(ctx context.Context) iter.Seq2[*Merchant, error] {
	return list[Merchant](ctx, s.c, "/api/v1/merchants", nil)
}

// Create makes a merchant.
func (s *MerchantsService) Create(ctx context.Context, in MerchantCreate, opts ...CallOption) (*Merchant, error) {
	return send[Merchant](ctx, s.c, op("POST", "/api/v1/merchants", true, false).with(in), opts)
}

// Get reads a merchant.
func (s *MerchantsService) Get(ctx context.Context, id string, opts ...CallOption) (*Merchant, error) {
	return get[Merchant](ctx, s.c, pathf("/api/v1/merchants/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *MerchantsService) Update(ctx context.Context, id string, patch MerchantUpdate, opts ...CallOption) (*Merchant, error) {
	return send[Merchant](ctx, s.c, op("PATCH", pathf("/api/v1/merchants/%s", id), false, true).patch(patch), opts)
}

// Delete deletes a merchant.
func (s *MerchantsService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/merchants/%s", id), false, true), opts)
}

// APIAccess walks the merchant accounts that have API access.
func (s *MerchantsService) APIAccess(ctx context.Context) iter.Seq2[*MerchantAPIAccess, error] {
	return list[MerchantAPIAccess](ctx, s.c, "/api/v1/merchants/api-access", nil)
}

// DeactivateAPIAccess ends an account's API access.
func (s *MerchantsService) DeactivateAPIAccess(ctx context.Context, account string) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/merchants/api-access/%s", account), false, false), nil)
}

// Credentials reads the calling merchant's own API user; the client must
// use WithMerchantCredentials.
func (s *MerchantsService) Credentials(ctx context.Context) (*MerchantUser, error) {
	return get[MerchantUser](ctx, s.c, "/api/v1/merchant/credentials", nil)
}

// MerchantUsersService manages a merchant's API users.
type MerchantUsersService service

// List walks a merchant's API users.
func (s *MerchantUsersService) List(ctx context.Context, merchant string) iter.Seq2[*MerchantUser, error] {
	return list[MerchantUser](ctx, s.c, pathf("/api/v1/merchants/%s/users", merchant), nil)
}

// Create makes an API user; the answer holds its Auth Key.
func (s *MerchantUsersService) Create(ctx context.Context, merchant string, in MerchantUserCreate, opts ...CallOption) (*MerchantUser, error) {
	return send[MerchantUser](ctx, s.c, op("POST", pathf("/api/v1/merchants/%s/users", merchant), true, false).with(in), opts)
}

// Update applies patch as a merge patch.
func (s *MerchantUsersService) Update(ctx context.Context, merchant, user string, patch MerchantUserUpdate, opts ...CallOption) (*MerchantUser, error) {
	return send[MerchantUser](ctx, s.c, op("PATCH", pathf("/api/v1/merchants/%s/users/%s", merchant, user), false, true).patch(patch), opts)
}

// SetPortalPassword gives the user a new portal password.
func (s *MerchantUsersService) SetPortalPassword(ctx context.Context, merchant, user string, opts ...CallOption) (*PortalPassword, error) {
	return send[PortalPassword](ctx, s.c, op("POST", pathf("/api/v1/merchants/%s/users/%s/portal-password", merchant, user), true, false), opts)
}

// RegenerateAuthKey gives the user a new Auth Key; the old one works for
// grace (0: stops at once).
func (s *MerchantUsersService) RegenerateAuthKey(ctx context.Context, merchant, user string, grace time.Duration, opts ...CallOption) (*MerchantUser, error) {
	cl := op("POST", pathf("/api/v1/merchants/%s/users/%s/auth-key", merchant, user), true, false)
	if grace > 0 {
		cl.q(url.Values{"grace": {grace.String()}})
	}
	return send[MerchantUser](ctx, s.c, cl, opts)
}

// WebhooksService manages webhook endpoints and their deliveries:
// /api/v1/webhooks.
type WebhooksService struct {
	c *Client
	// Deliveries are the events sent, or to send, to an endpoint.
	Deliveries *DeliveriesService
	// Attempts are the tries at sending them.
	Attempts *AttemptsService
}

// List walks the tenant's webhook endpoints.
func (s *WebhooksService) List(ctx context.Context, params *ListWebhooksParams) iter.Seq2[*Webhook, error] {
	return list[Webhook](ctx, s.c, "/api/v1/webhooks", params)
}

// Create makes an endpoint; the answer holds its signing secret.
func (s *WebhooksService) Create(ctx context.Context, in WebhookCreate, opts ...CallOption) (*Webhook, error) {
	return send[Webhook](ctx, s.c, op("POST", "/api/v1/webhooks", true, false).with(in), opts)
}

// Get reads an endpoint.
func (s *WebhooksService) Get(ctx context.Context, id string, opts ...CallOption) (*Webhook, error) {
	return get[Webhook](ctx, s.c, pathf("/api/v1/webhooks/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *WebhooksService) Update(ctx context.Context, id string, patch WebhookUpdate, opts ...CallOption) (*Webhook, error) {
	return send[Webhook](ctx, s.c, op("PATCH", pathf("/api/v1/webhooks/%s", id), false, true).patch(patch), opts)
}

// Delete deletes an endpoint.
func (s *WebhooksService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/webhooks/%s", id), false, true), opts)
}

// Roll gives an endpoint a new signing secret.
func (s *WebhooksService) Roll(ctx context.Context, id string, in WebhookRoll, opts ...CallOption) (*Webhook, error) {
	return send[Webhook](ctx, s.c, op("POST", pathf("/api/v1/webhooks/%s/roll", id), true, false).with(in), opts)
}

// Test sends the endpoint a test event.
func (s *WebhooksService) Test(ctx context.Context, id string, opts ...CallOption) (*WebhookDelivery, error) {
	return send[WebhookDelivery](ctx, s.c, op("POST", pathf("/api/v1/webhooks/%s/test", id), true, false), opts)
}

// Stats reads an endpoint's delivery statistics.
func (s *WebhooksService) Stats(ctx context.Context, id string) (*WebhookStats, error) {
	return get[WebhookStats](ctx, s.c, pathf("/api/v1/webhooks/%s/stats", id), nil)
}

// EventTypes walks the event types an endpoint may subscribe to.
func (s *WebhooksService) EventTypes(ctx context.Context) iter.Seq2[*EventType, error] {
	return list[EventType](ctx, s.c, "/api/v1/webhooks/event-types", nil)
}

// ReplayFailed sends the endpoint's failed deliveries again.
func (s *WebhooksService) ReplayFailed(ctx context.Context, id string, in ReplaySince, opts ...CallOption) (*ReplayResult, error) {
	return send[ReplayResult](ctx, s.c, op("POST", pathf("/api/v1/webhooks/%s/replay", id), true, false).with(in), opts)
}

// HandoversService makes one-time links handing a secret over, and reads
// their state: /api/v1/handovers.
type HandoversService service

// List walks the tenant's one-time links, newest first.
func (s *HandoversService) List(ctx context.Context, params *ListHandoversParams) iter.Seq2[*Handover, error] {
	return list[Handover](ctx, s.c, "/api/v1/handovers", params)
}

// Create seals a secret behind a new one-time link; the answer holds the
// link (and the code, with RequireCode) this once.
func (s *HandoversService) Create(ctx context.Context, in HandoverCreate, opts ...CallOption) (*Handover, error) {
	return send[Handover](ctx, s.c, op("POST", "/api/v1/handovers", true, false).with(in), opts)
}

// Get reads whether, when and from where a link was opened.
func (s *HandoversService) Get(ctx context.Context, id string, opts ...CallOption) (*Handover, error) {
	return get[Handover](ctx, s.c, pathf("/api/v1/handovers/%s", id), opts)
}

// DeliveriesService reads and replays an endpoint's deliveries.
type DeliveriesService service

// List walks an endpoint's deliveries, newest first.
func (s *DeliveriesService) List(ctx context.Context, webhook string, params *ListDeliveriesParams) iter.Seq2[*WebhookDelivery, error] {
	return list[WebhookDelivery](ctx, s.c, pathf("/api/v1/webhooks/%s/deliveries", webhook), params)
}

// Replay sends one delivery again.
func (s *DeliveriesService) Replay(ctx context.Context, webhook, delivery string, opts ...CallOption) (*ReplayResult, error) {
	return send[ReplayResult](ctx, s.c, op("POST", pathf("/api/v1/webhooks/%s/deliveries/%s/replay", webhook, delivery), true, false), opts)
}

// AttemptsService reads an endpoint's sending attempts.
type AttemptsService service

// List walks an endpoint's attempts, newest first.
func (s *AttemptsService) List(ctx context.Context, webhook string, params *ListAttemptsParams) iter.Seq2[*WebhookAttempt, error] {
	return list[WebhookAttempt](ctx, s.c, pathf("/api/v1/webhooks/%s/attempts", webhook), params)
}

// ConnectionsService manages connections to platforms:
// /api/v1/connections.
type ConnectionsService service

// Types walks the connector types a connection may have.
func (s *ConnectionsService) Types(ctx context.Context) iter.Seq2[*ConnectorType, error] {
	return list[ConnectorType](ctx, s.c, "/api/v1/connector-types", nil)
}

// List walks the tenant's connections, filtered by params (nil: all).
func (s *ConnectionsService) List(ctx context.Context, params *ListConnectionsParams) iter.Seq2[*Connection, error] {
	return list[Connection](ctx, s.c, "/api/v1/connections", params)
}

// Create makes a connection.
func (s *ConnectionsService) Create(ctx context.Context, in ConnectionCreate, opts ...CallOption) (*Connection, error) {
	return send[Connection](ctx, s.c, op("POST", "/api/v1/connections", true, false).with(in), opts)
}

// VerifyInput tries a connection's settings without saving them.
func (s *ConnectionsService) VerifyInput(ctx context.Context, in ConnectionCreate, opts ...CallOption) (*Verification, error) {
	return send[Verification](ctx, s.c, op("POST", "/api/v1/connections/verify", true, false).with(in), opts)
}

// Get reads a connection.
func (s *ConnectionsService) Get(ctx context.Context, id string, opts ...CallOption) (*Connection, error) {
	return get[Connection](ctx, s.c, pathf("/api/v1/connections/%s", id), opts)
}

// Update applies patch as a merge patch.
func (s *ConnectionsService) Update(ctx context.Context, id string, patch ConnectionUpdate, opts ...CallOption) (*Connection, error) {
	return send[Connection](ctx, s.c, op("PATCH", pathf("/api/v1/connections/%s", id), false, true).patch(patch), opts)
}

// Delete deletes a connection.
func (s *ConnectionsService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/connections/%s", id), false, true), opts)
}

// Verify tries a saved connection against its platform.
func (s *ConnectionsService) Verify(ctx context.Context, id string, opts ...CallOption) (*Verification, error) {
	return send[Verification](ctx, s.c, op("POST", pathf("/api/v1/connections/%s/verify", id), true, false), opts)
}

// Reveal reads a connection's secret, with the user's password.
func (s *ConnectionsService) Reveal(ctx context.Context, id string, in ConnectionReveal, opts ...CallOption) (*ConnectionSecret, error) {
	return send[ConnectionSecret](ctx, s.c, op("POST", pathf("/api/v1/connections/%s/reveal", id), true, false).with(in), opts)
}

// TenantsService is the operator's: /operator/v1/tenants (the client
// needs the operator token).
type TenantsService service

// List walks the node's tenants.
func (s *TenantsService) List(ctx context.Context, params *ListTenantsParams) iter.Seq2[*Tenant, error] {
	return list[Tenant](ctx, s.c, "/operator/v1/tenants", params)
}

// Create makes a tenant.
func (s *TenantsService) Create(ctx context.Context, in TenantCreate, opts ...CallOption) (*Tenant, error) {
	return send[Tenant](ctx, s.c, op("POST", "/operator/v1/tenants", true, false).with(in), opts)
}

// Get reads a tenant by domain.
func (s *TenantsService) Get(ctx context.Context, domain string) (*Tenant, error) {
	return get[Tenant](ctx, s.c, pathf("/operator/v1/tenants/%s", domain), nil)
}

// CreateAdmin makes an administrator in a tenant.
func (s *TenantsService) CreateAdmin(ctx context.Context, domain string, in TenantAdminCreate, opts ...CallOption) (*TenantAdmin, error) {
	return send[TenantAdmin](ctx, s.c, op("POST", pathf("/operator/v1/tenants/%s/admins", domain), true, false).with(in), opts)
}

// ResetAdminTOTP removes a tenant administrator's second factor.
func (s *TenantsService) ResetAdminTOTP(ctx context.Context, domain string, in AdminTOTPReset, opts ...CallOption) (*User, error) {
	return send[User](ctx, s.c, op("POST", pathf("/operator/v1/tenants/%s/admins/totp-reset", domain), true, false).with(in), opts)
}

// RotateOperatorToken replaces the operator token; the answer holds the
// new one.
func (s *TenantsService) RotateOperatorToken(ctx context.Context, opts ...CallOption) (*OperatorToken, error) {
	return send[OperatorToken](ctx, s.c, op("POST", "/operator/v1/token", true, false), opts)
}

// LicenceService reads licences: the tenant's own (Get), and any tenant's
// for the operator (For, Grant, Revoke).
type LicenceService service

// Get reads the calling tenant's licence.
func (s *LicenceService) Get(ctx context.Context) (*TenantLicence, error) {
	return get[TenantLicence](ctx, s.c, "/api/v1/licence", nil)
}

// For reads a tenant's licence (operator).
func (s *LicenceService) For(ctx context.Context, domain string, opts ...CallOption) (*Licence, error) {
	return get[Licence](ctx, s.c, pathf("/operator/v1/tenants/%s/licence", domain), opts)
}

// Grant sets a tenant's licence, in is merged into it (operator). The
// node reads this PUT as application/json, not as a merge patch.
func (s *LicenceService) Grant(ctx context.Context, domain string, in LicenceGrant, opts ...CallOption) (*Licence, error) {
	return send[Licence](ctx, s.c, op("PUT", pathf("/operator/v1/tenants/%s/licence", domain), false, true).with(in), opts)
}

// Revoke ends a tenant's licence (operator).
func (s *LicenceService) Revoke(ctx context.Context, domain string, opts ...CallOption) (*Licence, error) {
	return send[Licence](ctx, s.c, op("DELETE", pathf("/operator/v1/tenants/%s/licence", domain), false, true), opts)
}

// VerifyService asks the node whether a key may make a call: /v1/verify.
// A refusal is a decision, not an error: read Code, and Missing for
// INSUFFICIENT_PERMISSION.
type VerifyService service

// Method asks whether the key secret may call the catalog method on the
// store (store may be "").
func (s *VerifyService) Method(ctx context.Context, secret, method, store string) (*VerifyResponse, error) {
	in := VerifyRequest{Key: secret, Method: &method}
	if store != "" {
		in.Store = &store
	}
	return s.Request(ctx, in)
}

// HTTP asks whether the key secret may make the HTTP request (method and
// path with its query, as the client would send it).
func (s *VerifyService) HTTP(ctx context.Context, secret, httpMethod, path, store string) (*VerifyResponse, error) {
	in := VerifyRequest{Key: secret}
	in.Request = &VerifyHTTPRequest{Method: httpMethod, Path: path}
	if store != "" {
		in.Store = &store
	}
	return s.Request(ctx, in)
}

// Request sends a verification request as it is.
func (s *VerifyService) Request(ctx context.Context, in VerifyRequest) (*VerifyResponse, error) {
	cl := op("POST", "/v1/verify", false, false).with(in)
	cl.noAuth = true
	return send[VerifyResponse](ctx, s.c, cl, nil)
}

// EventsService sends platform events: /v1/events (the client needs an
// API key as its token).
type EventsService service

// Send accepts an event for the tenant's webhook endpoints.
func (s *EventsService) Send(ctx context.Context, in EventSend, opts ...CallOption) (*EventAccepted, error) {
	return send[EventAccepted](ctx, s.c, op("POST", "/v1/events", false, false).with(in), opts)
}

// HealthService reads the node's health.
type HealthService service

// Live reads /healthz: the process answers.
func (s *HealthService) Live(ctx context.Context) (*Status, error) {
	return get[Status](ctx, s.c, "/healthz", nil)
}

// Ready reads /readyz: the node can serve.
func (s *HealthService) Ready(ctx context.Context) (*Status, error) {
	return get[Status](ctx, s.c, "/readyz", nil)
}

// Policy reads the tenant's key policy: the maximum lifetime of new keys
// and the inactivity rule.
func (s *KeysService) Policy(ctx context.Context, opts ...CallOption) (*KeyPolicy, error) {
	return get[KeyPolicy](ctx, s.c, "/api/v1/key-policy", opts)
}

// UpdatePolicy changes the tenant's key policy by a merge patch; send the
// ETag read with WithIfMatch to refuse a change made meanwhile.
func (s *KeysService) UpdatePolicy(ctx context.Context, patch KeyPolicyUpdate, opts ...CallOption) (*KeyPolicy, error) {
	return send[KeyPolicy](ctx, s.c, op("PATCH", "/api/v1/key-policy", false, true).patch(patch), opts)
}
