package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	limit, err := intQuery(r, "limit")
	if err != nil {
		return err
	}
	p, err := a.svc.ListTenants(r.Context(), r.URL.Query().Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) error {
	var in keyward.TenantCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	t, err := a.svc.CreateTenant(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, t)
	return nil
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := a.svc.Tenant(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, t)
	return nil
}

func (a *API) getLicence(w http.ResponseWriter, r *http.Request) error {
	l, err := a.svc.Licence(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, l)
	return nil
}

func (a *API) grantLicence(w http.ResponseWriter, r *http.Request) error {
	var in keyward.LicenceGrant
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	l, err := a.svc.GrantLicence(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, l)
	return nil
}

func (a *API) revokeLicence(w http.ResponseWriter, r *http.Request) error {
	l, err := a.svc.RevokeLicence(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, l)
	return nil
}
