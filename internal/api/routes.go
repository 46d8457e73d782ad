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

// Auth is the kind of caller a route admits. It is the one rule of who may
// call what: adapt authenticates every caller the same way and lets
// through only the kind the route declares; every other kind is refused
// before the handler runs (401 without a valid credential, 403 with a
// credential of another kind). A route declaring no Auth admits no one.
type Auth string

// The kinds of caller a route may admit.
const (
	AuthNone     Auth = "none"     // anyone; no credential is read
	AuthTenant   Auth = "tenant"   // a tenant user's personal access token
	AuthSelf     Auth = "self"     // the same, also while a password change is pending
	AuthOperator Auth = "operator" // the operator token
	AuthMerchant Auth = "merchant" // merchant API credentials (API Account ID and Auth Key)
)

// Route is one entry of the route table.
type Route struct {
	Method string
	Path   string
	Auth   Auth
	// Feature is what the caller's security profile must hold on an
	// AuthTenant route ("" for any tenant user). It is checked before the
	// handler runs, and so before an idempotent replay is answered.
	Feature keyward.Feature
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
		{"GET", "/healthz", AuthNone, "", a.health},
		{"GET", "/readyz", AuthNone, "", a.readiness},
		{"GET", "/api/v1/openapi.json", AuthNone, "", a.openAPI},

		{"GET", "/api/v1/stores", AuthTenant, "", a.listStores},
		{"POST", "/api/v1/stores", AuthTenant, keyward.FeatureAPIManagement, a.createStore},
		{"GET", "/api/v1/stores/{id}", AuthTenant, "", a.getStore},
		{"PATCH", "/api/v1/stores/{id}", AuthTenant, keyward.FeatureAPIManagement, a.updateStore},
		{"DELETE", "/api/v1/stores/{id}", AuthTenant, keyward.FeatureAPIManagement, a.deleteStore},
		{"GET", "/api/v1/licence", AuthTenant, keyward.FeatureAPIManagement, a.getTenantLicence},
		{"GET", "/api/v1/key-policy", AuthTenant, keyward.FeatureAPIManagement, a.getKeyPolicy},
		{"PATCH", "/api/v1/key-policy", AuthTenant, keyward.FeatureAPIManagement, a.updateKeyPolicy},

		{"GET", "/api/v1/profiles", AuthTenant, keyward.FeatureUsers, a.listProfiles},
		{"POST", "/api/v1/profiles", AuthTenant, keyward.FeatureUsers, a.createProfile},
		{"GET", "/api/v1/profiles/{id}", AuthTenant, keyward.FeatureUsers, a.getProfile},
		{"PATCH", "/api/v1/profiles/{id}", AuthTenant, keyward.FeatureUsers, a.updateProfile},
		{"DELETE", "/api/v1/profiles/{id}", AuthTenant, keyward.FeatureUsers, a.deleteProfile},

		{"GET", "/api/v1/users", AuthTenant, keyward.FeatureUsers, a.listUsers},
		{"POST", "/api/v1/users", AuthTenant, keyward.FeatureUsers, a.createUser},
		{"GET", "/api/v1/users/{id}", AuthTenant, keyward.FeatureUsers, a.getUser},
		{"PATCH", "/api/v1/users/{id}", AuthTenant, keyward.FeatureUsers, a.updateUser},
		{"POST", "/api/v1/users/{id}/password-reset", AuthTenant, keyward.FeatureUsers, a.resetPassword},
		{"POST", "/api/v1/users/{id}/totp-reset", AuthTenant, keyward.FeatureUsers, a.resetTOTP},

		{"POST", "/api/v1/signin", AuthNone, "", a.signIn},
		{"GET", "/api/v1/me", AuthSelf, "", a.getMe},
		{"POST", "/api/v1/me/password", AuthSelf, "", a.changePassword},
		{"GET", "/api/v1/me/tokens", AuthTenant, "", a.listTokens},
		{"POST", "/api/v1/me/tokens", AuthTenant, "", a.createToken},
		{"DELETE", "/api/v1/me/tokens/{id}", AuthTenant, "", a.deleteMyToken},

		{"GET", "/api/v1/tokens", AuthTenant, "", a.listTokens},
		{"POST", "/api/v1/tokens", AuthTenant, "", a.createToken},
		{"DELETE", "/api/v1/tokens/{id}", AuthTenant, "", a.deleteToken},

		{"GET", "/api/v1/audit", AuthTenant, keyward.FeatureAudit, a.listAudit},

		{"GET", "/api/v1/catalog", AuthTenant, "", a.getCatalog},
		{"GET", "/api/v1/keys", AuthTenant, keyward.FeatureAPIManagement, a.listKeys},
		{"POST", "/api/v1/keys", AuthTenant, keyward.FeatureAPIManagement, a.createKey},
		{"GET", "/api/v1/keys/{id}", AuthTenant, keyward.FeatureAPIManagement, a.getKey},
		{"PATCH", "/api/v1/keys/{id}", AuthTenant, keyward.FeatureAPIManagement, a.updateKey},
		{"DELETE", "/api/v1/keys/{id}", AuthTenant, keyward.FeatureAPIManagement, a.deleteKey},
		{"POST", "/api/v1/keys/{id}/roll", AuthTenant, keyward.FeatureAPIManagement, a.rollKey},
		{"GET", "/api/v1/leak-policy", AuthTenant, keyward.FeatureAPIManagement, a.getLeakPolicy},
		{"PUT", "/api/v1/leak-policy", AuthTenant, keyward.FeatureAPIManagement, a.putLeakPolicy},

		{"GET", "/api/v1/integrators", AuthTenant, keyward.FeatureAPIManagement, a.listIntegrators},
		{"POST", "/api/v1/integrators", AuthTenant, keyward.FeatureAPIManagement, a.createIntegrator},
		{"GET", "/api/v1/integrators/{id}", AuthTenant, keyward.FeatureAPIManagement, a.getIntegrator},
		{"DELETE", "/api/v1/integrators/{id}", AuthTenant, keyward.FeatureAPIManagement, a.deleteIntegrator},
		{"POST", "/api/v1/integrators/{id}/roll", AuthTenant, keyward.FeatureAPIManagement, a.rollIntegratorSecret},
		{"GET", "/api/v1/key-requests", AuthTenant, keyward.FeatureAPIManagement, a.listKeyRequests},
		{"POST", "/api/v1/key-requests", AuthTenant, keyward.FeatureAPIManagement, a.openKeyRequest},
		{"GET", "/api/v1/key-requests/{id}", AuthTenant, keyward.FeatureAPIManagement, a.getKeyRequest},
		{"POST", "/api/v1/key-requests/{id}/approve", AuthTenant, keyward.FeatureAPIManagement, a.approveKeyRequest},
		{"POST", "/api/v1/key-requests/{id}/decline", AuthTenant, keyward.FeatureAPIManagement, a.declineKeyRequest},

		{"GET", "/api/v1/webhooks", AuthTenant, keyward.FeatureWebhooks, a.listWebhooks},
		{"POST", "/api/v1/webhooks", AuthTenant, keyward.FeatureWebhooks, a.createWebhook},
		{"GET", "/api/v1/webhooks/{id}", AuthTenant, keyward.FeatureWebhooks, a.getWebhook},
		{"PATCH", "/api/v1/webhooks/{id}", AuthTenant, keyward.FeatureWebhooks, a.updateWebhook},
		{"DELETE", "/api/v1/webhooks/{id}", AuthTenant, keyward.FeatureWebhooks, a.deleteWebhook},
		{"GET", "/api/v1/webhooks/event-types", AuthTenant, keyward.FeatureWebhooks, a.eventTypes},
		{"POST", "/api/v1/webhooks/{id}/roll", AuthTenant, keyward.FeatureWebhooks, a.rollWebhookSecret},
		{"POST", "/api/v1/webhooks/{id}/test", AuthTenant, keyward.FeatureWebhooks, a.testWebhook},
		{"GET", "/api/v1/webhooks/{id}/deliveries", AuthTenant, keyward.FeatureWebhooks, a.listDeliveries},
		{"POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/replay", AuthTenant, keyward.FeatureWebhooks, a.replayDelivery},
		{"POST", "/api/v1/webhooks/{id}/replay", AuthTenant, keyward.FeatureWebhooks, a.replayFailed},
		{"GET", "/api/v1/webhooks/{id}/attempts", AuthTenant, keyward.FeatureWebhooks, a.listAttempts},
		{"GET", "/api/v1/webhooks/{id}/stats", AuthTenant, keyward.FeatureWebhooks, a.webhookStats},

		{"GET", "/api/v1/handovers", AuthTenant, "", a.listHandovers},
		{"POST", "/api/v1/handovers", AuthTenant, "", a.createHandover},
		{"GET", "/api/v1/handovers/{id}", AuthTenant, "", a.getHandover},

		{"GET", "/api/v1/connector-types", AuthTenant, keyward.FeatureConnectors, a.listConnectorTypes},
		{"GET", "/api/v1/connections", AuthTenant, keyward.FeatureConnectors, a.listConnections},
		{"POST", "/api/v1/connections", AuthTenant, keyward.FeatureConnectors, a.createConnection},
		{"POST", "/api/v1/connections/verify", AuthTenant, keyward.FeatureConnectors, a.verifyConnectionInput},
		{"GET", "/api/v1/connections/{id}", AuthTenant, keyward.FeatureConnectors, a.getConnection},
		{"PATCH", "/api/v1/connections/{id}", AuthTenant, keyward.FeatureConnectors, a.updateConnection},
		{"DELETE", "/api/v1/connections/{id}", AuthTenant, keyward.FeatureConnectors, a.deleteConnection},
		{"POST", "/api/v1/connections/{id}/verify", AuthTenant, keyward.FeatureConnectors, a.verifyConnection},
		{"POST", "/api/v1/connections/{id}/reveal", AuthTenant, keyward.FeatureConnectors, a.revealConnectionSecret},

		{"GET", "/api/v1/merchants", AuthTenant, keyward.FeatureMerchants, a.listMerchants},
		{"POST", "/api/v1/merchants", AuthTenant, keyward.FeatureMerchants, a.createMerchant},
		{"GET", "/api/v1/merchants/api-access", AuthTenant, keyward.FeatureMerchants, a.listMerchantAPIAccess},
		{"DELETE", "/api/v1/merchants/api-access/{account}", AuthTenant, keyward.FeatureMerchants, a.deactivateMerchantAPIAccess},
		{"GET", "/api/v1/merchants/{id}", AuthTenant, keyward.FeatureMerchants, a.getMerchant},
		{"PATCH", "/api/v1/merchants/{id}", AuthTenant, keyward.FeatureMerchants, a.updateMerchant},
		{"DELETE", "/api/v1/merchants/{id}", AuthTenant, keyward.FeatureMerchants, a.deleteMerchant},
		{"GET", "/api/v1/merchants/{id}/users", AuthTenant, keyward.FeatureMerchants, a.listMerchantUsers},
		{"POST", "/api/v1/merchants/{id}/users", AuthTenant, keyward.FeatureMerchants, a.createMerchantUser},
		{"PATCH", "/api/v1/merchants/{id}/users/{user}", AuthTenant, keyward.FeatureMerchants, a.updateMerchantUser},
		{"POST", "/api/v1/merchants/{id}/users/{user}/auth-key", AuthTenant, keyward.FeatureMerchants, a.regenerateMerchantKey},
		{"POST", "/api/v1/merchants/{id}/users/{user}/portal-password", AuthTenant, keyward.FeatureMerchants, a.setMerchantPortalPassword},
		{"GET", "/api/v1/merchant/credentials", AuthMerchant, "", a.merchantCredentials},

		{"GET", "/operator/v1/tenants", AuthOperator, "", a.listTenants},
		{"POST", "/operator/v1/tenants", AuthOperator, "", a.createTenant},
		{"GET", "/operator/v1/tenants/{domain}", AuthOperator, "", a.getTenant},
		{"GET", "/operator/v1/tenants/{domain}/licence", AuthOperator, "", a.getLicence},
		{"PUT", "/operator/v1/tenants/{domain}/licence", AuthOperator, "", a.grantLicence},
		{"DELETE", "/operator/v1/tenants/{domain}/licence", AuthOperator, "", a.revokeLicence},
		{"POST", "/operator/v1/tenants/{domain}/admins", AuthOperator, "", a.createTenantAdmin},
		{"POST", "/operator/v1/tenants/{domain}/admins/totp-reset", AuthOperator, "", a.resetAdminTOTP},
		{"POST", "/operator/v1/token", AuthOperator, "", a.rotateOperatorToken},
		{"GET", "/operator/v1/integrators", AuthOperator, "", a.listIntegrators},
		{"POST", "/operator/v1/integrators", AuthOperator, "", a.createIntegrator},
		{"DELETE", "/operator/v1/integrators/{id}", AuthOperator, "", a.deleteIntegrator},
		{"POST", "/operator/v1/integrators/{id}/roll", AuthOperator, "", a.rollIntegratorSecret},
	}
}

// Register adds every route to mux. A path answers a method it does not
// serve with 405 and Allow, even where a less specific path serves it
// (GET /api/v1/connections/verify is not the connection "verify"); see
// paths.
func (a *API) Register(mux *http.ServeMux) {
	t := newPaths(a.Routes())
	for _, rt := range a.Routes() {
		h := a.adapt(rt)
		mux.Handle(rt.Method+" "+rt.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if allow, own := t.allow(r.URL.Path, rt.Path); !own {
				httpx.MethodNotAllowed(w, r, allow)
				return
			}
			h.ServeHTTP(w, r)
		}))
	}
}

// adapt lets the caller through as the route declares (authorize) and
// writes any error the handler returns as problem details.
func (a *API) adapt(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Auth != AuthNone {
			actor, err := a.authorize(rt, r)
			if err != nil {
				if keyward.ErrorCode(err) == keyward.EUnauthenticated {
					w.Header().Set("WWW-Authenticate", challenge(rt, r))
				}
				httpx.Error(w, r, err)
				return
			}
			r = r.WithContext(keyward.WithActor(r.Context(), actor))
		}
		// Checked here, for every route, so that a handler reading no
		// body refuses a form as one reading JSON does.
		if err := httpx.BodyType(r); err != nil {
			httpx.Error(w, r, err)
			return
		}
		a.serve(rt, w, conditional(r))
	})
}

// authorize authenticates the caller and returns it if the route admits
// it now: its kind, its tenant, the route's feature and a pending password
// change are checked on every request, replays included.
func (a *API) authorize(rt Route, r *http.Request) (*keyward.Actor, error) {
	var actor *keyward.Actor
	var err error
	if merchantCaller(rt, r) {
		// Merchant credentials are authenticated on any route so that a
		// route not for merchants refuses them with a reason, not a bare 401.
		id, key, _ := MerchantCredentials(r)
		actor, _, err = a.svc.AuthenticateMerchant(r.Context(), id, key, httpx.ClientAddr(r))
	} else {
		actor, err = a.svc.Authenticate(r.Context(), httpx.BearerToken(r), httpx.ClientAddr(r))
	}
	if err != nil {
		return nil, err
	}
	ctx := keyward.WithActor(r.Context(), actor)
	switch rt.Auth {
	case AuthTenant:
		_, err = service.Require(ctx, rt.Feature)
	case AuthSelf:
		_, err = service.RequireSelf(ctx)
	case AuthOperator:
		if actor.Kind != keyward.ActorOperator {
			err = keyward.Errorf(keyward.EForbidden, "This endpoint needs the operator token.")
		}
	case AuthMerchant:
		if actor.Kind != keyward.ActorMerchant {
			err = keyward.Errorf(keyward.EForbidden, "This endpoint is for merchant API credentials: send your API Account ID and API Auth Key with HTTP Basic authentication.")
		}
	default:
		// A route that declares no kind of caller admits none.
		err = keyward.Errorf(keyward.EForbidden, "This endpoint admits no caller.")
	}
	if err != nil {
		return nil, err
	}
	return actor, nil
}

// merchantCaller reports whether the request is authenticated as a
// merchant: it sends merchant credentials and no bearer token, or the
// route is for merchants.
func merchantCaller(rt Route, r *http.Request) bool {
	if httpx.BearerToken(r) != "" {
		return false
	}
	_, _, sent := MerchantCredentials(r)
	return sent || rt.Auth == AuthMerchant
}

// challenge is the WWW-Authenticate value of a 401: the scheme the
// caller tried, or the one the route admits.
func challenge(rt Route, r *http.Request) string {
	if merchantCaller(rt, r) {
		return `Basic realm="keyward merchant API"`
	}
	return `Bearer realm="keyward"`
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
