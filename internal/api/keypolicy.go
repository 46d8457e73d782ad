package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) getKeyPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.svc.KeyPolicy(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) updateKeyPolicy(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyPolicyUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	p, err := a.svc.UpdateKeyPolicy(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}
