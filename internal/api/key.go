package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/httpx"
)

// catalogMethod is a catalog method as the API lists it.
type catalogMethod struct {
	ID       string                `json:"id"`
	Method   string                `json:"method"`
	Path     string                `json:"path"`
	Resource string                `json:"resource"`
	Access   keyward.Level         `json:"access"`
	Store    catalog.StoreLocation `json:"store"`
	Summary  string                `json:"summary,omitempty"`
	Merchant bool                  `json:"merchant,omitempty"`
}

type catalogBlock struct {
	Name    string          `json:"name"`
	Methods []catalogMethod `json:"methods"`
}

func (a *API) getCatalog(w http.ResponseWriter, r *http.Request) error {
	if keyward.ActorFrom(r.Context()) == nil {
		return keyward.Errorf(keyward.EUnauthenticated, "Send a personal access token.")
	}
	cat := a.svc.Catalog()
	blocks := []catalogBlock{}
	for _, b := range cat.Blocks() {
		cb := catalogBlock{Name: b.Name, Methods: []catalogMethod{}}
		for _, m := range b.Methods {
			cb.Methods = append(cb.Methods, catalogMethod{m.ID, m.HTTPMethod, m.Path, m.Resource, m.Access, m.Store, m.Summary, m.Merchant})
		}
		blocks = append(blocks, cb)
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"resources": cat.Resources(), "blocks": blocks})
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	f := keyward.KeyFilter{Access: r.URL.Query().Get("access"), StoreID: r.URL.Query().Get("store"), After: r.URL.Query().Get("cursor")}
	var err error
	if f.Enabled, err = boolQuery(r, "enabled"); err != nil {
		return err
	}
	limit, err := intQuery(r, "limit")
	if err != nil {
		return err
	}
	f.Limit = int(limit)
	p, err := a.svc.ListKeys(r.Context(), f)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	k, err := a.svc.CreateKey(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, k)
	return nil
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.svc.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, k)
	return nil
}

func (a *API) updateKey(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	k, err := a.svc.UpdateKey(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, k)
	return nil
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rollKey(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyRoll
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	k, err := a.svc.RollKey(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, k)
	return nil
}
