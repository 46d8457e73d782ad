package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// signInPage asks for an e-mail address and password, or for the TOTP
// code of a sign-in waiting for its second factor.
type signInPage struct {
	page
	Email string
	// Tenant is the tenant domain, asked for when the e-mail address and
	// password fit users of several tenants; AskTenant shows its field.
	Tenant    string
	AskTenant bool
	Next      string
	Errors    formErrors
	// Merchant is set on the code page when a merchant user signs in:
	// they have no recovery codes, so the page says whom to ask instead.
	Merchant bool
}

func (w *Web) signInForm(rw http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	if _, err := w.svc.WebActor(r.Context(), sessionToken(r), httpx.ClientAddr(r)); err == nil {
		http.Redirect(rw, r, next, http.StatusSeeOther)
		return nil
	}
	p := &signInPage{page: page{Title: "Sign in"}, Next: next}
	p.askTenant(r.URL.Query().Get("tenant"))
	w.render(rw, r, http.StatusOK, "signin", p)
	return nil
}

// askTenant fills in the tenant field: shown once a tenant is given
// (as ?tenant= or a form value) or asked for.
func (p *signInPage) askTenant(tenant string) {
	p.Tenant = strings.TrimSpace(tenant)
	p.AskTenant = p.Tenant != ""
}

// signInFailed shows the sign-in form again after a refusal it can
// explain: wrong credentials, too many attempts, or a tenant to name.
// Other errors are returned for the error page.
func (w *Web) signInFailed(rw http.ResponseWriter, r *http.Request, p *signInPage, err error) error {
	var e *keyward.Error
	switch code := keyward.ErrorCode(err); {
	case code == keyward.EUnauthenticated || code == keyward.ERateLimited:
		p.Errors = formErrors{Message: keyward.ErrorMessage(err)}
	case code == keyward.EInvalid && errors.As(err, &e) && e.Field == "tenant":
		p.AskTenant = true
		p.Errors = formErrors{Fields: map[string]string{"tenant": e.Message}, Message: "Enter your tenant's domain and sign in again."}
	default:
		return err
	}
	w.render(rw, r, httpx.Status(keyward.ErrorCode(err)), "signin", p)
	return nil
}

func (w *Web) signIn(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	p := &signInPage{page: page{Title: "Sign in"}, Email: r.PostFormValue("email"), Next: localPath(r.PostFormValue("next"))}
	p.askTenant(r.PostFormValue("tenant"))
	addr := httpx.ClientAddr(r)
	// A new sign-in always gets a new session id; any old one ends.
	if old := sessionToken(r); old != "" {
		if err := w.svc.SignOutAny(r.Context(), old, addr); err != nil {
			return err
		}
		clearSessionCookie(rw, r)
	}
	res, err := w.svc.SignInAny(r.Context(), p.Tenant, p.Email, r.PostFormValue("password"), addr)
	if err != nil {
		return w.signInFailed(rw, r, p, err)
	}
	token := res.Token
	if res.Merchant != nil && !strings.HasPrefix(p.Next, pathPortal) {
		p.Next = pathPortal
	}
	if (res.Staff != nil && res.Staff.PendingMFA) || (res.Merchant != nil && res.Merchant.PendingMFA) {
		setPending(rw, r, token, int(service.SecondFactorWindow.Seconds()))
		http.Redirect(rw, r, pathCode+"?next="+url.QueryEscape(p.Next), http.StatusSeeOther)
		return nil
	}
	setSessionCookie(rw, r, token)
	http.Redirect(rw, r, p.Next, http.StatusSeeOther)
	return nil
}

func (w *Web) codeForm(rw http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(cookiePending)
	if err != nil || c.Value == "" {
		return redirect(rw, r, pathSignIn, "")
	}
	w.render(rw, r, http.StatusOK, "signin_code", &signInPage{page: page{Title: "Two-factor sign-in"}, Next: localPath(r.URL.Query().Get("next")),
		Merchant: w.svc.MerchantSignInPending(r.Context(), c.Value)})
	return nil
}

func (w *Web) code(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	p := &signInPage{page: page{Title: "Two-factor sign-in"}, Next: localPath(r.PostFormValue("next"))}
	pending := ""
	if c, err := r.Cookie(cookiePending); err == nil {
		pending = c.Value
	}
	p.Merchant = w.svc.MerchantSignInPending(r.Context(), pending)
	res, err := w.svc.SignInSecondFactorAny(r.Context(), pending, r.PostFormValue("code"), httpx.ClientAddr(r))
	if keyward.ErrorCode(err) == keyward.EUnauthenticated {
		setPending(rw, r, "", -1)
		return redirect(rw, r, pathSignIn, keyward.ErrorMessage(err))
	}
	if err != nil {
		fe, status, err := formError(err, "code")
		if err != nil {
			return err
		}
		p.Errors = fe
		w.render(rw, r, status, "signin_code", p)
		return nil
	}
	setPending(rw, r, "", -1)
	setSessionCookie(rw, r, res.Token)
	if res.Merchant != nil && !strings.HasPrefix(p.Next, pathPortal) {
		p.Next = pathPortal
	}
	http.Redirect(rw, r, p.Next, http.StatusSeeOther)
	return nil
}

func (w *Web) signOut(rw http.ResponseWriter, r *http.Request) error {
	if err := w.svc.SignOutAny(r.Context(), sessionToken(r), httpx.ClientAddr(r)); err != nil {
		return err
	}
	clearSessionCookie(rw, r)
	return redirect(rw, r, pathSignIn, "You have signed out.")
}

// accountPage shows the caller's second factor and, when it is off, a
// new TOTP seed to turn it on with.
type accountPage struct {
	page
	Enabled bool
	Setup   *service.TOTPSetup
	Errors  formErrors
	// RecoveryLeft is how many recovery codes are unused, when Enabled.
	RecoveryLeft int
	// Own is the password form and the caller's tokens (account.go).
	Own ownAccount
}

func (w *Web) account(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.accountPage(r, nil)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "account", p)
	return nil
}

// accountPage builds the page; setup, when given, is the seed being
// confirmed, kept so a mistyped code can be tried again.
func (w *Web) accountPage(r *http.Request, setup *service.TOTPSetup) (*accountPage, error) {
	p := &accountPage{page: page{Title: "Your account", Crumbs: []string{"Account"}}}
	on, err := w.svc.TOTPEnabled(r.Context())
	if err != nil {
		return nil, err
	}
	p.Enabled = on
	if on {
		if p.RecoveryLeft, err = w.svc.RecoveryCodesLeft(r.Context()); err != nil {
			return nil, err
		}
	}
	if !on {
		if setup == nil {
			if setup, err = w.svc.NewTOTP(r.Context()); err != nil {
				return nil, err
			}
		}
		p.Setup = setup
	}
	if p.Own, err = w.ownAccount(r); err != nil {
		return nil, err
	}
	return p, nil
}

func (w *Web) enableTOTP(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	seed := r.PostFormValue("secret")
	codes, err := w.svc.EnableTOTP(r.Context(), seed, r.PostFormValue("code"))
	if err == nil {
		if err := w.renewNow(rw, r); err != nil {
			return err
		}
		setFlash(rw, r, "Two-factor sign-in is on. Your other sessions have ended.")
		w.showRecoveryCodes(rw, r, codes)
		return nil
	}
	fe, status, err := formError(err, "code", "secret")
	if err != nil {
		return err
	}
	p, err := w.accountPage(r, setupAgain(r, fe))
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "account", p)
	return nil
}

func (w *Web) disableTOTP(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	err := w.svc.DisableTOTP(r.Context(), r.PostFormValue("code"))
	if err == nil {
		if err := w.renewNow(rw, r); err != nil {
			return err
		}
		return redirect(rw, r, pathAccount, "Two-factor sign-in is off. Your other sessions have ended.")
	}
	fe, status, err := formError(err, "code")
	if err != nil {
		return err
	}
	p, err := w.accountPage(r, nil)
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "account", p)
	return nil
}

// setupAgain is the TOTP set-up a refused enrolment form showed, to show
// again with its errors; nil when the seed itself was refused.
func setupAgain(r *http.Request, fe formErrors) *service.TOTPSetup {
	if fe.Err("secret") != "" {
		return nil
	}
	return &service.TOTPSetup{Secret: r.PostFormValue("secret"), URI: r.PostFormValue("uri")}
}
