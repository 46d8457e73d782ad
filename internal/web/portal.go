package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// The merchant portal: merchant users sign in on the same page as staff
// and see their own portal and nothing else of the tenant. Level 2 users
// with API access also get API Settings: their API Account ID, a new API
// Auth Key on request (shown once) and a short guide.

// Paths of the portal's pages.
const (
	pathPortal    = "/portal"
	pathPortalAPI = "/portal/api-settings"
)

// featurePortal marks the portal's routes: only merchant users open them,
// and administrators' routes never open to merchant users.
const featurePortal keyward.Feature = "merchant_portal"

var portalCrumbs = []string{"Merchant portal"}

// portalPage is the portal's overview.
type portalPage struct {
	page
	Portal *service.Portal
}

func (w *Web) portal(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.svc.MerchantPortal(r.Context())
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "portal", &portalPage{page: page{Title: p.Merchant.Name, Crumbs: portalCrumbs}, Portal: p})
	return nil
}

// portalAPIPage is API Settings: the Account ID, the key's hint, the form
// generating a new key, and, right after that, the new key once.
type portalAPIPage struct {
	page
	Portal *service.Portal
	// NewKey is the API Auth Key just generated; shown once.
	NewKey string
	// PreviousUntil is when the replaced key stops, when it was given a
	// grace.
	PreviousUntil *time.Time
	// GatewayURL is where the guide sends requests; "" when unknown.
	GatewayURL string
	// Addresses is the "Only from these addresses" box as typed, when the
	// service refused it (Errors says why); else the saved allowlist.
	Addresses string
	Errors    formErrors
	// Expiry is the banner of the replaced API Auth Key while it works
	// for at most 7 more days.
	Expiry string
}

// graceForm reads the grace picked for the old API Auth Key: empty or
// "0s" stops it at once.
func graceForm(r *http.Request) (keyward.AuthKeyRegenerate, error) {
	var in keyward.AuthKeyRegenerate
	if g := strings.TrimSpace(r.PostFormValue("grace")); g != "" {
		if err := in.Grace.UnmarshalText([]byte(g)); err != nil {
			return in, err
		}
	}
	return in, in.Validate()
}

// portalAPI returns the portal of a caller who may open API Settings.
func (w *Web) portalAPI(r *http.Request) (*service.Portal, error) {
	p, err := w.svc.MerchantPortal(r.Context())
	if err != nil {
		return nil, err
	}
	if !p.APISettings {
		return nil, keyward.Errorf(keyward.EForbidden, "API Settings is for Merchant Level 2 users with API access. Ask the administrators who look after your merchant account to turn API access on for you.")
	}
	return p, nil
}

func (w *Web) portalAPISettings(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.portalAPI(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "portal_api", &portalAPIPage{page: page{Title: "API Settings", Crumbs: portalCrumbs}, Portal: p, GatewayURL: w.gatewayURL,
		Addresses: addressLines(p.User.AllowedAddresses),
		Expiry:    expiryNotice("Your previous API Auth Key", "Put the new key into every system that still sends the old one.", previousAuthKey(p.User, w.svc.Now()), w.svc.Now())})
	return nil
}

func (w *Web) portalRegenerate(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in, err := graceForm(r)
	if err != nil {
		return err
	}
	u, err := w.svc.RegenerateOwnAuthKey(r.Context(), in)
	if err != nil {
		return err
	}
	p, err := w.portalAPI(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "portal_api", &portalAPIPage{page: page{Title: "API Settings", Crumbs: portalCrumbs}, Portal: p, NewKey: u.AuthKey, PreviousUntil: u.PreviousKeyExpiresAt, GatewayURL: w.gatewayURL,
		Addresses: addressLines(p.User.AllowedAddresses)})
	return nil
}
