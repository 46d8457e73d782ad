package web

import (
	"net/http"

	"github.com/keyward/keyward/internal/service"
)

// Portal > Sign-in security: a merchant user turns two-factor sign-in
// (TOTP) on or off, as staff do on their account page.

const pathPortalSecurity = "/portal/security"

// portalSecurityPage shows the merchant user's second factor and, when it
// is off, a new seed to turn it on with.
type portalSecurityPage struct {
	page
	Enabled bool
	Setup   *service.TOTPSetup
	Errors  formErrors
}

// portalSecurity builds the page; setup, when given, is the seed being
// confirmed, kept so a mistyped code can be tried again.
func (w *Web) portalSecurity(r *http.Request, setup *service.TOTPSetup) (*portalSecurityPage, error) {
	p := &portalSecurityPage{page: page{Title: "Sign-in security", Crumbs: portalCrumbs}}
	on, err := w.svc.MerchantTOTPEnabled(r.Context())
	if err != nil {
		return nil, err
	}
	p.Enabled = on
	if !on {
		if setup == nil {
			if setup, err = w.svc.NewMerchantTOTP(r.Context()); err != nil {
				return nil, err
			}
		}
		p.Setup = setup
	}
	return p, nil
}

func (w *Web) showPortalSecurity(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.portalSecurity(r, nil)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "portal_security", p)
	return nil
}

func (w *Web) enablePortalTOTP(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	seed := r.PostFormValue("secret")
	err := w.svc.EnableMerchantTOTP(r.Context(), seed, r.PostFormValue("code"))
	if err == nil {
		return redirect(rw, r, pathPortalSecurity, "Two-factor sign-in is on: signing in now asks for a code from your app. Your other sessions have ended.")
	}
	fe, status, err := formError(err, "code", "secret")
	if err != nil {
		return err
	}
	p, err := w.portalSecurity(r, setupAgain(r, fe))
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "portal_security", p)
	return nil
}

func (w *Web) disablePortalTOTP(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	err := w.svc.DisableMerchantTOTP(r.Context(), r.PostFormValue("code"))
	if err == nil {
		return redirect(rw, r, pathPortalSecurity, "Two-factor sign-in is off. Your other sessions have ended.")
	}
	fe, status, err := formError(err, "code")
	if err != nil {
		return err
	}
	p, err := w.portalSecurity(r, nil)
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "portal_security", p)
	return nil
}
