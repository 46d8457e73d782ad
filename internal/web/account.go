package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// Paths of the caller's own account and of sign-in links.
const (
	pathPassword   = "/account/password"
	pathMyTokens   = pathAccount + "/tokens"
	pathSignInLink = "/signin/link/"
)

// ownAccount is the part of the account page about the caller's password
// and personal access tokens.
type ownAccount struct {
	Tokens         []*keyward.Token
	TokenName      string
	TokenDays      string
	TokenErrors    formErrors
	PasswordErrors formErrors
	// Expiring holds a banner for each token expiring within 7 days or
	// expired.
	Expiring []string
}

func (w *Web) ownAccount(r *http.Request) (ownAccount, error) {
	ts, err := w.svc.ListTokens(r.Context())
	o := ownAccount{Tokens: ts, TokenDays: "90"}
	for _, t := range ts {
		if n := expiryNotice("Your token "+strconv.Quote(t.Name), "Create a new token for the scripts that use it.", t.ExpiresAt, w.svc.Now()); n != "" {
			o.Expiring = append(o.Expiring, n)
		}
	}
	return o, err
}

// passwordPage is the change of the caller's password on a page of its
// own: where a user whose password was reset lands before anything else.
type passwordPage struct {
	page
	Forced bool
	Errors formErrors
}

func (w *Web) passwordPage(r *http.Request, fe formErrors) (*passwordPage, error) {
	me, err := w.svc.Me(r.Context())
	if err != nil {
		return nil, err
	}
	p := &passwordPage{page: page{Title: "Change your password", Crumbs: []string{"Account"}}, Forced: me.MustChangePassword, Errors: fe}
	return p, nil
}

func (w *Web) passwordForm(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.passwordPage(r, formErrors{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "password", p)
	return nil
}

func (w *Web) changePassword(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in := keyward.PasswordChange{CurrentPassword: r.PostFormValue("current_password"), NewPassword: r.PostFormValue("new_password")}
	if in.NewPassword != "" && r.PostFormValue("confirm_password") != in.NewPassword {
		fe, status := fieldError("confirm_password", "The two new passwords differ. Type the same password twice.")
		return w.passwordRefused(rw, r, fe, status)
	}
	err := w.svc.ChangePassword(r.Context(), in)
	if err != nil {
		fe, status, err := formError(err, "current_password", "new_password")
		if err != nil {
			return err
		}
		return w.passwordRefused(rw, r, fe, status)
	}
	if err := w.renewNow(rw, r); err != nil {
		return err
	}
	return redirect(rw, r, pathHome, "Your password is changed. Your other sessions have ended.")
}

func (w *Web) passwordRefused(rw http.ResponseWriter, r *http.Request, fe formErrors, status int) error {
	p, err := w.passwordPage(r, fe)
	if err != nil {
		return err
	}
	w.render(rw, r, status, "password", p)
	return nil
}

// tokenCreatedPage shows a new personal access token once.
type tokenCreatedPage struct {
	page
	Token  *keyward.Token
	Secret string
}

func (w *Web) createMyToken(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	name, days := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("days")
	in := keyward.TokenCreate{Name: name}
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			fe, status := fieldError("days", "Choose how long the token works.")
			return w.tokenRefused(rw, r, name, days, fe, status)
		}
		exp := w.svc.Now().Add(time.Duration(n) * 24 * time.Hour).Truncate(time.Second)
		in.ExpiresAt = &exp
	}
	if name == "" {
		fe, status := fieldError("name", "Name the token after where it is used, e.g. \"laptop\" or \"deploy script\".")
		return w.tokenRefused(rw, r, name, days, fe, status)
	}
	t, secret, err := w.svc.CreateToken(r.Context(), "", in)
	if err != nil {
		fe, status, err := formError(err, "name", "expires_at")
		if err != nil {
			return err
		}
		return w.tokenRefused(rw, r, name, days, fe, status)
	}
	w.render(rw, r, http.StatusCreated, "token_created", &tokenCreatedPage{
		page: page{Title: "Token created", Crumbs: []string{"Account"}}, Token: t, Secret: secret,
	})
	return nil
}

func (w *Web) tokenRefused(rw http.ResponseWriter, r *http.Request, name, days string, fe formErrors, status int) error {
	p, err := w.accountPage(r, nil)
	if err != nil {
		return err
	}
	p.Own.TokenName, p.Own.TokenDays, p.Own.TokenErrors = name, days, fe
	w.render(rw, r, status, "account", p)
	return nil
}

// tokenRevokePage asks before revoking one of the caller's tokens.
type tokenRevokePage struct {
	page
	Token *keyward.Token
}

// myToken finds one of the caller's tokens.
func (w *Web) myToken(r *http.Request) (*keyward.Token, error) {
	ts, err := w.svc.ListTokens(r.Context())
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.ID == r.PathValue("id") {
			return t, nil
		}
	}
	return nil, keyward.Errorf(keyward.ENotFound, "You have no token %q.", r.PathValue("id"))
}

func (w *Web) confirmRevokeToken(rw http.ResponseWriter, r *http.Request) error {
	t, err := w.myToken(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "token_revoke", &tokenRevokePage{page: page{Title: "Revoke token " + t.Name, Crumbs: []string{"Account"}}, Token: t})
	return nil
}

func (w *Web) revokeToken(rw http.ResponseWriter, r *http.Request) error {
	if err := w.svc.RevokeMyToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return redirect(rw, r, pathAccount, "The token is revoked; it no longer works.")
}

// userPasswordPage shows a temporary password an administrator set, once.
type userPasswordPage struct {
	page
	User     *keyward.User
	Password string
}

func (w *Web) resetUserPassword(rw http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	u, pw, err := w.svc.ResetPassword(r.Context(), id)
	if err != nil {
		return w.rowError(rw, r, id, err, "password")
	}
	w.render(rw, r, http.StatusOK, "user_password", &userPasswordPage{
		page: page{Title: "Password reset", Crumbs: staffCrumbs}, User: u, Password: pw,
	})
	return nil
}

// signInLinkPage sets the password of the user a sign-in link is for.
type signInLinkPage struct {
	page
	Link   string
	Email  string
	Errors formErrors
}

func (w *Web) signInLinkForm(rw http.ResponseWriter, r *http.Request) error {
	link := r.URL.Query().Get("token")
	u, err := w.svc.SignInLinkUser(r.Context(), link)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "signin_link", &signInLinkPage{page: page{Title: "Choose your password"}, Link: link, Email: u.Email})
	return nil
}

func (w *Web) signInLink(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	link, pw := r.PostFormValue("token"), r.PostFormValue("password")
	refuse := func(fe formErrors, status int) error {
		u, err := w.svc.SignInLinkUser(r.Context(), link)
		if err != nil {
			return err
		}
		w.render(rw, r, status, "signin_link", &signInLinkPage{page: page{Title: "Choose your password"}, Link: link, Email: u.Email, Errors: fe})
		return nil
	}
	if r.PostFormValue("confirm_password") != pw {
		return refuse(fieldError("confirm_password", "The two passwords differ. Type the same password twice."))
	}
	ses, token, err := w.svc.RedeemSignInLink(r.Context(), link, pw, httpx.ClientAddr(r))
	if err != nil {
		fe, status, err := formError(err, "password")
		if err != nil {
			return err
		}
		return refuse(fe, status)
	}
	if old := sessionToken(r); old != "" {
		if err := w.svc.SignOut(r.Context(), old, httpx.ClientAddr(r)); err != nil {
			return err
		}
	}
	if ses.PendingMFA {
		setPending(rw, r, token, 300)
		return redirect(rw, r, pathCode, "Your password is set. Enter the code from your authenticator app to finish signing in.")
	}
	setSessionCookie(rw, r, token)
	return redirect(rw, r, pathHome, "Your password is set and you are signed in.")
}
