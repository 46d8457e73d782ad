package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listMerchants(w http.ResponseWriter, r *http.Request) error {
	ms, err := a.svc.ListMerchants(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": ms})
	return nil
}

func (a *API) createMerchant(w http.ResponseWriter, r *http.Request) error {
	var in keyward.MerchantCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	m, err := a.svc.CreateMerchant(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, m)
	return nil
}

func (a *API) getMerchant(w http.ResponseWriter, r *http.Request) error {
	m, err := a.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, m)
	return nil
}

func (a *API) updateMerchant(w http.ResponseWriter, r *http.Request) error {
	var in keyward.MerchantUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	m, err := a.svc.UpdateMerchant(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, m)
	return nil
}

func (a *API) deleteMerchant(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteMerchant(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listMerchantUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.svc.ListMerchantUsers(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": us})
	return nil
}

func (a *API) createMerchantUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.MerchantUserCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	u, err := a.svc.CreateMerchantUser(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, u)
	return nil
}

func (a *API) updateMerchantUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.MerchantUserUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	u, err := a.svc.UpdateMerchantUser(r.Context(), r.PathValue("id"), r.PathValue("user"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

func (a *API) regenerateMerchantKey(w http.ResponseWriter, r *http.Request) error {
	// ?grace= lets the old key work a while; without it the old key stops
	// at once.
	var in keyward.AuthKeyRegenerate
	if g := r.URL.Query().Get("grace"); g != "" {
		if err := in.Grace.UnmarshalText([]byte(g)); err != nil {
			return err
		}
	}
	u, err := a.svc.RegenerateMerchantAuthKey(r.Context(), r.PathValue("id"), r.PathValue("user"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

func (a *API) listMerchantAPIAccess(w http.ResponseWriter, r *http.Request) error {
	list, err := a.svc.ListMerchantAPIAccess(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

func (a *API) deactivateMerchantAPIAccess(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeactivateMerchantAPIAccess(r.Context(), r.PathValue("account")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) merchantCredentials(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.MerchantSelf(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

// MerchantCredentials reads merchant credentials from HTTP Basic
// authentication (account id as user name, auth key as password) or from
// the X-Account-Id and X-Auth-Key headers.
func MerchantCredentials(r *http.Request) (accountID, authKey string, ok bool) {
	if id, key, ok := r.BasicAuth(); ok {
		return id, key, true
	}
	id, key := r.Header.Get("X-Account-Id"), r.Header.Get("X-Auth-Key")
	return id, key, id != "" && key != ""
}
