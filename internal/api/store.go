package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listStores(w http.ResponseWriter, r *http.Request) error {
	ss, err := a.svc.ListStores(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": ss})
	return nil
}

func (a *API) createStore(w http.ResponseWriter, r *http.Request) error {
	var in keyward.StoreCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	s, err := a.svc.CreateStore(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, s)
	return nil
}

func (a *API) getStore(w http.ResponseWriter, r *http.Request) error {
	s, err := a.svc.Store(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, s)
	return nil
}

func (a *API) updateStore(w http.ResponseWriter, r *http.Request) error {
	var in keyward.StoreUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	s, err := a.svc.UpdateStore(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, s)
	return nil
}

func (a *API) deleteStore(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteStore(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
