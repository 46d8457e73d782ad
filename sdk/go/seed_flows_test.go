package keyward_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward/sdk/go"
)

// The seed flows beyond keys, each driven by TestSDKDrivesTheSeedFlows
// through the SDK's services against the same demo node.

// must(call)(t) fails the test at once when a call that should work does
// not, and gives its answer.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// contains reports whether a walk holds an item with pred.
func contains[T any](t *testing.T, seq iter.Seq2[*T, error], pred func(*T) bool) bool {
	t.Helper()
	items, err := keyward.Collect(seq)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(items, pred)
}

// Stores made, read by code, renamed under If-Match and deleted; a key
// kept to one store is refused on another.
func storesFlow(ctx context.Context, t *testing.T, client *keyward.Client) {
	wh := must(client.Stores.Create(ctx, keyward.StoreCreate{Code: "warehouse", Name: keyward.String("Warehouse")}))(t)
	if wh.Code != "warehouse" || wh.Name != "Warehouse" || !wh.Active || wh.Id == "" {
		t.Errorf("the new store: %+v", wh)
	}
	if _, err := client.Stores.Create(ctx, keyward.StoreCreate{Code: "warehouse"}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("a second store warehouse: %v, want conflict", err)
	}
	if _, err := client.Stores.Create(ctx, keyward.StoreCreate{Code: ""}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("a store with no code: %v, want invalid_argument", err)
	}
	var tag string
	if got := must(client.Stores.Get(ctx, "warehouse", keyward.ETagInto(&tag)))(t); got.Id != wh.Id || tag == "" {
		t.Errorf("the store by its code: %+v, ETag %q", got, tag)
	}
	renamed := must(client.Stores.Update(ctx, wh.Id, keyward.StoreUpdate{Name: keyward.String("Main warehouse")}, keyward.WithIfMatch(tag)))(t)
	if renamed.Name != "Main warehouse" || renamed.Code != "warehouse" {
		t.Errorf("renamed: %+v", renamed)
	}
	if _, err := client.Stores.Update(ctx, wh.Id, keyward.StoreUpdate{Name: keyward.String("Stale")}, keyward.WithIfMatch(tag)); !errors.Is(err, keyward.ErrPreconditionFailed) {
		t.Errorf("a stale If-Match: %v", err)
	}
	if !contains(t, client.Stores.List(ctx), func(s *keyward.Store) bool { return s.Code == "warehouse" && s.Name == "Main warehouse" }) {
		t.Error("the list has no warehouse")
	}

	// A key per store: valid on its store, refused on the others.
	selected := keyward.StoreAccessInputAccess("selected")
	k := must(client.Keys.Create(ctx, keyward.KeyCreate{Name: "Warehouse-sync", Permissions: &keyward.Permissions{"orders": "read"},
		Stores: &keyward.StoreAccessInput{Access: &selected, Ids: &[]string{"warehouse"}}}))(t)
	for store, want := range map[string]string{"warehouse": "VALID", "main": "STORE_NOT_ALLOWED"} {
		if v := must(client.Verify.Method(ctx, *k.Secrets[0].Secret, "orders.list", store))(t); string(v.Code) != want {
			t.Errorf("a key of warehouse on %s: %s, want %s", store, v.Code, want)
		}
	}

	popup := must(client.Stores.Create(ctx, keyward.StoreCreate{Code: "popup"}))(t)
	if err := client.Stores.Delete(ctx, popup.Id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.Stores.Get(ctx, "popup"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("a deleted store: %v, want not_found", err)
	}
}

// A security profile with features, a user holding it, the profile's
// features changed; personal access tokens made, used and revoked.
func usersFlow(ctx context.Context, t *testing.T, url string, client *keyward.Client) {
	p := must(client.Profiles.Create(ctx, keyward.ProfileCreate{Name: "Integrations", Features: &[]keyward.Feature{keyward.ApiManagement, keyward.Webhooks}}))(t)
	if p.Name != "Integrations" || !slices.Contains(p.Features, keyward.ApiManagement) || !slices.Contains(p.Features, keyward.Webhooks) {
		t.Errorf("the new profile: %+v", p)
	}
	if _, err := client.Profiles.Create(ctx, keyward.ProfileCreate{Name: "Integrations"}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("a second profile Integrations: %v, want conflict", err)
	}
	if _, err := client.Profiles.Create(ctx, keyward.ProfileCreate{Name: "Odd", Features: &[]keyward.Feature{"time_travel"}}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("an unknown feature: %v, want invalid_argument", err)
	}
	more := must(client.Profiles.Update(ctx, p.Id, keyward.ProfileUpdate{Features: keyward.Set([]keyward.Feature{keyward.ApiManagement, keyward.Webhooks, keyward.Connectors})}))(t)
	if !slices.Contains(more.Features, keyward.Connectors) || len(more.Features) != 3 {
		t.Errorf("features after the change: %v", more.Features)
	}
	if got := must(client.Profiles.Get(ctx, p.Id))(t); !slices.Equal(got.Features, more.Features) {
		t.Errorf("read back: %v, want %v", got.Features, more.Features)
	}

	u := must(client.Users.Create(ctx, keyward.UserCreate{Email: "tran@example.test", Name: keyward.String("TRAN"), ProfileId: p.Id}))(t)
	if u.Id == "" || u.ProfileId != p.Id || !u.Active || u.Password == nil || *u.Password == "" {
		t.Errorf("the new user: %+v", u)
	}
	if _, err := client.Users.Create(ctx, keyward.UserCreate{Email: "tran@example.test", ProfileId: p.Id}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("a second user of that email: %v, want conflict", err)
	}
	if _, err := client.Users.Create(ctx, keyward.UserCreate{Email: "nobody@example.test", ProfileId: "no-such-profile"}); err == nil {
		t.Error("a user with an unknown profile was made")
	}
	if err := client.Profiles.Delete(ctx, p.Id); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("deleting a profile a user holds: %v, want conflict", err)
	}
	off := must(client.Users.Update(ctx, u.Id, keyward.UserUpdate{Active: keyward.Bool(false)}))(t)
	if off.Active || off.Id != u.Id {
		t.Errorf("deactivated: %+v", off)
	}
	if !contains(t, client.Users.List(ctx), func(x *keyward.User) bool { return x.Id == u.Id && !x.Active }) {
		t.Error("the list has no inactive TRAN")
	}
	reset := must(client.Users.ResetPassword(ctx, u.Id))(t)
	if reset.Password == "" || reset.Password == *u.Password {
		t.Errorf("a reset password: %+v", reset)
	}

	// A token of the tenant's, used by a second client, then revoked.
	tok := must(client.Tokens.Create(ctx, keyward.TokenCreate{Name: keyward.String("ci")}))(t)
	if !strings.HasPrefix(tok.Token, "kwp_") || tok.Name != "ci" {
		t.Errorf("the new token: %+v", tok)
	}
	ci := must(keyward.NewClient(url, keyward.WithToken(tok.Token)))(t)
	if _, err := ci.Me.Get(ctx); err != nil {
		t.Errorf("the new token's user: %v", err)
	}
	if !contains(t, client.Tokens.List(ctx), func(x *keyward.Token) bool { return x.Id == tok.Id && x.Hint != "" }) {
		t.Error("the token list has no ci")
	}
	if err := client.Tokens.Delete(ctx, tok.Id); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := ci.Me.Get(ctx); !errors.Is(err, keyward.ErrUnauthenticated) {
		t.Errorf("a revoked token: %v, want unauthenticated", err)
	}
}

// A merchant with a Level 2 user with API access; the merchant reads its
// own credentials with them; the Auth Key is regenerated and the access
// deactivated.
func merchantsFlow(ctx context.Context, t *testing.T, url string, client *keyward.Client) {
	acme := must(client.Merchants.Create(ctx, keyward.MerchantCreate{Name: "Acme Couriers", Stores: &[]string{"main"}}))(t)
	if acme.Name != "Acme Couriers" || acme.Id == "" {
		t.Errorf("the new merchant: %+v", acme)
	}
	if got := must(client.Merchants.Get(ctx, acme.Id))(t); got.Name != acme.Name {
		t.Errorf("read back: %+v", got)
	}
	ops := must(client.Merchants.Users.Create(ctx, acme.Id, keyward.MerchantUserCreate{Email: "ops@acme.test", Level: keyward.MerchantUserCreateLevelN2, ApiAccess: keyward.Bool(true)}))(t)
	if !ops.ApiAccess || ops.ApiAccountId == nil || ops.ApiAuthKey == nil || !strings.HasPrefix(*ops.ApiAuthKey, "kwm_") || ops.MerchantId != acme.Id {
		t.Fatalf("the Level 2 user: %+v", ops)
	}
	if _, err := client.Merchants.Users.Create(ctx, acme.Id, keyward.MerchantUserCreate{Email: "driver@acme.test", Level: keyward.MerchantUserCreateLevelN1, ApiAccess: keyward.Bool(true)}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("API access for Level 1: %v, want invalid_argument", err)
	}
	if !contains(t, client.Merchants.Users.List(ctx, acme.Id),
		func(u *keyward.MerchantUser) bool { return u.Id == ops.Id && u.ApiAuthKey == nil }) {
		t.Error("the merchant's users: no ops, or an Auth Key in the list")
	}
	account := *ops.ApiAccountId
	if !contains(t, client.Merchants.APIAccess(ctx), func(a *keyward.MerchantAPIAccess) bool {
		return a.ApiAccountId == account && a.MerchantName == "Acme Couriers"
	}) {
		t.Error("Integrations > API has no Acme")
	}

	// The merchant, with its own credentials.
	acmeClient := must(keyward.NewClient(url, keyward.WithMerchantCredentials(account, *ops.ApiAuthKey)))(t)
	creds := must(acmeClient.Merchants.Credentials(ctx))(t)
	if creds.Id != ops.Id || creds.MerchantId != acme.Id || creds.ApiAuthKey != nil || creds.ApiAuthKeyHint == nil {
		t.Errorf("its credentials: %+v", creds)
	}
	if _, err := keyward.Collect(acmeClient.Webhooks.List(ctx, nil)); !errors.Is(err, keyward.ErrForbidden) {
		t.Errorf("a merchant listing webhooks: %v, want forbidden", err)
	}
	wrong := must(keyward.NewClient(url, keyward.WithMerchantCredentials(account, "kwm_wrong")))(t)
	if _, err := wrong.Merchants.Credentials(ctx); !errors.Is(err, keyward.ErrUnauthenticated) {
		t.Errorf("a wrong Auth Key: %v, want unauthenticated", err)
	}

	// A new Auth Key at once: the old one stops, the new one works.
	again := must(client.Merchants.Users.RegenerateAuthKey(ctx, acme.Id, ops.Id, 0))(t)
	if again.ApiAuthKey == nil || *again.ApiAuthKey == *ops.ApiAuthKey {
		t.Fatalf("regenerated: %+v", again)
	}
	if _, err := acmeClient.Merchants.Credentials(ctx); !errors.Is(err, keyward.ErrUnauthenticated) {
		t.Errorf("the old Auth Key: %v, want unauthenticated", err)
	}
	renewed := must(keyward.NewClient(url, keyward.WithMerchantCredentials(account, *again.ApiAuthKey)))(t)
	must(renewed.Merchants.Credentials(ctx))(t)

	if err := client.Merchants.DeactivateAPIAccess(ctx, account); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if _, err := renewed.Merchants.Credentials(ctx); err == nil {
		t.Error("deactivated credentials still read")
	}
	if contains(t, client.Merchants.APIAccess(ctx), func(a *keyward.MerchantAPIAccess) bool { return a.ApiAccountId == account }) {
		t.Error("Integrations > API still lists Acme")
	}
}

// An endpoint on a loopback receiver: a test event sent, signed and
// logged as a delivery and its attempt.
func webhooksFlow(ctx context.Context, t *testing.T, client *keyward.Client) {
	got := make(chan string, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string `json:"type"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &ev)
		if r.Header.Get("Webhook-Signature") == "" {
			ev.Type = "unsigned " + ev.Type
		}
		got <- ev.Type
	}))
	defer recv.Close()

	if !contains(t, client.Webhooks.EventTypes(ctx), func(e *keyward.EventType) bool { return e.Type == "webhook.test" }) {
		t.Error("no event type webhook.test")
	}
	hook := must(client.Webhooks.Create(ctx, keyward.WebhookCreate{Url: recv.URL + "/hooks", Events: []string{"webhook.test", "key.*"}}))(t)
	if hook.Secret == nil || !strings.HasPrefix(*hook.Secret, "whsec_") || !hook.Enabled || hook.Url != recv.URL+"/hooks" {
		t.Fatalf("the new endpoint: %+v", hook)
	}
	if read := must(client.Webhooks.Get(ctx, hook.Id))(t); read.Secret != nil || read.SecretHint == "" {
		t.Errorf("a read endpoint shows its secret: %+v", read)
	}
	if _, err := client.Webhooks.Create(ctx, keyward.WebhookCreate{Url: "ftp://127.0.0.1/hooks", Events: []string{"webhook.test"}}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("an ftp endpoint: %v, want invalid_argument", err)
	}
	if _, err := client.Webhooks.Create(ctx, keyward.WebhookCreate{Url: recv.URL, Events: []string{"no.such.event"}}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("an unknown event: %v, want invalid_argument", err)
	}

	d := must(client.Webhooks.Test(ctx, hook.Id))(t)
	if d.EventType != "webhook.test" || d.EndpointId != hook.Id {
		t.Errorf("the test delivery: %+v", d)
	}
	select {
	case ev := <-got:
		if ev != "webhook.test" {
			t.Errorf("the receiver got %q", ev)
		}
	case <-ctx.Done():
		t.Fatal("the receiver got nothing")
	}
	// The attempt is logged once the node has the receiver's answer.
	var attempt *keyward.WebhookAttempt
	for attempt == nil && ctx.Err() == nil {
		for a, err := range client.Webhooks.Attempts.List(ctx, hook.Id, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if a.DeliveryId == d.Id {
				attempt = a
			}
		}
		if attempt == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if attempt == nil || attempt.StatusCode != 200 || attempt.EventType != "webhook.test" {
		t.Errorf("the attempt: %+v", attempt)
	}
	if !contains(t, client.Webhooks.Deliveries.List(ctx, hook.Id, nil),
		func(x *keyward.WebhookDelivery) bool {
			return x.Id == d.Id && x.Status == keyward.WebhookDeliveryStatusSucceeded
		}) {
		t.Error("no succeeded test delivery")
	}
	if !contains(t, client.Webhooks.List(ctx, nil), func(x *keyward.Webhook) bool { return x.Id == hook.Id && x.Secret == nil }) {
		t.Error("the list has no endpoint, or shows its secret")
	}
	if err := client.Webhooks.Delete(ctx, hook.Id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.Webhooks.Test(ctx, hook.Id); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("testing a deleted endpoint: %v, want not_found", err)
	}
}

// A connection of type keyward to this very node, holding the CPA key:
// it passes its check; one saved unverified on purpose says so.
func connectionsFlow(ctx context.Context, t *testing.T, url string, client *keyward.Client, cpa string) {
	if cpa == "" {
		t.Skip("the keys flow made no CPA key")
	}
	if !contains(t, client.Connections.Types(ctx), func(c *keyward.ConnectorType) bool { return c.Id == "keyward" }) {
		t.Error("no connector type keyward")
	}
	in := keyward.ConnectionCreate{Type: keyward.ConnectionCreateTypeKeyward, Name: "Partner keyward", ApiUrl: &url, AccessToken: &cpa,
		Fields: &map[string]string{"method": "orders.statuses.list", "store": "online"}, RequiredScopes: &[]string{"orders:read"}}
	c := must(client.Connections.Create(ctx, in))(t)
	if c.State != keyward.ConnectionStateVerified || c.Verification == nil || c.Verification.Outcome != keyward.VerificationOutcomeOk || !slices.Contains(c.SecretsSet, "access_token") {
		t.Errorf("the keyward connection: %+v %+v", c, c.Verification)
	}
	if v := must(client.Connections.Verify(ctx, c.Id))(t); v.Outcome != keyward.VerificationOutcomeOk {
		t.Errorf("verified again: %+v", v)
	}
	bad := in
	bad.Name, bad.AccessToken = "Wrong key", keyward.String("kwk_wrong")
	if v := must(client.Connections.VerifyInput(ctx, bad))(t); v.Outcome != keyward.VerificationOutcomeInvalidCredentials {
		t.Errorf("a wrong key: %+v", v)
	}
	un := must(client.Connections.Create(ctx, keyward.ConnectionCreate{Type: keyward.ConnectionCreateTypeShopify, Name: "Main shop",
		AccessToken: keyward.String("shpat_x"), Fields: &map[string]string{"shop_domain": "mystore"}, SaveUnverified: keyward.Bool(true)}))(t)
	if un.State != keyward.ConnectionStateUnverified {
		t.Errorf("saved unverified: %+v", un)
	}
	if _, err := client.Connections.Create(ctx, keyward.ConnectionCreate{Type: "nosuch", Name: "x"}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("an unknown type: %v, want invalid_argument", err)
	}
	var states []keyward.ConnectionState
	for x, err := range client.Connections.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if x.Id == c.Id || x.Id == un.Id {
			states = append(states, x.State)
		}
	}
	if len(states) != 2 || !slices.Contains(states, keyward.ConnectionStateVerified) || !slices.Contains(states, keyward.ConnectionStateUnverified) {
		t.Errorf("listed states: %v", states)
	}
	if err := client.Connections.Delete(ctx, un.Id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := client.Connections.Get(ctx, un.Id); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("a deleted connection: %v, want not_found", err)
	}
}

// The operator makes a tenant, grants its licence, changes and revokes
// it, and gives the tenant an administrator; tokens stay on their side.
func operatorFlow(ctx context.Context, t *testing.T, url, token, operator string) {
	op := must(keyward.NewClient(url, keyward.WithToken(operator)))(t)
	ten := must(op.Tenants.Create(ctx, keyward.TenantCreate{Domain: "mybusiness", Name: keyward.String("My Business")}))(t)
	if ten.Domain != "mybusiness" || ten.Name != "My Business" {
		t.Errorf("the new tenant: %+v", ten)
	}
	if _, err := op.Tenants.Create(ctx, keyward.TenantCreate{Domain: "mybusiness"}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("a second mybusiness: %v, want conflict", err)
	}
	if got := must(op.Tenants.Get(ctx, "mybusiness"))(t); got.Id != ten.Id {
		t.Errorf("read back: %+v", got)
	}
	if !contains(t, op.Tenants.List(ctx, nil), func(x *keyward.Tenant) bool { return x.Domain == "mybusiness" }) {
		t.Error("the tenants have no mybusiness")
	}

	l := must(op.Licence.Grant(ctx, "mybusiness", keyward.LicenceGrant{ApiAccess: keyward.Set(true), MaxKeys: keyward.Set(20), RateLimit: keyward.Set(100)}))(t)
	if !l.ApiAccess || l.MaxKeys != 20 || l.RateLimit != 100 {
		t.Errorf("granted: %+v", l)
	}
	expiry := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	l = must(op.Licence.Grant(ctx, "mybusiness", keyward.LicenceGrant{ExpiresAt: keyward.Set(expiry)}))(t)
	if l.MaxKeys != 20 || l.ExpiresAt == nil || !l.ExpiresAt.Equal(expiry) {
		t.Errorf("an expiry merged in: %+v", l)
	}
	l = must(op.Licence.Grant(ctx, "mybusiness", keyward.LicenceGrant{ExpiresAt: keyward.Null[time.Time]()}))(t)
	if l.ExpiresAt != nil || l.MaxKeys != 20 {
		t.Errorf("the expiry cleared: %+v", l)
	}
	if got := must(op.Licence.For(ctx, "mybusiness"))(t); got.MaxKeys != 20 || !got.ApiAccess {
		t.Errorf("read back: %+v", got)
	}
	if _, err := op.Licence.Grant(ctx, "mybusiness", keyward.LicenceGrant{MaxKeys: keyward.Set(-1)}); !errors.Is(err, keyward.ErrInvalidArgument) {
		t.Errorf("a negative key limit: %v, want invalid_argument", err)
	}
	if _, err := op.Licence.For(ctx, "no-such-tenant"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("an unknown tenant's licence: %v, want not_found", err)
	}

	admin := must(op.Tenants.CreateAdmin(ctx, "mybusiness", keyward.TenantAdminCreate{Email: "owner@mybusiness.test"}))(t)
	if !admin.Created || admin.SignInUrl == "" || admin.User.Email != "owner@mybusiness.test" {
		t.Errorf("the administrator: %+v", admin)
	}

	revoked := must(op.Licence.Revoke(ctx, "mybusiness"))(t)
	if revoked.ApiAccess {
		t.Errorf("revoked: %+v", revoked)
	}

	// Each token on its own side: the tenant's is no operator, and the
	// operator's reads no tenant's keys.
	tenant := must(keyward.NewClient(url, keyward.WithToken(token)))(t)
	if _, err := keyward.Collect(tenant.Tenants.List(ctx, nil)); !errors.Is(err, keyward.ErrUnauthenticated) && !errors.Is(err, keyward.ErrForbidden) {
		t.Errorf("the tenant's token on the operator API: %v", err)
	}
	if _, err := keyward.Collect(op.Keys.List(ctx, nil)); !errors.Is(err, keyward.ErrUnauthenticated) && !errors.Is(err, keyward.ErrForbidden) {
		t.Errorf("the operator token on the tenant API: %v", err)
	}
	if own := must(tenant.Licence.Get(ctx))(t); !own.Active || !own.ApiAccess {
		t.Errorf("the demo tenant's own licence: %+v", own)
	}
}
