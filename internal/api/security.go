package api

import (
	"net/http"

	"github.com/keyward/keyward/internal/httpx"
)

// resetTOTP turns another user's two-factor sign-in off (feature users).
func (a *API) resetTOTP(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.ResetTOTP(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

// adminTOTPReset names the tenant administrator whose second factor the
// operator resets.
type adminTOTPReset struct {
	Email string `json:"email"`
}

// resetAdminTOTP turns off the second factor of a tenant's last
// administrator (operator only).
func (a *API) resetAdminTOTP(w http.ResponseWriter, r *http.Request) error {
	var in adminTOTPReset
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	u, err := a.svc.ResetTenantAdminTOTP(r.Context(), r.PathValue("domain"), in.Email)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}
