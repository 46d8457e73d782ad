package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// Organization > Merchants: merchants, their users and the users' API
// access; Integrations > API: every enabled merchant credential. An API
// Auth Key is shown once, in the answer to the POST that makes it, and
// never travels in a redirect, a cookie or the session.

var (
	merchantsCrumbs   = []string{"Organization"}
	merchantCrumbs    = []string{"Organization", "Merchants"}
	integrationCrumbs = []string{"Settings", "Integrations"}
)

// merchantsPage lists the merchants with their stores and user counts.
type merchantsPage struct {
	page
	Merchants []merchantRow
}

type merchantRow struct {
	Merchant *keyward.Merchant
	Stores   string
	Users    int
	APIUsers int // users with API access on
}

// storeNames maps the tenant's store ids to their names.
func (w *Web) storeNames(r *http.Request) (map[string]string, error) {
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, st := range stores {
		names[st.ID] = st.Name
	}
	return names, nil
}

// merchantStoreList names a merchant's stores for a person.
func merchantStoreList(m *keyward.Merchant, names map[string]string) string {
	if len(m.StoreIDs) == 0 {
		return "No stores"
	}
	var out []string
	for _, id := range m.StoreIDs {
		out = append(out, names[id])
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func (w *Web) listMerchants(rw http.ResponseWriter, r *http.Request) error {
	ms, err := w.svc.ListMerchants(r.Context())
	if err != nil {
		return err
	}
	names, err := w.storeNames(r)
	if err != nil {
		return err
	}
	p := &merchantsPage{page: page{Title: "Merchants", Crumbs: merchantsCrumbs}}
	for _, m := range ms {
		us, err := w.svc.ListMerchantUsers(r.Context(), m.ID)
		if err != nil {
			return err
		}
		row := merchantRow{Merchant: m, Stores: merchantStoreList(m, names), Users: len(us)}
		for _, u := range us {
			if u.APIAccess {
				row.APIUsers++
			}
		}
		p.Merchants = append(p.Merchants, row)
	}
	w.render(rw, r, http.StatusOK, "merchants", p)
	return nil
}

// merchantForm is the merchant form as typed.
type merchantForm struct {
	Name   string
	Stores []string
}

// merchantFormPage adds or edits a merchant.
type merchantFormPage struct {
	page
	Merchant *keyward.Merchant // the merchant edited; nil when adding
	Action   string
	Form     merchantForm
	Stores   []checkBox
	Errors   formErrors
}

// merchantFields are the merchant form's fields the service may name.
var merchantFields = []string{"name", "stores"}

func readMerchantForm(r *http.Request) merchantForm {
	return merchantForm{Name: strings.TrimSpace(r.PostFormValue("name")), Stores: r.PostForm["store"]}
}

func (w *Web) merchantFormPage(r *http.Request, m *keyward.Merchant, f merchantForm, fe formErrors) (*merchantFormPage, error) {
	p := &merchantFormPage{page: page{Title: "Add a merchant", Crumbs: merchantCrumbs}, Merchant: m, Action: pathMerchants, Form: f, Errors: fe}
	if m != nil {
		p.Title, p.Action = "Edit "+m.Name, pathMerchants+"/"+m.ID+"/edit"
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	for _, st := range stores {
		checked := slices.Contains(f.Stores, st.ID)
		if !st.Active && !checked {
			continue // a deactivated store is offered only to merchants that keep it
		}
		p.Stores = append(p.Stores, checkBox{Value: st.ID, Label: st.Name, Note: storeNote(st), Checked: checked})
	}
	return p, nil
}

func (w *Web) newMerchant(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.merchantFormPage(r, nil, merchantForm{}, formErrors{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "merchant_form", p)
	return nil
}

func (w *Web) createMerchant(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	f := readMerchantForm(r)
	m, err := w.svc.CreateMerchant(r.Context(), keyward.MerchantCreate{Name: f.Name, Stores: f.Stores})
	if err != nil {
		return w.refuseMerchantForm(rw, r, nil, f, err)
	}
	return redirect(rw, r, pathMerchants+"/"+m.ID, "Added "+m.Name+". Add its users next.")
}

func (w *Web) refuseMerchantForm(rw http.ResponseWriter, r *http.Request, m *keyward.Merchant, f merchantForm, err error) error {
	fe, status, err := formError(err, merchantFields...)
	if err != nil {
		return err
	}
	p, err := w.merchantFormPage(r, m, f, fe)
	if err != nil {
		return err
	}
	w.render(rw, r, status, "merchant_form", p)
	return nil
}

func (w *Web) editMerchant(rw http.ResponseWriter, r *http.Request) error {
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.merchantFormPage(r, m, merchantForm{Name: m.Name, Stores: m.StoreIDs}, formErrors{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "merchant_form", p)
	return nil
}

func (w *Web) updateMerchant(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := readMerchantForm(r)
	stores := slices.Clone(f.Stores)
	if stores == nil {
		stores = []string{}
	}
	m2, err := w.svc.UpdateMerchant(r.Context(), m.ID, keyward.MerchantUpdate{Name: &f.Name, Stores: &stores})
	if err != nil {
		return w.refuseMerchantForm(rw, r, m, f, err)
	}
	return redirect(rw, r, pathMerchants+"/"+m2.ID, "Saved "+m2.Name+".")
}

// merchantPage shows a merchant and its users with their API access.
type merchantPage struct {
	page
	Merchant *keyward.Merchant
	Stores   string
	Users    []merchantUserRow
	// Suspended says the tenant has no active licence: API access that is
	// on is refused until it has one.
	Suspended bool
}

type merchantUserRow struct {
	User   *keyward.MerchantUser
	Errors formErrors
	// CanSignIn says whether the user has a portal password.
	CanSignIn bool
	// Expiry is the banner of a replaced API Auth Key still working for
	// at most 7 more days.
	Expiry string
}

func (w *Web) merchantPage(r *http.Request, id string) (*merchantPage, error) {
	m, err := w.svc.Merchant(r.Context(), id)
	if err != nil {
		return nil, err
	}
	us, err := w.svc.ListMerchantUsers(r.Context(), m.ID)
	if err != nil {
		return nil, err
	}
	names, err := w.storeNames(r)
	if err != nil {
		return nil, err
	}
	p := &merchantPage{page: page{Title: m.Name, Crumbs: merchantCrumbs}, Merchant: m, Stores: merchantStoreList(m, names)}
	active, err := w.svc.LicenceActive(r.Context())
	if err != nil {
		return nil, err
	}
	p.Suspended = !active
	for _, u := range us {
		can, err := w.svc.MerchantUserCanSignIn(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		p.Users = append(p.Users, merchantUserRow{User: u, CanSignIn: can,
			Expiry: expiryNotice("The previous API Auth Key of "+u.Email, "Systems still sending it must move to the new key.", previousAuthKey(u, w.svc.Now()), w.svc.Now())})
	}
	return p, nil
}

func (w *Web) showMerchant(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.merchantPage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "merchant", p)
	return nil
}

// merchantRowError draws the merchant page again with a refusal beside
// the user's row.
func (w *Web) merchantRowError(rw http.ResponseWriter, r *http.Request, userID string, err error) error {
	fe, status, err := formError(err)
	if err != nil {
		return err
	}
	p, err := w.merchantPage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	for i := range p.Users {
		if p.Users[i].User.ID == userID {
			p.Users[i].Errors = fe
		}
	}
	w.render(rw, r, status, "merchant", p)
	return nil
}

// merchantUser finds one of the merchant's users.
func (w *Web) merchantUser(r *http.Request, merchantID, userID string) (*keyward.MerchantUser, error) {
	us, err := w.svc.ListMerchantUsers(r.Context(), merchantID)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if u.ID == userID {
			return u, nil
		}
	}
	return nil, keyward.Errorf(keyward.ENotFound, "This merchant has no such user.")
}

// merchantUserForm is the merchant user form as typed. Level stays text
// so that what was typed is shown again as it was.
type merchantUserForm struct {
	Email     string
	Name      string
	Level     string
	APIAccess bool
}

// merchantUserFormPage adds or edits a merchant user.
type merchantUserFormPage struct {
	page
	Merchant *keyward.Merchant
	User     *keyward.MerchantUser // the user edited; nil when adding
	Action   string
	Form     merchantUserForm
	Errors   formErrors
}

// merchantUserFields are the merchant user form's fields the service may
// name.
var merchantUserFields = []string{"email", "name", "level", "api_access"}

func readMerchantUserForm(r *http.Request) merchantUserForm {
	return merchantUserForm{
		Email:     strings.TrimSpace(r.PostFormValue("email")),
		Name:      strings.TrimSpace(r.PostFormValue("name")),
		Level:     r.PostFormValue("level"),
		APIAccess: r.PostFormValue("api_access") == "true",
	}
}

// level is the typed level as a number; 0 when it is not one, which the
// service refuses.
func (f merchantUserForm) level() int {
	n, _ := strconv.Atoi(f.Level)
	return n
}

func (w *Web) renderMerchantUserForm(rw http.ResponseWriter, r *http.Request, status int, m *keyward.Merchant, u *keyward.MerchantUser, f merchantUserForm, fe formErrors) {
	p := &merchantUserFormPage{
		page:     page{Title: "Add a user to " + m.Name, Crumbs: merchantCrumbs},
		Merchant: m, User: u, Action: pathMerchants + "/" + m.ID + "/users", Form: f, Errors: fe,
	}
	if u != nil {
		p.Title, p.Action = "Edit "+u.Email, pathMerchants+"/"+m.ID+"/users/"+u.ID+"/edit"
	}
	w.render(rw, r, status, "merchant_user_form", p)
}

func (w *Web) newMerchantUser(rw http.ResponseWriter, r *http.Request) error {
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.renderMerchantUserForm(rw, r, http.StatusOK, m, nil, merchantUserForm{Level: "1"}, formErrors{})
	return nil
}

// createMerchantUser adds the user. With API access on, the answer shows
// the API Account ID and API Auth Key, the only time the key is shown.
func (w *Web) createMerchantUser(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := readMerchantUserForm(r)
	if f.APIAccess {
		// Generating merchant credentials asks for a recent password check.
		if ok, err := w.stepUp(rw, r, pathMerchants+"/"+m.ID+"/users/new"); !ok {
			return err
		}
	}
	u, err := w.svc.CreateMerchantUser(r.Context(), m.ID, keyward.MerchantUserCreate{Email: f.Email, Name: f.Name, Level: f.level(), APIAccess: f.APIAccess})
	if err != nil {
		fe, status, err := formError(err, merchantUserFields...)
		if err != nil {
			return err
		}
		w.renderMerchantUserForm(rw, r, status, m, nil, f, fe)
		return nil
	}
	if u.AuthKey != "" {
		w.renderCredentials(rw, r, http.StatusCreated, m, u, false)
		return nil
	}
	return redirect(rw, r, pathMerchants+"/"+m.ID, "Added "+u.Email+" as Merchant Level "+strconv.Itoa(u.Level)+".")
}

func (w *Web) editMerchantUser(rw http.ResponseWriter, r *http.Request) error {
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	u, err := w.merchantUser(r, m.ID, r.PathValue("user"))
	if err != nil {
		return err
	}
	f := merchantUserForm{Email: u.Email, Name: u.Name, Level: strconv.Itoa(u.Level), APIAccess: u.APIAccess}
	w.renderMerchantUserForm(rw, r, http.StatusOK, m, u, f, formErrors{})
	return nil
}

// updateMerchantUser saves the user's name, level and API access. The API
// Access box asks for a change only when it differs from the user's
// state, so moving a user with API access to Level 1 switches it off
// rather than asking for it. Switching API access on answers with the new
// credentials, shown once.
func (w *Web) updateMerchantUser(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	before, err := w.merchantUser(r, m.ID, r.PathValue("user"))
	if err != nil {
		return err
	}
	f := readMerchantUserForm(r)
	f.Email = before.Email
	level := f.level()
	in := keyward.MerchantUserUpdate{Name: &f.Name, Level: &level}
	if f.APIAccess != before.APIAccess {
		in.APIAccess = &f.APIAccess
		if f.APIAccess {
			// Generating merchant credentials asks for a recent password check.
			if ok, err := w.stepUp(rw, r, pathMerchants+"/"+m.ID+"/users/"+before.ID+"/edit"); !ok {
				return err
			}
		}
	}
	u, err := w.svc.UpdateMerchantUser(r.Context(), m.ID, before.ID, in)
	if err != nil {
		fe, status, err := formError(err, merchantUserFields...)
		if err != nil {
			return err
		}
		w.renderMerchantUserForm(rw, r, status, m, before, f, fe)
		return nil
	}
	if u.AuthKey != "" {
		w.renderCredentials(rw, r, http.StatusOK, m, u, false)
		return nil
	}
	msg := "Saved " + u.Email + "."
	switch {
	case before.APIAccess && !u.APIAccess && u.Level == keyward.MerchantLevel1:
		msg += " Merchant Level 1 users cannot have API access, so it was switched off: the API Auth Key stopped working at once."
	case before.APIAccess && !u.APIAccess:
		msg += " API access is switched off: the API Auth Key stopped working at once."
	}
	return redirect(rw, r, pathMerchants+"/"+m.ID, msg)
}

// regenerateMerchantAuthKey replaces the user's API Auth Key and shows the
// new one in this answer, once.
func (w *Web) regenerateMerchantAuthKey(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, pathMerchants+"/"+r.PathValue("id")); !ok {
		return err
	}
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	userID := r.PathValue("user")
	in, err := graceForm(r)
	if err != nil {
		return w.merchantRowError(rw, r, userID, err)
	}
	u, err := w.svc.RegenerateMerchantAuthKey(r.Context(), m.ID, userID, in)
	if err != nil {
		return w.merchantRowError(rw, r, userID, err)
	}
	w.renderCredentials(rw, r, http.StatusOK, m, u, true)
	return nil
}

// deactivateMerchantUserAPI switches a user's API access off from the
// merchant page.
func (w *Web) deactivateMerchantUserAPI(rw http.ResponseWriter, r *http.Request) error {
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	userID := r.PathValue("user")
	off := false
	u, err := w.svc.UpdateMerchantUser(r.Context(), m.ID, userID, keyward.MerchantUserUpdate{APIAccess: &off})
	if err != nil {
		return w.merchantRowError(rw, r, userID, err)
	}
	return redirect(rw, r, pathMerchants+"/"+m.ID, "API access of "+u.Email+" is switched off: the API Auth Key stopped working at once.")
}

// credentialsPage shows a merchant user's API credentials straight after
// they are made; the API Auth Key is in User.AuthKey for this answer only.
type credentialsPage struct {
	page
	Merchant    *keyward.Merchant
	User        *keyward.MerchantUser
	Regenerated bool
}

func (w *Web) renderCredentials(rw http.ResponseWriter, r *http.Request, status int, m *keyward.Merchant, u *keyward.MerchantUser, regenerated bool) {
	title := "API access for " + u.Email
	if regenerated {
		title = "New API Auth Key for " + u.Email
	}
	w.render(rw, r, status, "merchant_credentials", &credentialsPage{
		page:     page{Title: title, Crumbs: merchantCrumbs},
		Merchant: m, User: u, Regenerated: regenerated,
	})
}

// apiAccessPage is Integrations > API: every merchant user with API
// access on.
type apiAccessPage struct {
	page
	Rows []keyward.MerchantAPIAccess
	// Suspended says the tenant has no active licence, so every listed
	// credential is refused until it has one.
	Suspended bool
}

func (w *Web) listMerchantAPIAccess(rw http.ResponseWriter, r *http.Request) error {
	rows, err := w.svc.ListMerchantAPIAccess(r.Context())
	if err != nil {
		return err
	}
	active, err := w.svc.LicenceActive(r.Context())
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "integrations_api", &apiAccessPage{page: page{Title: "Merchant API Settings", Crumbs: integrationCrumbs}, Rows: rows, Suspended: !active})
	return nil
}

// deactivateMerchantAPIAccess switches off the credential of an API
// Account ID from its row under Integrations > API.
func (w *Web) deactivateMerchantAPIAccess(rw http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	rows, err := w.svc.ListMerchantAPIAccess(r.Context())
	if err != nil {
		return err
	}
	who := account
	for _, row := range rows {
		if row.AccountID == account {
			who = row.Email + " (" + row.MerchantName + ")"
		}
	}
	if err := w.svc.DeactivateMerchantAPIAccess(r.Context(), account); err != nil {
		return err
	}
	return redirect(rw, r, pathMerchantAPI, "API access of "+who+" is switched off: the API Auth Key stopped working at once.")
}

// portalPasswordPage shows a merchant user's new portal password once.
type portalPasswordPage struct {
	page
	Merchant *keyward.Merchant
	User     *keyward.MerchantUser
	Password string
}

// setMerchantPortalPassword gives a merchant user a new generated portal
// password and shows it in this answer, once.
func (w *Web) setMerchantPortalPassword(rw http.ResponseWriter, r *http.Request) error {
	// A portal password is a credential: it needs a recent password check,
	// as the merchant's API Auth Key does.
	if ok, err := w.stepUp(rw, r, pathMerchants+"/"+r.PathValue("id")); !ok {
		return err
	}
	m, err := w.svc.Merchant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	u, err := w.merchantUser(r, m.ID, r.PathValue("user"))
	if err != nil {
		return err
	}
	pw, err := w.svc.SetMerchantUserPassword(r.Context(), m.ID, u.ID)
	if err != nil {
		return w.merchantRowError(rw, r, u.ID, err)
	}
	w.render(rw, r, http.StatusOK, "merchant_password", &portalPasswordPage{
		page: page{Title: "Portal password for " + u.Email, Crumbs: merchantCrumbs}, Merchant: m, User: u, Password: pw})
	return nil
}
