// Package api is keyward's admin REST API: a thin door onto the service
// layer. routes.go is the one route table; each resource has its own file.
package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// Auth is who may call a route.
type Auth string

// Route authentication policies.
const (
	AuthNone     Auth = "none"     // anyone
	AuthTenant   Auth = "tenant"   // a personal access token
	AuthOperator Auth = "operator" // the operator token
	AuthMerchant Auth = "merchant" // merchant API credentials
)

// Route is one entry of the route table.
type Route struct {
	Method  string
	Path    string
	Auth    Auth
	Handler func(http.ResponseWriter, *http.Request) error
}

// API serves the admin REST API.
type API struct {
	svc   *service.Service
	ready func(*http.Request) error
}

// New returns the API over svc. ready reports whether the node can serve
// (database reachable, replica loaded); nil means always ready.
func New(svc *service.Service, ready func(*http.Request) error) *API {
	return &API{svc: svc, ready: ready}
}

// Routes returns the route table; the OpenAPI document is tested against it.
func (a *API) Routes() []Route {
	return []Route{
		{"GET", "/healthz", AuthNone, a.health},
		{"GET", "/readyz", AuthNone, a.readiness},
		{"GET", "/api/v1/openapi.json", AuthNone, a.openAPI},

		{"GET", "/api/v1/stores", AuthTenant, a.listStores},
		{"POST", "/api/v1/stores", AuthTenant, a.createStore},
		{"GET", "/api/v1/stores/{id}", AuthTenant, a.getStore},
		{"PATCH", "/api/v1/stores/{id}", AuthTenant, a.updateStore},
		{"DELETE", "/api/v1/stores/{id}", AuthTenant, a.deleteStore},
		{"GET", "/api/v1/licence", AuthTenant, a.getTenantLicence},

		{"GET", "/api/v1/profiles", AuthTenant, a.listProfiles},
		{"POST", "/api/v1/profiles", AuthTenant, a.createProfile},
		{"GET", "/api/v1/profiles/{id}", AuthTenant, a.getProfile},
		{"PATCH", "/api/v1/profiles/{id}", AuthTenant, a.updateProfile},
		{"DELETE", "/api/v1/profiles/{id}", AuthTenant, a.deleteProfile},

		{"GET", "/api/v1/users", AuthTenant, a.listUsers},
		{"POST", "/api/v1/users", AuthTenant, a.createUser},
		{"GET", "/api/v1/users/{id}", AuthTenant, a.getUser},
		{"PATCH", "/api/v1/users/{id}", AuthTenant, a.updateUser},
		{"POST", "/api/v1/users/{id}/password-reset", AuthTenant, a.resetPassword},
		{"POST", "/api/v1/users/{id}/totp-reset", AuthTenant, a.resetTOTP},

		{"POST", "/api/v1/signin", AuthNone, a.signIn},
		{"GET", "/api/v1/me", AuthTenant, a.getMe},
		{"POST", "/api/v1/me/password", AuthTenant, a.changePassword},
		{"GET", "/api/v1/me/tokens", AuthTenant, a.listTokens},
		{"POST", "/api/v1/me/tokens", AuthTenant, a.createToken},
		{"DELETE", "/api/v1/me/tokens/{id}", AuthTenant, a.deleteMyToken},

		{"GET", "/api/v1/tokens", AuthTenant, a.listTokens},
		{"POST", "/api/v1/tokens", AuthTenant, a.createToken},
		{"DELETE", "/api/v1/tokens/{id}", AuthTenant, a.deleteToken},

		{"GET", "/api/v1/audit", AuthTenant, a.listAudit},

		{"GET", "/api/v1/catalog", AuthTenant, a.getCatalog},
		{"GET", "/api/v1/keys", AuthTenant, a.listKeys},
		{"POST", "/api/v1/keys", AuthTenant, a.createKey},
		{"GET", "/api/v1/keys/{id}", AuthTenant, a.getKey},
		{"PATCH", "/api/v1/keys/{id}", AuthTenant, a.updateKey},
		{"DELETE", "/api/v1/keys/{id}", AuthTenant, a.deleteKey},
		{"POST", "/api/v1/keys/{id}/roll", AuthTenant, a.rollKey},

		{"GET", "/api/v1/webhooks", AuthTenant, a.listWebhooks},
		{"POST", "/api/v1/webhooks", AuthTenant, a.createWebhook},
		{"GET", "/api/v1/webhooks/{id}", AuthTenant, a.getWebhook},
		{"PATCH", "/api/v1/webhooks/{id}", AuthTenant, a.updateWebhook},
		{"DELETE", "/api/v1/webhooks/{id}", AuthTenant, a.deleteWebhook},
		{"GET", "/api/v1/webhooks/event-types", AuthTenant, a.eventTypes},
		{"POST", "/api/v1/webhooks/{id}/roll", AuthTenant, a.rollWebhookSecret},
		{"POST", "/api/v1/webhooks/{id}/test", AuthTenant, a.testWebhook},
		{"GET", "/api/v1/webhooks/{id}/deliveries", AuthTenant, a.listDeliveries},
		{"POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/replay", AuthTenant, a.replayDelivery},
		{"POST", "/api/v1/webhooks/{id}/replay", AuthTenant, a.replayFailed},
		{"GET", "/api/v1/webhooks/{id}/attempts", AuthTenant, a.listAttempts},
		{"GET", "/api/v1/webhooks/{id}/stats", AuthTenant, a.webhookStats},

		{"GET", "/api/v1/connector-types", AuthTenant, a.listConnectorTypes},
		{"GET", "/api/v1/connections", AuthTenant, a.listConnections},
		{"POST", "/api/v1/connections", AuthTenant, a.createConnection},
		{"POST", "/api/v1/connections/verify", AuthTenant, a.verifyConnectionInput},
		{"GET", "/api/v1/connections/{id}", AuthTenant, a.getConnection},
		{"PATCH", "/api/v1/connections/{id}", AuthTenant, a.updateConnection},
		{"DELETE", "/api/v1/connections/{id}", AuthTenant, a.deleteConnection},
		{"POST", "/api/v1/connections/{id}/verify", AuthTenant, a.verifyConnection},
		{"POST", "/api/v1/connections/{id}/reveal", AuthTenant, a.revealConnectionSecret},

		{"GET", "/api/v1/merchants", AuthTenant, a.listMerchants},
		{"POST", "/api/v1/merchants", AuthTenant, a.createMerchant},
		{"GET", "/api/v1/merchants/api-access", AuthTenant, a.listMerchantAPIAccess},
		{"DELETE", "/api/v1/merchants/api-access/{account}", AuthTenant, a.deactivateMerchantAPIAccess},
		{"GET", "/api/v1/merchants/{id}", AuthTenant, a.getMerchant},
		{"PATCH", "/api/v1/merchants/{id}", AuthTenant, a.updateMerchant},
		{"DELETE", "/api/v1/merchants/{id}", AuthTenant, a.deleteMerchant},
		{"GET", "/api/v1/merchants/{id}/users", AuthTenant, a.listMerchantUsers},
		{"POST", "/api/v1/merchants/{id}/users", AuthTenant, a.createMerchantUser},
		{"PATCH", "/api/v1/merchants/{id}/users/{user}", AuthTenant, a.updateMerchantUser},
		{"POST", "/api/v1/merchants/{id}/users/{user}/auth-key", AuthTenant, a.regenerateMerchantKey},
		{"POST", "/api/v1/merchants/{id}/users/{user}/portal-password", AuthTenant, a.setMerchantPortalPassword},
		{"GET", "/api/v1/merchant/credentials", AuthMerchant, a.merchantCredentials},

		{"GET", "/operator/v1/tenants", AuthOperator, a.listTenants},
		{"POST", "/operator/v1/tenants", AuthOperator, a.createTenant},
		{"GET", "/operator/v1/tenants/{domain}", AuthOperator, a.getTenant},
		{"GET", "/operator/v1/tenants/{domain}/licence", AuthOperator, a.getLicence},
		{"PUT", "/operator/v1/tenants/{domain}/licence", AuthOperator, a.grantLicence},
		{"DELETE", "/operator/v1/tenants/{domain}/licence", AuthOperator, a.revokeLicence},
		{"POST", "/operator/v1/tenants/{domain}/admins", AuthOperator, a.createTenantAdmin},
		{"POST", "/operator/v1/tenants/{domain}/admins/totp-reset", AuthOperator, a.resetAdminTOTP},
		{"POST", "/operator/v1/token", AuthOperator, a.rotateOperatorToken},
	}
}

// Register adds every route to mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, a.adapt(rt))
	}
}

// adapt authenticates the caller as the route requires and writes any
// error the handler returns as problem details.
func (a *API) adapt(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, key, hasMerchant := MerchantCredentials(r)
		if rt.Auth == AuthMerchant || (rt.Auth == AuthTenant && hasMerchant && httpx.BearerToken(r) == "") {
			// Merchant credentials on a tenant route are authenticated so the
			// service can refuse them with a reason, not a bare 401.
			actor, _, err := a.svc.AuthenticateMerchant(r.Context(), id, key, httpx.ClientAddr(r))
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Basic realm="keyward merchant API"`)
				httpx.Error(w, r, err)
				return
			}
			r = r.WithContext(keyward.WithActor(r.Context(), actor))
		} else if rt.Auth != AuthNone {
			actor, err := a.svc.Authenticate(r.Context(), httpx.BearerToken(r), httpx.ClientAddr(r))
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
				httpx.Error(w, r, err)
				return
			}
			if rt.Auth == AuthOperator && actor.Kind != keyward.ActorOperator {
				httpx.Error(w, r, keyward.Errorf(keyward.EForbidden, "This endpoint needs the operator token."))
				return
			}
			if rt.Auth == AuthTenant && actor.Kind != keyward.ActorUser {
				httpx.Error(w, r, keyward.Errorf(keyward.EForbidden, "This endpoint needs a personal access token of a tenant user; the operator token cannot call it."))
				return
			}
			r = r.WithContext(keyward.WithActor(r.Context(), actor))
		}
		a.serve(rt, w, conditional(r))
	})
}

func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *API) readiness(w http.ResponseWriter, r *http.Request) error {
	if a.ready != nil {
		if err := a.ready(r); err != nil {
			return err
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// intQuery reads an optional integer query parameter.
func intQuery(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, keyward.Invalid(name, "%s must be a whole number of 0 or more", name)
	}
	return n, nil
}

func boolQuery(r *http.Request, name string) (*bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, keyward.Invalid(name, "%s must be true or false", name)
	}
	return &b, nil
}
