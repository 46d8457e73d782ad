package api

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// Self-service for the caller's own account, an administrator's password
// reset, and the operator's ways back into a tenant.

func (a *API) getMe(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.Me(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var in keyward.PasswordChange
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if err := a.svc.ChangePassword(r.Context(), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) deleteMyToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.RevokeMyToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// signIn exchanges an e-mail address and password for a personal access
// token, shown once.
func (a *API) signIn(w http.ResponseWriter, r *http.Request) error {
	var in service.TokenSignIn
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	t, secret, err := a.svc.SignInForToken(r.Context(), in, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, tokenCreated{t, secret})
	return nil
}

// passwordReset is the answer to a reset; the temporary password appears
// here once and nowhere else.
type passwordReset struct {
	User     *keyward.User `json:"user"`
	Password string        `json:"password"`
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request) error {
	u, pw, err := a.svc.ResetPassword(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, passwordReset{u, pw})
	return nil
}

// tenantAdmin is the answer to creating a tenant's administrator: the
// sign-in link appears here once.
type tenantAdmin struct {
	User      *keyward.User `json:"user"`
	Created   bool          `json:"created"`
	SignInURL string        `json:"sign_in_url"`
	ExpiresAt time.Time     `json:"expires_at"`
}

func (a *API) createTenantAdmin(w http.ResponseWriter, r *http.Request) error {
	var in service.TenantAdminCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	ta, err := a.svc.CreateTenantAdmin(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, tenantAdmin{User: ta.User, Created: ta.Created, ExpiresAt: ta.ExpiresAt,
		SignInURL: httpx.BaseURL(r) + SignInLinkPath + ta.Link})
	return nil
}

// SignInLinkPath is where the back office takes a sign-in link's secret:
// in the query, which request logs leave out.
const SignInLinkPath = "/signin/link/?token="

// operatorToken is the answer to a rotation; the token appears here once.
type operatorToken struct {
	Token string `json:"token"`
}

func (a *API) rotateOperatorToken(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.svc.RotateOperatorToken(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, operatorToken{tok})
	return nil
}
