package web

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Paths of key requests: the link integrators send, the requests and the
// integrators registered to send them.
const (
	pathKeyRequestLink = "/key-requests/new"
	pathKeyRequests    = "/settings/integrations/key-requests"
	pathIntegrators    = "/settings/integrations/integrators"
)

// keyRequestStatuses are the list's tabs, in order.
var keyRequestStatuses = []string{keyward.KeyRequestPending, keyward.KeyRequestApproved, keyward.KeyRequestDeclined, keyward.KeyRequestExpired}

// openKeyRequest records the request an integrator's link makes and shows
// it; opened again, the link shows the request it made.
func (w *Web) openKeyRequest(rw http.ResponseWriter, r *http.Request) error {
	kr, created, err := w.svc.OpenKeyRequest(r.Context(), r.URL.RawQuery)
	if err != nil {
		return err
	}
	flash := ""
	if !created {
		flash = "This link was already used: it asks for one key, once. Here is the request it made."
	}
	return redirect(rw, r, pathKeyRequests+"/"+kr.ID, flash)
}

// keyRequestsPage lists requests of one status.
type keyRequestsPage struct {
	page
	Status   string
	Tabs     []string
	Requests []*keyward.KeyRequest
}

func (w *Web) listKeyRequests(rw http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = keyward.KeyRequestPending
	}
	rs, err := w.svc.ListKeyRequests(r.Context(), status, 200)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_requests", &keyRequestsPage{
		page:   page{Title: "Key requests", Crumbs: []string{"Settings", "Integrations"}},
		Status: status, Tabs: keyRequestStatuses, Requests: rs,
	})
	return nil
}

// keyRequestPage shows a request in plain words, with the form that
// narrows and approves it while it is pending.
type keyRequestPage struct {
	page
	Request *keyward.KeyRequest
	// Integrator is the registered integrator, nil for an unregistered
	// link.
	Integrator *keyward.Integrator
	Asked      plainKey
	Granted    *plainKey
	Errors     formErrors
	// The narrowing form: only what the request asks for is offered.
	Resources []permissionRow
	AllStores bool // the request asks for every store
	StoreAll  bool // the form gives every store
	Stores    []checkBox
	Methods   []checkBox
	ExpiresOn string
	MaxDate   string
	// PickupURL is the one-time pickup link of a key just approved, shown
	// only in the answer that approves it.
	PickupURL string
}

// plainKey says what a key may do, in words.
type plainKey struct {
	Write, Read, Cannot []string
	Stores              string
	Methods             []string // nil: every method the permissions allow
	Expires             string
}

func (w *Web) plainKey(r *http.Request, a keyward.KeyAsk) (plainKey, error) {
	var p plainKey
	for _, res := range w.svc.Catalog().Resources() {
		switch a.Permissions[res] {
		case keyward.LevelWrite:
			p.Write = append(p.Write, resourceLabel(res))
		case keyward.LevelRead:
			p.Read = append(p.Read, resourceLabel(res))
		default:
			p.Cannot = append(p.Cannot, resourceLabel(res))
		}
	}
	p.Stores = "Every store, including stores added later"
	if a.Stores.Access == keyward.StoresSelected {
		names, err := w.storeNames(r)
		if err != nil {
			return p, err
		}
		var list []string
		for _, id := range a.Stores.IDs {
			list = append(list, cmp.Or(names[id], id))
		}
		p.Stores = "Only " + strings.Join(list, ", ")
	}
	if a.Methods != nil {
		p.Methods = []string{}
		for _, id := range a.Methods {
			if m, ok := w.svc.Catalog().Method(id); ok {
				p.Methods = append(p.Methods, m.HTTPMethod+" "+m.Path+" — "+m.Summary)
			}
		}
	}
	p.Expires = "Never"
	if a.ExpiresAt != nil {
		p.Expires = when(*a.ExpiresAt)
	}
	return p, nil
}

func (w *Web) keyRequestPage(r *http.Request, kr *keyward.KeyRequest, form *keyward.KeyRequestApprove) (*keyRequestPage, error) {
	p := &keyRequestPage{page: page{Title: "Key request: " + kr.Requested.Name, Crumbs: []string{"Settings", "Integrations", "Key requests"}}, Request: kr}
	if kr.IntegratorID != "" {
		it, err := w.svc.Integrator(r.Context(), kr.IntegratorID)
		if err != nil && keyward.ErrorCode(err) != keyward.ENotFound {
			return nil, err
		}
		p.Integrator = it
	}
	var err error
	if p.Asked, err = w.plainKey(r, kr.Requested); err != nil {
		return nil, err
	}
	if kr.Granted != nil {
		g, err := w.plainKey(r, *kr.Granted)
		if err != nil {
			return nil, err
		}
		p.Granted = &g
	}
	if kr.Status != keyward.KeyRequestPending {
		return p, nil
	}
	// The form starts as the request and offers nothing beyond it.
	ask := kr.Requested
	perms, stores, methods, exp := ask.Permissions, ask.Stores, ask.Methods, ask.ExpiresAt
	if form != nil {
		perms, stores, exp = *form.Permissions, *form.Stores, form.ExpiresAt
		if form.Methods != nil {
			methods = *form.Methods
		}
	}
	for _, res := range w.svc.Catalog().Resources() {
		top := ask.Permissions[res]
		if top == keyward.LevelNone {
			continue
		}
		row := permissionRow{Resource: res, Label: resourceLabel(res)}
		for _, l := range []keyward.Level{keyward.LevelNone, keyward.LevelRead, keyward.LevelWrite} {
			if l == keyward.LevelNone || top.Allows(l) {
				row.Levels = append(row.Levels, levelOption{Value: l, Label: levelLabel(l), Checked: perms[res] == l})
			}
		}
		p.Resources = append(p.Resources, row)
	}
	all, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	p.AllStores = ask.Stores.Access != keyward.StoresSelected
	p.StoreAll = p.AllStores && stores.Access != keyward.StoresSelected
	for _, st := range all {
		if !p.AllStores && !slices.Contains(ask.Stores.IDs, st.ID) {
			continue
		}
		on := stores.Access == keyward.StoresSelected && slices.Contains(stores.IDs, st.ID)
		p.Stores = append(p.Stores, checkBox{Value: st.ID, Label: st.Name, Note: storeNote(st), Checked: on})
	}
	for _, id := range ask.Methods {
		if m, ok := w.svc.Catalog().Method(id); ok {
			p.Methods = append(p.Methods, checkBox{Value: m.ID, Label: m.HTTPMethod + " " + m.Path, Note: m.Summary, Checked: slices.Contains(methods, m.ID)})
		}
	}
	if exp != nil {
		p.ExpiresOn = exp.UTC().Format(time.DateOnly)
	}
	if ask.ExpiresAt != nil {
		p.MaxDate = ask.ExpiresAt.UTC().Format(time.DateOnly)
	}
	return p, nil
}

func (w *Web) showKeyRequest(rw http.ResponseWriter, r *http.Request) error {
	kr, err := w.svc.KeyRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.keyRequestPage(r, kr, nil)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_request", p)
	return nil
}

// readApproval reads the narrowing form. Levels, stores and methods are
// passed on as posted: the service refuses whatever widens the request.
func (w *Web) readApproval(r *http.Request, kr *keyward.KeyRequest) (keyward.KeyRequestApprove, error) {
	perms := keyward.Permissions{}
	for _, res := range w.svc.Catalog().Resources() {
		var l keyward.Level
		if l.UnmarshalText([]byte(r.PostFormValue("perm."+res))) == nil && l != keyward.LevelNone {
			perms[res] = l
		}
	}
	in := keyward.KeyRequestApprove{Permissions: &perms}
	stores := keyward.StoreAccess{Access: keyward.StoresSelected, IDs: r.PostForm["store"]}
	if r.PostFormValue("stores_access") == keyward.StoresAll {
		stores = keyward.StoreAccess{Access: keyward.StoresAll}
	}
	in.Stores = &stores
	if kr.Requested.Methods != nil || r.PostForm.Has("method") {
		ms := r.PostForm["method"]
		if ms == nil {
			ms = []string{}
		}
		in.Methods = &ms
	}
	switch v := r.PostFormValue("expires_on"); {
	case v == "":
		in.ExpiresAt = nil
	case kr.Requested.ExpiresAt != nil && v == kr.Requested.ExpiresAt.UTC().Format(time.DateOnly):
		// The date as offered keeps the time asked for.
		in.ExpiresAt = kr.Requested.ExpiresAt
	default:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return in, keyward.Invalid("expires_at", "Give the date the key stops working, such as 2027-01-31.")
		}
		in.ExpiresAt = &t
	}
	if in.ExpiresAt == nil && kr.Requested.ExpiresAt != nil {
		return in, keyward.Invalid("expires_at", "The request asks for a key that stops working by %s; give that date or an earlier one.", when(*kr.Requested.ExpiresAt))
	}
	return in, nil
}

// approveKeyRequest makes the key as narrowed on the form. Its secrets
// are never shown here: they go to the integrator.
func (w *Web) approveKeyRequest(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if ok, err := w.stepUp(rw, r, pathKeyRequests+"/"+id); !ok {
		return err
	}
	kr, err := w.svc.KeyRequest(r.Context(), id)
	if err != nil {
		return err
	}
	in, err := w.readApproval(r, kr)
	if err == nil {
		var done *keyward.KeyRequest
		if done, err = w.svc.ApproveKeyRequest(r.Context(), id, in); err == nil {
			if done.PickupURL != "" {
				p, err := w.keyRequestPage(r, done, nil)
				if err != nil {
					return err
				}
				p.PickupURL = done.PickupURL
				w.render(rw, r, http.StatusOK, "key_request", p)
				return nil
			}
			msg := "Approved: key " + done.Requested.Name + " was made with what you granted."
			if done.Delivery == keyward.DeliveryCallback {
				msg += " It is on its way to " + done.IntegratorName + "; its secrets are never shown here."
			}
			return redirect(rw, r, pathKeyRequests+"/"+id, msg)
		}
	}
	fe, status, ferr := formError(err, "permissions", "stores", "methods", "expires_at")
	if ferr != nil {
		return ferr
	}
	p, perr := w.keyRequestPage(r, kr, &in)
	if perr != nil {
		return perr
	}
	p.Errors = fe
	w.render(rw, r, status, "key_request", p)
	return nil
}

func (w *Web) declineKeyRequest(rw http.ResponseWriter, r *http.Request) error {
	kr, err := w.svc.DeclineKeyRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return redirect(rw, r, pathKeyRequests+"/"+kr.ID, "Declined: no key was made.")
}

// integratorsPage lists the integrators and registers new ones.
type integratorsPage struct {
	page
	Integrators []*keyward.Integrator
	Resources   []permissionRow
	Form        keyward.IntegratorCreate
	Errors      formErrors
	// Created is an integrator just registered or rolled, its secret shown
	// this once.
	Created *keyward.Integrator
	Rolled  bool
}

func (w *Web) integratorsPage(r *http.Request, form keyward.IntegratorCreate) (*integratorsPage, error) {
	its, err := w.svc.ListIntegrators(r.Context())
	if err != nil {
		return nil, err
	}
	p := &integratorsPage{page: page{Title: "Integrators", Crumbs: []string{"Settings", "Integrations"}}, Integrators: its, Form: form}
	for _, res := range w.svc.Catalog().Resources() {
		row := permissionRow{Resource: res, Label: resourceLabel(res)}
		for _, l := range []keyward.Level{keyward.LevelNone, keyward.LevelRead, keyward.LevelWrite} {
			row.Levels = append(row.Levels, levelOption{Value: l, Label: levelLabel(l), Checked: form.Permissions[res] == l})
		}
		p.Resources = append(p.Resources, row)
	}
	return p, nil
}

func (w *Web) listIntegrators(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.integratorsPage(r, keyward.IntegratorCreate{Permissions: keyward.Permissions{}})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "integrators", p)
	return nil
}

// createIntegrator registers an integrator and shows its signing secret
// in this answer, the only time it is shown.
func (w *Web) createIntegrator(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in := keyward.IntegratorCreate{Name: strings.TrimSpace(r.PostFormValue("name")), CallbackURL: strings.TrimSpace(r.PostFormValue("callback_url")),
		Permissions: keyward.Permissions{}}
	for _, res := range w.svc.Catalog().Resources() {
		var l keyward.Level
		if l.UnmarshalText([]byte(r.PostFormValue("perm."+res))) == nil && l != keyward.LevelNone {
			in.Permissions[res] = l
		}
	}
	it, err := w.svc.CreateIntegrator(r.Context(), in)
	status := http.StatusCreated
	var fe formErrors
	if err != nil {
		var ferr error
		if fe, status, ferr = formError(err, "name", "callback_url", "permissions"); ferr != nil {
			return ferr
		}
	}
	p, perr := w.integratorsPage(r, in)
	if perr != nil {
		return perr
	}
	p.Errors, p.Created = fe, it
	w.render(rw, r, status, "integrators", p)
	return nil
}

func (w *Web) rollIntegrator(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, pathIntegrators); !ok {
		return err
	}
	it, err := w.svc.RollIntegratorSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.integratorsPage(r, keyward.IntegratorCreate{Permissions: keyward.Permissions{}})
	if err != nil {
		return err
	}
	p.Created, p.Rolled = it, true
	w.render(rw, r, http.StatusOK, "integrators", p)
	return nil
}

func (w *Web) deleteIntegrator(rw http.ResponseWriter, r *http.Request) error {
	if err := w.svc.DeleteIntegrator(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return redirect(rw, r, pathIntegrators, "Deleted the integrator: its links are no longer accepted.")
}
