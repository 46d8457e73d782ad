package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	ws, err := a.svc.ListWebhooks(r.Context(), r.URL.Query().Get("store"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": ws})
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var in keyward.WebhookCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	wh, err := a.svc.CreateWebhook(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, wh)
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.svc.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, wh)
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var in keyward.WebhookUpdate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	wh, err := a.svc.UpdateWebhook(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, wh)
	return nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
