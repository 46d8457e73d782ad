// Package web is keyward's back office: server-rendered pages over the
// same service layer as the REST API. routes.go is the one route table;
// each resource has its own file, its templates under templates/ and the
// stylesheet and the small progressive-enhancement script under static/.
//
// Every page works without JavaScript. State changes are POSTs, answered
// with a redirect (POST/redirect/GET) except where the answer shows a
// secret once, and every request that changes state passes Go's
// cross-origin protection.
package web

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// Paths of the pages, named as the menu names them.
const (
	pathHome        = "/"
	pathSignIn      = "/signin"
	pathCode        = "/signin/code"
	pathSignOut     = "/signout"
	pathKeys        = "/settings/integrations/api-management"
	pathProfiles    = "/staff/profile-security"
	pathUsers       = "/staff/users"
	pathAudit       = "/audit"
	pathMerchants   = "/organization/merchants"
	pathMerchantAPI = "/integrations/api"
	pathAccount     = "/account/security"
	pathStatic      = "/static/"
)

// maxForm bounds a form body.
const maxForm = 1 << 20

// Web serves the back office.
type Web struct {
	svc   *service.Service
	pages *pages
	cop   *http.CrossOriginProtection
	// gatewayURL is where clients send API requests; "" when unknown.
	gatewayURL string
}

// Option sets up a Web.
type Option func(*Web)

// WithGatewayURL names the address clients send API requests to, such as
// https://api.example.com, for the merchant portal's guide.
func WithGatewayURL(u string) Option { return func(w *Web) { w.gatewayURL = u } }

// New returns the back office over svc. It parses every template now and
// panics if one is broken, so a bad template stops the server at start.
func New(svc *service.Service, opts ...Option) *Web {
	w := &Web{svc: svc, pages: mustParsePages(), cop: http.NewCrossOriginProtection()}
	w.cop.SetDenyHandler(http.HandlerFunc(w.crossOrigin))
	for _, t := range w.pages.byName {
		t.Funcs(template.FuncMap{"handoverOffer": w.offer})
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// route is one entry of the route table. feature is what the caller's
// profile must hold ("" for any signed-in user); public routes need no
// session.
type route struct {
	method, path string
	feature      keyward.Feature
	public       bool
	handle       func(http.ResponseWriter, *http.Request) error
}

func (w *Web) routes() []route {
	api := keyward.FeatureAPIManagement
	users := keyward.FeatureUsers
	mer := keyward.FeatureMerchants
	hooks := keyward.FeatureWebhooks
	return []route{
		{"GET", pathSignIn, "", true, w.signInForm},
		{"POST", pathSignIn, "", true, w.signIn},
		{"GET", pathCode, "", true, w.codeForm},
		{"POST", pathCode, "", true, w.code},
		{"POST", pathSignOut, "", true, w.signOut},

		{"GET", pathHome + "{$}", "", false, w.home},
		{"GET", pathAccount, "", false, w.account},
		{"POST", pathAccount + "/totp", "", false, w.enableTOTP},
		{"POST", pathAccount + "/totp/disable", "", false, w.disableTOTP},
		{"GET", pathPassword, "", false, w.passwordForm},
		{"POST", pathPassword, "", false, w.changePassword},
		{"POST", pathMyTokens, "", false, w.createMyToken},
		{"GET", pathMyTokens + "/{id}/revoke", "", false, w.confirmRevokeToken},
		{"POST", pathMyTokens + "/{id}/revoke", "", false, w.revokeToken},
		{"GET", pathRecovery, "", true, w.recoveryForm},
		{"POST", pathRecovery, "", true, w.recovery},
		{"GET", pathStepUp, "", false, w.stepUpForm},
		{"POST", pathStepUp, "", false, w.confirmStepUp},
		{"POST", pathRecoveryCodes, "", false, w.regenerateRecoveryCodes},
		{"POST", pathSignOutAll, "", false, w.signOutEverywhere},
		{"GET", pathSignInLink, "", true, w.signInLinkForm},
		{"POST", pathSignInLink, "", true, w.signInLink},

		{"GET", pathKeys, api, false, w.listKeys},
		{"POST", pathKeys, api, false, w.createKey},
		{"GET", pathKeys + "/new", api, false, w.newKey},
		{"GET", pathKeys + "/{id}", api, false, w.showKey},
		{"GET", pathKeys + "/{id}/edit", api, false, w.editKey},
		{"POST", pathKeys + "/{id}/edit", api, false, w.updateKey},
		{"POST", pathKeys + "/{id}/enabled", api, false, w.setKeyEnabled},
		{"GET", pathKeys + "/{id}/delete", api, false, w.confirmDeleteKey},
		{"POST", pathKeys + "/{id}/delete", api, false, w.deleteKey},
		{"POST", pathKeys + "/{id}/roll", api, false, w.rollKey},

		// Key requests from integrators' links (keyrequest.go).
		{"GET", pathKeyRequestLink, api, false, w.openKeyRequest},
		{"GET", pathKeyRequests, api, false, w.listKeyRequests},
		{"GET", pathKeyRequests + "/{id}", api, false, w.showKeyRequest},
		{"POST", pathKeyRequests + "/{id}/approve", api, false, w.approveKeyRequest},
		{"POST", pathKeyRequests + "/{id}/decline", api, false, w.declineKeyRequest},
		{"GET", pathIntegrators, api, false, w.listIntegrators},
		{"POST", pathIntegrators, api, false, w.createIntegrator},
		{"POST", pathIntegrators + "/{id}/roll", api, false, w.rollIntegrator},
		{"POST", pathIntegrators + "/{id}/delete", api, false, w.deleteIntegrator},

		{"GET", pathStores, api, false, w.listStores},
		{"POST", pathStores, api, false, w.createStore},
		{"GET", pathStores + "/{id}", api, false, w.showStore},
		{"POST", pathStores + "/{id}", api, false, w.renameStore},
		{"GET", pathStores + "/{id}/remove", api, false, w.confirmRemoveStore},
		{"POST", pathStores + "/{id}/remove", api, false, w.removeStore},
		{"GET", pathStores + "/{id}/deactivate", api, false, w.confirmDeactivateStore},
		{"POST", pathStores + "/{id}/deactivate", api, false, w.deactivateStore},
		{"POST", pathStores + "/{id}/reactivate", api, false, w.reactivateStore},
		{"GET", pathLicence, api, false, w.showLicence},
		{"GET", pathKeyPolicy, api, false, w.showKeyPolicy},
		{"POST", pathKeyPolicy, api, false, w.saveKeyPolicy},
		{"POST", pathLeakPolicy, api, false, w.saveLeakPolicy},

		{"GET", pathConnectors, keyward.FeatureConnectors, false, w.listConnectors},
		{"GET", pathConnectors + "/new", keyward.FeatureConnectors, false, w.newConnector},
		{"POST", pathConnectors + "/new", keyward.FeatureConnectors, false, w.createConnector},
		{"GET", pathConnectors + "/{id}", keyward.FeatureConnectors, false, w.editConnector},
		{"POST", pathConnectors + "/{id}", keyward.FeatureConnectors, false, w.updateConnector},
		{"POST", pathConnectors + "/{id}/enabled", keyward.FeatureConnectors, false, w.setConnectorEnabled},
		{"GET", pathConnectors + "/{id}/delete", keyward.FeatureConnectors, false, w.confirmDeleteConnector},
		{"POST", pathConnectors + "/{id}/delete", keyward.FeatureConnectors, false, w.deleteConnector},
		{"GET", pathConnectors + "/{id}/reveal", keyward.FeatureConnectors, false, w.revealConnectorForm},
		{"POST", pathConnectors + "/{id}/reveal", keyward.FeatureConnectors, false, w.revealConnector},

		{"GET", pathProfiles, users, false, w.listProfiles},
		{"POST", pathProfiles, users, false, w.createProfile},
		{"GET", pathProfiles + "/{id}", users, false, w.editProfile},
		{"POST", pathProfiles + "/{id}", users, false, w.saveProfile},

		{"GET", pathUsers, users, false, w.listUsers},
		{"POST", pathUsers, users, false, w.createUser},
		{"GET", pathUsers + "/new", users, false, w.newUser},
		{"POST", pathUsers + "/{id}/profile", users, false, w.setUserProfile},
		{"POST", pathUsers + "/{id}/active", users, false, w.setUserActive},
		{"POST", pathUsers + "/{id}/password", users, false, w.resetUserPassword},
		{"POST", pathUsers + "/{id}/totp-reset", users, false, w.resetUserTOTP},

		{"GET", pathMerchants, mer, false, w.listMerchants},
		{"POST", pathMerchants, mer, false, w.createMerchant},
		{"GET", pathMerchants + "/new", mer, false, w.newMerchant},
		{"GET", pathMerchants + "/{id}", mer, false, w.showMerchant},
		{"GET", pathMerchants + "/{id}/edit", mer, false, w.editMerchant},
		{"POST", pathMerchants + "/{id}/edit", mer, false, w.updateMerchant},
		{"GET", pathMerchants + "/{id}/users/new", mer, false, w.newMerchantUser},
		{"POST", pathMerchants + "/{id}/users", mer, false, w.createMerchantUser},
		{"GET", pathMerchants + "/{id}/users/{user}/edit", mer, false, w.editMerchantUser},
		{"POST", pathMerchants + "/{id}/users/{user}/edit", mer, false, w.updateMerchantUser},
		{"POST", pathMerchants + "/{id}/users/{user}/regenerate", mer, false, w.regenerateMerchantAuthKey},
		{"POST", pathMerchants + "/{id}/users/{user}/deactivate", mer, false, w.deactivateMerchantUserAPI},
		{"POST", pathMerchants + "/{id}/users/{user}/portal-password", mer, false, w.setMerchantPortalPassword},

		{"GET", pathMerchantAPI, mer, false, w.listMerchantAPIAccess},
		{"POST", pathMerchantAPI + "/{account}/deactivate", mer, false, w.deactivateMerchantAPIAccess},

		// Integrations > API > Manage Webhooks (webhook.go).
		{"GET", pathWebhooks, hooks, false, w.listWebhooks},
		{"POST", pathWebhooks, hooks, false, w.createWebhook},
		{"GET", pathWebhooks + "/new", hooks, false, w.newWebhook},
		{"GET", pathWebhooks + "/{id}", hooks, false, w.showWebhook},
		{"GET", pathWebhooks + "/{id}/edit", hooks, false, w.editWebhook},
		{"POST", pathWebhooks + "/{id}/edit", hooks, false, w.updateWebhook},
		{"POST", pathWebhooks + "/{id}/enabled", hooks, false, w.setWebhookEnabled},
		{"POST", pathWebhooks + "/{id}/test", hooks, false, w.sendTestEvent},
		{"POST", pathWebhooks + "/{id}/replay", hooks, false, w.replayWebhook},
		{"POST", pathWebhooks + "/{id}/roll", hooks, false, w.rollWebhookSecret},
		{"GET", pathWebhooks + "/{id}/delete", hooks, false, w.confirmDeleteWebhook},
		{"POST", pathWebhooks + "/{id}/delete", hooks, false, w.deleteWebhook},

		// One-time links (handover.go): their list, and their public pages.
		{"GET", pathHandovers, "", false, w.listHandovers},
		{"POST", pathHandovers, "", false, w.createHandover},
		{"GET", handoverPath, "", true, w.showHandover},
		{"POST", handoverPath, "", true, w.revealHandover},

		{"GET", pathAudit, keyward.FeatureAudit, false, w.listAudit},
		{"GET", pathAuditExport, keyward.FeatureAudit, false, w.exportAudit},

		// The merchant portal (portal.go): merchant users only.
		{"GET", pathPortal, featurePortal, false, w.portal},
		{"GET", pathPortalAPI, featurePortal, false, w.portalAPISettings},
		{"POST", pathPortalAPI + "/regenerate", featurePortal, false, w.portalRegenerate},
		{"POST", pathPortalAPI + "/addresses", featurePortal, false, w.portalAddresses},
		{"GET", pathPortalSecurity, featurePortal, false, w.showPortalSecurity},
		{"POST", pathPortalSecurity + "/totp", featurePortal, false, w.enablePortalTOTP},
		{"POST", pathPortalSecurity + "/totp/disable", featurePortal, false, w.disablePortalTOTP},

		// Unknown pages under the back office's sections answer as pages.
		{"GET", "/settings/", "", false, w.notFound},
		{"GET", "/staff/", "", false, w.notFound},
		{"GET", "/account/", "", false, w.notFound},
		{"GET", "/organization/", "", false, w.notFound},
		{"GET", "/integrations/", "", false, w.notFound},
	}
}

// Register adds the back office's routes to mux.
func (w *Web) Register(mux *http.ServeMux) {
	for _, rt := range w.routes() {
		mux.Handle(rt.method+" "+rt.path, w.cop.Handler(w.renewing(rt, w.adapt(rt))))
	}
	mux.Handle("GET "+pathStatic, staticHandler())
}

// adapt sets the headers every page carries, resolves the session to an
// actor for private routes, refuses callers lacking the route's feature,
// and turns the handler's error into a page.
func (w *Web) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		// Same-origin rather than no-referrer, so browsers that send no
		// Sec-Fetch-Site still send the real Origin on form posts.
		h.Set("Referrer-Policy", "same-origin")
		if httpx.IsHTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		if !rt.public {
			a, err := w.svc.WebActor(r.Context(), sessionToken(r), httpx.ClientAddr(r))
			if err != nil {
				w.fail(rw, r, err)
				return
			}
			r = r.WithContext(keyward.WithActor(r.Context(), a))
			// The portal's pages open to merchant users only; every other
			// page refuses them, since they hold no features. The password
			// page is the one page a user who must change their password
			// may open.
			if rt.feature == featurePortal {
				if a.Kind != keyward.ActorMerchant {
					w.fail(rw, r, keyward.Errorf(keyward.EForbidden, "The merchant portal is for merchant users. Staff work in the back office."))
					return
				}
			} else if a.Kind == keyward.ActorMerchant && rt.path == pathHome+"{$}" {
				// The home page sends merchant users to the portal.
			} else if a.Kind == keyward.ActorMerchant {
				// Said for a person, where the service's refusal speaks
				// of endpoints and credentials. (Merchant users are never
				// made to change their password, so that page is not
				// theirs either.)
				w.fail(rw, r, errMerchantRefused)
				return
			} else if _, err := service.Require(r.Context(), rt.feature); err != nil && rt.path != pathPassword {
				w.fail(rw, r, err)
				return
			}
		}
		if r.Method == http.MethodPost {
			if err := checkForm(rw, r); err != nil {
				w.fail(rw, r, err)
				return
			}
		}
		if err := rt.handle(rw, r); err != nil {
			w.fail(rw, r, err)
		}
	})
}

// fail answers an error a handler could not show beside a field: signed-out
// callers go to the sign-in page, everything else gets an error page.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, err error) {
	code := keyward.ErrorCode(err)
	if code == keyward.EPasswordChange {
		http.Redirect(rw, r, pathPassword, http.StatusSeeOther)
		return
	}
	if code == keyward.EUnauthenticated {
		clearSessionCookie(rw, r)
		target := pathSignIn
		if r.Method == http.MethodGet && r.URL.Path != pathHome {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(rw, r, target, http.StatusSeeOther)
		return
	}
	status := httpx.Status(code)
	if status >= 500 {
		slog.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	p := &errorPage{Status: status, Message: keyward.ErrorMessage(err)}
	var e *keyward.Error
	if errors.As(err, &e) && code == keyward.EFeatureRequired {
		if f, ok := e.Details["feature"].(string); ok {
			p.Feature = keyward.Feature(f).Label()
		}
	}
	switch {
	case p.Feature != "":
		p.Title = "You need the " + p.Feature + " feature"
	case status == http.StatusNotFound:
		p.Title = "Not found"
	case status == http.StatusForbidden:
		p.Title = "Not allowed"
	case status == http.StatusTooManyRequests:
		p.Title = "Too many requests"
	case status >= 500:
		p.Title = "Something went wrong"
	default:
		p.Title = "That did not work"
	}
	w.render(rw, r, status, "error", p)
}

// errMerchantRefused answers a merchant user who opens a page of the
// administrators.
var errMerchantRefused = keyward.Errorf(keyward.EForbidden,
	"This page is for the administrators who look after your merchant account. Everything your account can do is in your merchant portal.")

func (w *Web) crossOrigin(rw http.ResponseWriter, r *http.Request) {
	w.fail(rw, r, keyward.Errorf(keyward.EForbidden,
		"This request came from another site and was refused. If you submitted a form, open the page again from the back office and submit it there."))
}

func (w *Web) notFound(rw http.ResponseWriter, r *http.Request) error {
	return keyward.Errorf(keyward.ENotFound, "There is no page at %s.", r.URL.Path)
}

// home sends the caller to the first page its profile allows.
func (w *Web) home(rw http.ResponseWriter, r *http.Request) error {
	target := pathAccount
	if a := keyward.ActorFrom(r.Context()); a != nil && a.Kind == keyward.ActorMerchant {
		target = pathPortal
	}
	for _, s := range menuFor(keyward.ActorFrom(r.Context()), "") {
		if len(s.Items) > 0 {
			target = s.Items[0].Path
			break
		}
	}
	http.Redirect(rw, r, target, http.StatusSeeOther)
	return nil
}

// parseForm reads a form body of at most maxForm bytes.
func parseForm(rw http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return keyward.Errorf(keyward.ETooLarge, "The form is larger than %d bytes.", maxForm)
		}
		return keyward.Errorf(keyward.EInvalid, "The form could not be read. Reload the page and try again.")
	}
	return nil
}

// redirect answers a successful POST: a flash message for the next page,
// then a redirect to it.
func redirect(rw http.ResponseWriter, r *http.Request, to, flash string) error {
	if flash != "" {
		setFlash(rw, r, flash)
	}
	http.Redirect(rw, r, to, http.StatusSeeOther)
	return nil
}

// localPath returns next when it is a path on this site, else the home page.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return pathHome
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return pathHome
	}
	return next
}
