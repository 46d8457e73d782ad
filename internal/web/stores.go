package web

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// Settings > Stores: the tenant's stores, which keys, merchants and
// webhooks are scoped to. Adding and renaming need API Management, as the
// service asks; a store is removed only once nothing works in it, and the
// page says what does before asking.

const pathStores = "/settings/stores"

var storesCrumbs = []string{"Settings"}

// storesPage lists the stores with what works in each.
type storesPage struct {
	page
	Rows   []storeRow
	Form   storeForm
	Errors formErrors
}

type storeRow struct {
	Store     *keyward.Store
	Keys      int
	Merchants int
}

// storeForm is the store form as typed.
type storeForm struct {
	Code string
	Name string
}

func (w *Web) storesPage(r *http.Request, f storeForm, fe formErrors) (*storesPage, error) {
	p := &storesPage{page: page{Title: "Stores", Crumbs: storesCrumbs}, Form: f, Errors: fe}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	for _, st := range stores {
		u, err := w.svc.StoreUse(r.Context(), st.ID)
		if err != nil {
			return nil, err
		}
		p.Rows = append(p.Rows, storeRow{Store: st, Keys: len(u.Keys), Merchants: len(u.Merchants)})
	}
	return p, nil
}

func (w *Web) listStores(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.storesPage(r, storeForm{}, formErrors{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "stores", p)
	return nil
}

func (w *Web) createStore(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	f := storeForm{Code: strings.TrimSpace(r.PostFormValue("code")), Name: strings.TrimSpace(r.PostFormValue("name"))}
	st, err := w.svc.CreateStore(r.Context(), keyward.StoreCreate{Code: f.Code, Name: f.Name})
	if err != nil {
		fe, status, err := formError(err, "code", "name")
		if err != nil {
			return err
		}
		p, err := w.storesPage(r, f, fe)
		if err != nil {
			return err
		}
		w.render(rw, r, status, "stores", p)
		return nil
	}
	return redirect(rw, r, pathStores, st.Name+" ("+st.Code+") is added. Keys with access to all stores may use it at once.")
}

// storePage renames a store and shows what works in it.
type storePage struct {
	page
	Usage  *service.StoreUsage
	Name   string
	Errors formErrors
}

func (w *Web) storePage(r *http.Request, id string) (*storePage, error) {
	u, err := w.svc.StoreUse(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return &storePage{page: page{Title: u.Store.Name, Crumbs: []string{"Settings", "Stores"}}, Usage: u, Name: u.Store.Name}, nil
}

func (w *Web) showStore(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.storePage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "store", p)
	return nil
}

func (w *Web) renameStore(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	st, err := w.svc.UpdateStore(r.Context(), r.PathValue("id"), keyward.StoreUpdate{Name: &name})
	if err != nil {
		fe, status, err := formError(err, "name")
		if err != nil {
			return err
		}
		p, err := w.storePage(r, r.PathValue("id"))
		if err != nil {
			return err
		}
		p.Name, p.Errors = name, fe
		w.render(rw, r, status, "store", p)
		return nil
	}
	return redirect(rw, r, pathStores+"/"+st.ID, "The store is renamed to "+st.Name+".")
}

func (w *Web) confirmRemoveStore(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.storePage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title = "Remove " + p.Usage.Store.Name + "?"
	w.render(rw, r, http.StatusOK, "store_remove", p)
	return nil
}

func (w *Web) removeStore(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.storePage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if p.Usage.InUse() {
		p.Title = "Remove " + p.Usage.Store.Name + "?"
		p.Errors = formErrors{Message: "The store is still in use. Take it off the keys and merchants listed below first."}
		w.render(rw, r, http.StatusConflict, "store_remove", p)
		return nil
	}
	if err := w.svc.DeleteStore(r.Context(), p.Usage.Store.ID); err != nil {
		return err
	}
	return redirect(rw, r, pathStores, p.Usage.Store.Name+" is removed.")
}

func (w *Web) confirmDeactivateStore(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.storePage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title = "Deactivate " + p.Usage.Store.Name + "?"
	w.render(rw, r, http.StatusOK, "store_deactivate", p)
	return nil
}

func (w *Web) deactivateStore(rw http.ResponseWriter, r *http.Request) error {
	return w.setStoreActive(rw, r, false)
}

func (w *Web) reactivateStore(rw http.ResponseWriter, r *http.Request) error {
	return w.setStoreActive(rw, r, true)
}

func (w *Web) setStoreActive(rw http.ResponseWriter, r *http.Request, active bool) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	st, err := w.svc.UpdateStore(r.Context(), r.PathValue("id"), keyward.StoreUpdate{Active: &active})
	if err != nil {
		return err
	}
	if active {
		return redirect(rw, r, pathStores+"/"+st.ID, st.Name+" is active again: requests naming it are accepted as before.")
	}
	return redirect(rw, r, pathStores+"/"+st.ID, st.Name+" is deactivated: requests naming it are refused (STORE_NOT_ALLOWED) until it is reactivated.")
}

// storeNote is the note beside a store in a picker: its code, and that it
// is inactive when it is.
func storeNote(st *keyward.Store) string {
	if !st.Active {
		return st.Code + ", inactive"
	}
	return st.Code
}
