package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
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
	if err := httpx.DecodePatch(w, r, &in); err != nil {
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

func (a *API) rollWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	var in keyward.WebhookRoll
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			return err
		}
	}
	wh, err := a.svc.RollWebhookSecret(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, wh)
	return nil
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := a.svc.SendTestEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusAccepted, d)
	return nil
}

// queryTime reads an RFC 3339 time from the query; zero when absent.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, keyward.Invalid(name, "%s must be an RFC 3339 time such as 2026-12-01T00:00:00Z", name)
	}
	return t, nil
}

// queryLimit reads the limit parameter; 0 (the default page) when absent.
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, keyward.Invalid("limit", "limit must be a whole number from 1 to 500")
	}
	return n, nil
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	before, err := queryTime(r, "before")
	if err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	p, err := a.svc.ListDeliveries(r.Context(), r.PathValue("id"), service.DeliveryFilter{Status: r.URL.Query().Get("status"), Before: before, Cursor: r.URL.Query().Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) listAttempts(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	p, err := a.svc.ListAttempts(r.Context(), r.PathValue("id"), service.AttemptFilter{Delivery: r.URL.Query().Get("delivery"), Cursor: r.URL.Query().Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) replayDelivery(w http.ResponseWriter, r *http.Request) error {
	n, err := a.svc.Replay(r.Context(), r.PathValue("id"), r.PathValue("delivery"), time.Time{})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"replayed": n})
	return nil
}

func (a *API) replayFailed(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Since time.Time `json:"since"`
	}
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, err := a.svc.Replay(r.Context(), r.PathValue("id"), "", in.Since)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusAccepted, map[string]any{"replayed": n})
	return nil
}

func (a *API) webhookStats(w http.ResponseWriter, r *http.Request) error {
	st, err := a.svc.WebhookStats(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, st)
	return nil
}

func (a *API) eventTypes(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.svc.ListWebhooks(r.Context(), ""); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": a.svc.EventTypes()})
	return nil
}
