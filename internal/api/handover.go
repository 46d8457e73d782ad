package api

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

// handoverCreate is the body of POST /api/v1/handovers.
type handoverCreate struct {
	Kind        string `json:"kind"`
	SubjectID   string `json:"subject_id"`
	Secret      string `json:"secret"`
	TTL         string `json:"ttl"`
	RequireCode bool   `json:"require_code"`
	Note        string `json:"note"`
}

func (a *API) createHandover(w http.ResponseWriter, r *http.Request) error {
	var in handoverCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	var ttl time.Duration
	if in.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(in.TTL); err != nil {
			return keyward.Invalid("ttl", "ttl %q is not a duration such as \"1h\" or \"72h\"", in.TTL)
		}
	}
	h, err := a.svc.CreateHandover(r.Context(), keyward.HandoverCreate{
		Kind: in.Kind, SubjectID: in.SubjectID, TTL: ttl, RequireCode: in.RequireCode, Note: in.Note,
	}, in.Secret)
	if err != nil {
		return err
	}
	if h.URL != "" && h.URL[0] == '/' {
		h.URL = httpx.BaseURL(r) + h.URL
	}
	httpx.JSON(w, http.StatusCreated, h)
	return nil
}

func (a *API) listHandovers(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	hs, err := a.svc.ListHandovers(r.Context(), keyward.HandoverFilter{
		Kind: q.Get("kind"), SubjectID: q.Get("subject_id"), State: q.Get("state"), Limit: limit,
	})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": orEmptyHandovers(hs)})
	return nil
}

func orEmptyHandovers(hs []*keyward.Handover) []*keyward.Handover {
	if hs == nil {
		return []*keyward.Handover{}
	}
	return hs
}

func (a *API) getHandover(w http.ResponseWriter, r *http.Request) error {
	h, err := a.svc.Handover(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, h)
	return nil
}
