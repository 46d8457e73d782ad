package api

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// connectorField is one field of a connector type as the API shows it.
type connectorField struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Help     string `json:"help,omitempty"`
	Secret   bool   `json:"secret"`
	Required bool   `json:"required"`
	Default  string `json:"default,omitempty"`
}

// connectorType is a connector type as the API shows it.
type connectorType struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	DefaultURL  string           `json:"default_url,omitempty"`
	URLRequired bool             `json:"url_required"`
	URLHelp     string           `json:"url_help,omitempty"`
	ScopeHelp   string           `json:"scope_help,omitempty"`
	CacheFor    int              `json:"cache_seconds"`
	Fields      []connectorField `json:"fields"`
}

// ConnectorTypeView describes a connector type without its probe.
func ConnectorTypeView(t *connector.Type) any {
	v := connectorType{ID: t.ID, Name: t.Name, DefaultURL: t.DefaultURL, URLRequired: t.NeedsURL(), URLHelp: t.URLHelp,
		ScopeHelp: t.ScopeHelp, CacheFor: int(t.CacheFor.Seconds()), Fields: []connectorField{}}
	for _, f := range t.Fields {
		v.Fields = append(v.Fields, connectorField{Name: f.Name, Label: f.Label, Help: f.Help, Secret: f.Secret, Required: f.Required, Default: f.Default})
	}
	return v
}

func (a *API) listConnectorTypes(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.ConnectorTypes(r.Context())
	if err != nil {
		return err
	}
	out := []any{}
	for _, t := range ts {
		out = append(out, ConnectorTypeView(t))
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (a *API) listConnections(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	enabled, err := boolQuery(r, "enabled")
	if err != nil {
		return err
	}
	cs, err := a.svc.ListConnections(r.Context(), service.ConnectionFilter{Type: q.Get("type"), Store: q.Get("store"), State: q.Get("state"), Enabled: enabled})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": cs})
	return nil
}

func (a *API) createConnection(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ConnectionInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	c, err := a.svc.CreateConnection(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) verifyConnectionInput(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ConnectionInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	v, err := a.svc.VerifyConnectionInput(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, v)
	return nil
}

func (a *API) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, c)
	return nil
}

func (a *API) updateConnection(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ConnectionUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	c, err := a.svc.UpdateConnection(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, c)
	return nil
}

func (a *API) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteConnection(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) verifyConnection(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.VerifyConnection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, v)
	return nil
}

// revealRequest names the secret field to read.
type revealRequest struct {
	Field string `json:"field"`
}

func (a *API) revealConnectionSecret(w http.ResponseWriter, r *http.Request) error {
	var in revealRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	v, err := a.svc.RevealConnectionSecret(r.Context(), r.PathValue("id"), in.Field)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"field": in.Field, "value": v})
	return nil
}
