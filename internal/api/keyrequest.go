package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listIntegrators(w http.ResponseWriter, r *http.Request) error {
	its, err := a.svc.ListIntegrators(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": its})
	return nil
}

func (a *API) createIntegrator(w http.ResponseWriter, r *http.Request) error {
	var in keyward.IntegratorCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	it, err := a.svc.CreateIntegrator(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, it)
	return nil
}

func (a *API) getIntegrator(w http.ResponseWriter, r *http.Request) error {
	it, err := a.svc.Integrator(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, it)
	return nil
}

func (a *API) rollIntegratorSecret(w http.ResponseWriter, r *http.Request) error {
	it, err := a.svc.RollIntegratorSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, it)
	return nil
}

func (a *API) deleteIntegrator(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteIntegrator(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listKeyRequests(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return keyward.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		limit = n
	}
	rs, err := a.svc.ListKeyRequests(r.Context(), r.URL.Query().Get("status"), limit)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": rs})
	return nil
}

// openKeyRequest records the request a link makes; a link already used
// is a 409 naming the request it made.
func (a *API) openKeyRequest(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyRequestOpen
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	kr, created, err := a.svc.OpenKeyRequest(r.Context(), in.Link)
	if err != nil {
		return err
	}
	if !created {
		return &keyward.Error{Code: keyward.EConflict, Message: "This link was already used; it made key request " + kr.ID + ". A link asks for one key, once.",
			Details: map[string]any{"key_request_id": kr.ID}}
	}
	httpx.JSON(w, http.StatusCreated, kr)
	return nil
}

func (a *API) getKeyRequest(w http.ResponseWriter, r *http.Request) error {
	kr, err := a.svc.KeyRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, kr)
	return nil
}

func (a *API) approveKeyRequest(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyRequestApprove
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			return err
		}
	}
	kr, err := a.svc.ApproveKeyRequest(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, kr)
	return nil
}

func (a *API) declineKeyRequest(w http.ResponseWriter, r *http.Request) error {
	kr, err := a.svc.DeclineKeyRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, kr)
	return nil
}
