package web

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/connector"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
)

// Settings > External System Connectors: connections to Shopify, Magento,
// Fortnox, another keyward …, each checked with Verify Connection before it
// is saved.
//
// Secrets typed into the form never come back in a page. When Verify
// Connection is pressed before saving, the secrets typed are carried to the
// next post sealed by the master key (a "draft", bound to the tenant and
// the user and valid for draftLife), and the form says they are kept.

// pathConnectors is the page of Settings > External System Connectors.
const pathConnectors = "/settings/external-system-connectors"

// draftLife is how long secrets typed on the form are carried between
// posts.
const draftLife = 30 * time.Minute

// connForm is the connection form as typed.
type connForm struct {
	Type        string
	Name        string
	APIURL      string
	Values      map[string]string // the type's fields that are not secret
	Secrets     map[string]string // secret fields typed now; never drawn
	StoreAccess string
	Stores      []string
	Scopes      string
	Enabled     bool
	Unverified  bool
	// Resend confirms sending stored secrets to a changed destination.
	Resend bool
}

// connectorFormPage creates or edits a connection.
type connectorFormPage struct {
	page
	Conn   *keyward.Connection // nil when creating
	Types  []*connector.Type
	Type   *connector.Type // nil until a system is chosen
	Action string
	Form   connForm
	Stores []checkBox
	// Kept names the secret fields that hold a value without being typed
	// again: stored, or carried in Draft.
	Kept   map[string]bool
	Draft  string
	Result *keyward.Verification
	Errors formErrors
}

// connectorsPage lists the connections.
type connectorsPage struct {
	page
	Conns  []*keyward.Connection
	Names  map[string]string // system names by type id
	Stores map[string]string // store names by id
}

type connectorDeletePage struct {
	page
	Conn *keyward.Connection
}

type connectorSecretPage struct {
	page
	Conn   *keyward.Connection
	Fields []connector.Field
	Field  string
	Value  string
}

var connectorCrumbs = []string{"Settings"}

func (w *Web) listConnectors(rw http.ResponseWriter, r *http.Request) error {
	cs, err := w.svc.ListConnections(r.Context(), service.ConnectionFilter{})
	if err != nil {
		return err
	}
	p := &connectorsPage{page: page{Title: "External System Connectors", Crumbs: connectorCrumbs}, Conns: cs, Names: map[string]string{}, Stores: map[string]string{}}
	for _, t := range connector.Types() {
		p.Names[t.ID] = t.Name
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return err
	}
	for _, s := range stores {
		p.Stores[s.ID] = s.Name
	}
	w.render(rw, r, http.StatusOK, "connectors", p)
	return nil
}

// connFormPage builds the form page for f.
func (w *Web) connFormPage(r *http.Request, conn *keyward.Connection, f connForm) (*connectorFormPage, error) {
	p := &connectorFormPage{page: page{Title: "Create New Connection", Crumbs: []string{"Settings", "External System Connectors"}},
		Conn: conn, Types: connector.Types(), Action: pathConnectors + "/new", Form: f, Kept: map[string]bool{}}
	if conn != nil {
		p.Title, p.Action = conn.Name, pathConnectors+"/"+conn.ID
		for _, n := range conn.SecretsSet {
			p.Kept[n] = true
		}
	}
	if t, ok := connector.Lookup(f.Type); ok {
		p.Type = t
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	for _, s := range stores {
		checked := slices.Contains(f.Stores, s.ID) || slices.Contains(f.Stores, s.Code)
		if !s.Active && !checked {
			continue // a deactivated store is offered only to connections that keep it
		}
		p.Stores = append(p.Stores, checkBox{Value: s.ID, Label: s.Name, Note: storeNote(s), Checked: checked})
	}
	return p, nil
}

func (w *Web) newConnector(rw http.ResponseWriter, r *http.Request) error {
	f := connForm{Type: r.URL.Query().Get("type"), Enabled: true, StoreAccess: keyward.StoresAll, Values: map[string]string{}}
	p, err := w.connFormPage(r, nil, f)
	if err != nil {
		return err
	}
	if f.Type != "" && p.Type == nil {
		p.Errors, _ = fieldError("type", "Choose one of the systems listed.")
	}
	w.render(rw, r, http.StatusOK, "connector_form", p)
	return nil
}

// readConnForm reads the posted form for type t.
func readConnForm(r *http.Request, t *connector.Type) connForm {
	f := connForm{
		Type: r.PostFormValue("type"), Name: strings.TrimSpace(r.PostFormValue("name")), APIURL: strings.TrimSpace(r.PostFormValue("api_url")),
		Values: map[string]string{}, Secrets: map[string]string{}, StoreAccess: r.PostFormValue("stores_access"), Stores: r.PostForm["store"],
		Scopes: r.PostFormValue("required_scopes"), Enabled: r.PostFormValue("enabled") == "true", Unverified: r.PostFormValue("save_unverified") == "true",
		Resend: r.PostFormValue("resend_stored_secrets") == "true",
	}
	if t == nil {
		return f
	}
	for _, fl := range t.Fields {
		v := r.PostFormValue("field." + fl.Name)
		if fl.Secret {
			if v != "" {
				f.Secrets[fl.Name] = v
			}
			continue
		}
		f.Values[fl.Name] = strings.TrimSpace(v)
	}
	return f
}

func (f connForm) stores() *keyward.StoreAccess {
	if f.StoreAccess == keyward.StoresSelected {
		return &keyward.StoreAccess{Access: keyward.StoresSelected, IDs: f.Stores}
	}
	return &keyward.StoreAccess{Access: keyward.StoresAll}
}

func (f connForm) input() keyward.ConnectionInput {
	fields := map[string]string{}
	for k, v := range f.Values {
		if v != "" {
			fields[k] = v
		}
	}
	for k, v := range f.Secrets {
		fields[k] = v
	}
	return keyward.ConnectionInput{Type: f.Type, Name: f.Name, APIURL: f.APIURL, Fields: fields, Stores: f.stores(),
		RequiredScopes: splitScopes(f.Scopes), Enabled: &f.Enabled, SaveUnverified: f.Unverified}
}

func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// connDraft is what a sealed draft holds.
type connDraft struct {
	Secrets map[string]string `json:"secrets"`
	// To is where the secrets were entered for (connector.Type.Destinations
	// as typed); a form that names another destination gets none of them.
	To      map[string]string `json:"to"`
	Expires time.Time         `json:"expires"`
}

// draftTo is where a form sends secrets: its API URL and destination
// fields as typed.
func draftTo(t *connector.Type, f connForm) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return t.Destinations(f.APIURL, f.Values)
}

func draftPlace(a *keyward.Actor) seal.Place {
	return seal.Place{TenantID: a.TenantID, RecordID: "draft:" + a.UserID, Field: "web.connection_draft"}
}

// sealDraft seals secrets typed on the form for the next post; "" when
// there are none or no master key is set.
func (w *Web) sealDraft(r *http.Request, secrets, to map[string]string) string {
	kr, a := w.svc.Keyring(), keyward.ActorFrom(r.Context())
	if kr == nil || a == nil || len(secrets) == 0 {
		return ""
	}
	b, _ := json.Marshal(connDraft{Secrets: secrets, To: to, Expires: w.svc.Now().Add(draftLife)})
	return string(kr.Seal(b, draftPlace(a)))
}

// openDraft returns the secrets a posted draft carries; nothing for a
// draft that is missing, expired, another user's, or entered for another
// destination than to.
func (w *Web) openDraft(r *http.Request, to map[string]string) map[string]string {
	kr, a, v := w.svc.Keyring(), keyward.ActorFrom(r.Context()), r.PostFormValue("draft")
	if kr == nil || a == nil || v == "" || len(v) > 64<<10 {
		return map[string]string{}
	}
	b, err := kr.Open(seal.Sealed(v), draftPlace(a))
	var d connDraft
	if err != nil || json.Unmarshal(b, &d) != nil || w.svc.Now().After(d.Expires) || d.Secrets == nil || !maps.Equal(d.To, to) {
		return map[string]string{}
	}
	return d.Secrets
}

// connectorFields are the form's fields the service may name in an error.
func connectorFields(t *connector.Type) []string {
	out := []string{"type", "name", "api_url", "stores", "required_scopes", "access_token", "secret"}
	if t != nil {
		for _, f := range t.Fields {
			out = append(out, "fields."+f.Name)
		}
	}
	return out
}

// createConnector verifies the form (action "verify") or saves it.
func (w *Web) createConnector(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	t, _ := connector.Lookup(r.PostFormValue("type"))
	f := readConnForm(r, t)
	// Secrets typed now win over those carried from an earlier post.
	carried := w.openDraft(r, draftTo(t, f))
	for k, v := range f.Secrets {
		carried[k] = v
	}
	if t != nil {
		for k := range carried {
			if fl, ok := t.Field(k); !ok || !fl.Secret {
				delete(carried, k)
			}
		}
	}
	f.Secrets = carried
	p, err := w.connFormPage(r, nil, f)
	if err != nil {
		return err
	}
	p.Draft = w.sealDraft(r, f.Secrets, draftTo(t, f))
	for k := range f.Secrets {
		p.Kept[k] = true
	}
	if r.PostFormValue("action") == "verify" {
		v, err := w.svc.VerifyConnectionInput(r.Context(), f.input())
		if err != nil {
			fe, status, err := formError(err, connectorFields(t)...)
			if err != nil {
				return err
			}
			p.Errors = fe
			w.render(rw, r, status, "connector_form", p)
			return nil
		}
		p.Result = v
		w.render(rw, r, http.StatusOK, "connector_form", p)
		return nil
	}
	c, err := w.svc.CreateConnection(r.Context(), f.input())
	if err != nil {
		return w.connFormError(rw, r, p, t, err)
	}
	state := "verified"
	if c.State != keyward.ConnectionVerified {
		state = "saved unverified"
	}
	return redirect(rw, r, pathConnectors, "Connection "+c.Name+" "+state+".")
}

// connFormError shows a refused save on the form: a failed check as its
// result, other refusals beside their field.
func (w *Web) connFormError(rw http.ResponseWriter, r *http.Request, p *connectorFormPage, t *connector.Type, err error) error {
	var e *keyward.Error
	if errors.As(err, &e) && e.Field == "verification" {
		if v, ok := e.Details["verification"].(*keyward.Verification); ok {
			p.Result = v
			p.Errors = formErrors{Message: "The connection was not saved: Verify Connection did not pass. Correct it, or tick \"Save without a passing verification\"."}
			w.render(rw, r, http.StatusBadRequest, "connector_form", p)
			return nil
		}
	}
	fe, status, err := formError(err, connectorFields(t)...)
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "connector_form", p)
	return nil
}

func connFormOf(c *keyward.Connection) connForm {
	return connForm{Type: c.Type, Name: c.Name, APIURL: c.APIURL, Values: c.Settings, StoreAccess: c.Stores.Access, Stores: c.Stores.IDs,
		Scopes: strings.Join(c.RequiredScopes, ", "), Enabled: c.Enabled}
}

func (w *Web) editConnector(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.connFormPage(r, c, connFormOf(c))
	if err != nil {
		return err
	}
	p.Result = c.Verification
	w.render(rw, r, http.StatusOK, "connector_form", p)
	return nil
}

// updateConnector saves the edit (a secret left blank keeps the stored
// one), or, for action "verify", checks the saved connection.
func (w *Web) updateConnector(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.PostFormValue("action") == "verify" {
		v, err := w.svc.VerifyConnection(r.Context(), c.ID)
		if err != nil {
			return err
		}
		msg := "Verify Connection passed: " + v.Message
		if !v.OK() {
			msg = "Verify Connection failed: " + v.Message
		}
		return redirect(rw, r, pathConnectors+"/"+c.ID, msg)
	}
	t, _ := connector.Lookup(c.Type)
	f := readConnForm(r, t)
	f.Type = c.Type
	// Changing a stored secret, or sending the stored ones to a new
	// destination, asks for a recent password check.
	if len(f.Secrets) > 0 || f.Resend {
		if ok, err := w.stepUp(rw, r, pathConnectors+"/"+c.ID); !ok {
			return err
		}
	}
	p, err := w.connFormPage(r, c, f)
	if err != nil {
		return err
	}
	in := f.input()
	up := keyward.ConnectionUpdate{Name: &in.Name, APIURL: &in.APIURL, Fields: map[string]string{}, Stores: in.Stores,
		RequiredScopes: &in.RequiredScopes, Enabled: in.Enabled, SaveUnverified: f.Unverified, ResendStoredSecrets: f.Resend}
	for _, fl := range t.Fields {
		if fl.Secret {
			up.Fields[fl.Name] = f.Secrets[fl.Name] // blank keeps the stored one
		} else {
			up.Fields[fl.Name] = f.Values[fl.Name]
		}
	}
	c, err = w.svc.UpdateConnection(r.Context(), c.ID, up)
	if err != nil {
		return w.connFormError(rw, r, p, t, err)
	}
	return redirect(rw, r, pathConnectors, "Connection "+c.Name+" saved.")
}

func (w *Web) setConnectorEnabled(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	on := r.PostFormValue("enabled") == "true"
	c, err := w.svc.UpdateConnection(r.Context(), r.PathValue("id"), keyward.ConnectionUpdate{Enabled: &on})
	if err != nil {
		return err
	}
	state := "disabled"
	if c.Enabled {
		state = "enabled"
	}
	return redirect(rw, r, pathConnectors, "Connection "+c.Name+" "+state+".")
}

func (w *Web) confirmDeleteConnector(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "connector_delete", &connectorDeletePage{page: page{Title: "Delete " + c.Name, Crumbs: []string{"Settings", "External System Connectors"}}, Conn: c})
	return nil
}

func (w *Web) deleteConnector(rw http.ResponseWriter, r *http.Request) error {
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := w.svc.DeleteConnection(r.Context(), c.ID); err != nil {
		return err
	}
	return redirect(rw, r, pathConnectors, "Connection "+c.Name+" deleted.")
}

// revealConnector shows a secret once, after a recent password check; the
// reveal is written to the audit log.
func (w *Web) revealConnectorForm(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, ""); !ok {
		return err
	}
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p := &connectorSecretPage{page: page{Title: "Show a secret of " + c.Name, Crumbs: []string{"Settings", "External System Connectors"}}, Conn: c}
	if t, ok := connector.Lookup(c.Type); ok {
		for _, f := range t.Fields {
			if f.Secret && slices.Contains(c.SecretsSet, f.Name) {
				p.Fields = append(p.Fields, f)
			}
		}
	}
	w.render(rw, r, http.StatusOK, "connector_secret", p)
	return nil
}

func (w *Web) revealConnector(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	if ok, err := w.stepUp(rw, r, pathConnectors+"/"+r.PathValue("id")+"/reveal"); !ok {
		return err
	}
	c, err := w.svc.Connection(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	field := r.PostFormValue("field")
	v, err := w.svc.RevealConnectionSecret(r.Context(), c.ID, field)
	if err != nil {
		return err
	}
	p := &connectorSecretPage{page: page{Title: "Show a secret of " + c.Name, Crumbs: []string{"Settings", "External System Connectors"}}, Conn: c, Field: field, Value: v}
	w.render(rw, r, http.StatusOK, "connector_secret", p)
	return nil
}
