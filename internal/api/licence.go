package api

import (
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/httpx"
)

// tenantLicence is a tenant's licence as its administrators read it: what
// the operator granted, how many keys exist, and whether keys work now.
type tenantLicence struct {
	APIAccess bool       `json:"api_access"`
	MaxKeys   int        `json:"max_keys"`
	Keys      int        `json:"keys"`
	RateLimit int        `json:"rate_limit"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Active    bool       `json:"active"`
	Reason    string     `json:"reason,omitempty"`
}

func (a *API) getTenantLicence(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.TenantLicence(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, tenantLicence{
		APIAccess: v.Licence.APIAccess, MaxKeys: v.Licence.MaxKeys, Keys: v.Keys, RateLimit: v.Licence.RateLimit,
		ExpiresAt: v.Licence.ExpiresAt, Active: v.Active, Reason: v.Reason,
	})
	return nil
}

// portalPassword answers a new merchant portal password, shown once.
type portalPassword struct {
	Password string `json:"password"`
}

func (a *API) setMerchantPortalPassword(w http.ResponseWriter, r *http.Request) error {
	pw, err := a.svc.SetMerchantUserPassword(r.Context(), r.PathValue("id"), r.PathValue("user"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, portalPassword{Password: pw})
	return nil
}
