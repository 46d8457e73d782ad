package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

// keyForm is the key form as typed: what a person sees again when the
// service refuses it.
type keyForm struct {
	Name        string
	Description string
	Enabled     bool
	Permissions keyward.Permissions
	StoreAccess string // keyward.StoresAll or keyward.StoresSelected
	Stores      []string
	MethodsMode string // "all": whatever the permissions allow; "selected": the allowlist below
	Methods     []string
	Blocks      []string // blocks whose "whole block" box is ticked
	// Version is the key's ETag when the form was opened; saving with it
	// is refused when someone else changed the key since.
	Version string
	// AllowedAddresses is the address allowlist as typed, one a line.
	AllowedAddresses string
	// Expires is the expiry date as typed (YYYY-MM-DD, from 00:00 UTC);
	// empty for none (see keyexpiry.go).
	Expires string
	// QuotaLimit and QuotaPeriod are the quota as typed: "At most
	// QuotaLimit requests a day / a month / in total"; no limit, no quota.
	QuotaLimit  string
	QuotaPeriod string
}

const (
	methodsAll      = "all"
	methodsSelected = "selected"
)

func newKeyForm() keyForm {
	return keyForm{Enabled: true, Permissions: keyward.Permissions{}, StoreAccess: keyward.StoresAll, MethodsMode: methodsAll}
}

func keyFormOf(k *keyward.Key) keyForm {
	f := keyForm{
		Name: k.Name, Description: k.Description, Enabled: k.Enabled, Permissions: k.Permissions,
		StoreAccess: k.Stores.Access, Stores: k.Stores.IDs, MethodsMode: methodsAll, Version: k.ETag(),
		Expires: expiryDate(k.ExpiresAt),
	}
	if k.Methods != nil {
		f.MethodsMode, f.Methods = methodsSelected, k.Methods
	}
	f.AllowedAddresses = addressLines(k.AllowedAddresses)
	if k.Quota != nil {
		f.QuotaLimit, f.QuotaPeriod = strconv.FormatInt(k.Quota.Limit, 10), k.Quota.Period
	}
	return f
}

// readKeyForm reads the posted form. Resources are read as the catalog
// names them; levels are passed on as typed for the service to check.
func readKeyForm(r *http.Request, cat *catalog.Catalog) keyForm {
	f := keyForm{
		Name:        strings.TrimSpace(r.PostFormValue("name")),
		Description: strings.TrimSpace(r.PostFormValue("description")),
		Enabled:     r.PostFormValue("enabled") == "true",
		Permissions: keyward.Permissions{},
		StoreAccess: r.PostFormValue("stores_access"),
		Stores:      r.PostForm["store"],
		MethodsMode: r.PostFormValue("methods_mode"),
		Methods:     r.PostForm["method"],
		Blocks:      r.PostForm["block"],
		Version:     r.PostFormValue("version"),
		Expires:     strings.TrimSpace(r.PostFormValue("expires_at")),
		QuotaLimit:  strings.TrimSpace(r.PostFormValue("quota_limit")),
		QuotaPeriod: r.PostFormValue("quota_period"),
	}
	f.AllowedAddresses = r.PostFormValue("allowed_addresses")
	for _, res := range cat.Resources() {
		var lvl keyward.Level
		if lvl.UnmarshalText([]byte(r.PostFormValue("perm."+res))) == nil && lvl != keyward.LevelNone {
			f.Permissions[res] = lvl
		}
	}
	return f
}

func (f keyForm) stores() keyward.StoreAccess {
	if f.StoreAccess == keyward.StoresSelected {
		return keyward.StoreAccess{Access: keyward.StoresSelected, IDs: f.Stores}
	}
	return keyward.StoreAccess{Access: f.StoreAccess}
}

// methods is the allowlist: nil for every method the permissions allow;
// ticked blocks are named as blocks, which the service expands.
func (f keyForm) methods() []string {
	if f.MethodsMode != methodsSelected {
		return nil
	}
	return append(append([]string{}, f.Methods...), f.Blocks...)
}

func (f keyForm) create() keyward.KeyCreate {
	return keyward.KeyCreate{
		Name: f.Name, Description: f.Description, Enabled: &f.Enabled, Permissions: f.Permissions,
		Stores: f.stores(), Methods: f.methods(), AllowedAddresses: readAddressLines(f.AllowedAddresses),
		Quota: f.quota(),
	}
}

func (f keyForm) update() keyward.KeyUpdate {
	st, ms, addrs := f.stores(), f.methods(), readAddressLines(f.AllowedAddresses)
	return keyward.KeyUpdate{
		Name: &f.Name, Description: &f.Description, Enabled: &f.Enabled, Permissions: &f.Permissions,
		Stores: &st, Methods: &ms, ClearPermissions: true, AllowedAddresses: &addrs,
		Quota: f.quota(), RemoveQuota: f.QuotaLimit == "",
	}
}

// keyFormPage adds or edits a key.
type keyFormPage struct {
	page
	Key       *keyward.Key // the key edited; nil when adding
	Action    string
	Form      keyForm
	Errors    formErrors
	Resources []permissionRow
	Stores    []checkBox
	Blocks    []blockBox
	Licence   string
	// MaxLifetimeDays is the tenant's maximum key lifetime; 0 for none.
	MaxLifetimeDays int
}

type permissionRow struct {
	Resource string
	Label    string
	Levels   []levelOption
}

type levelOption struct {
	Value   keyward.Level
	Label   string
	Checked bool
}

type checkBox struct {
	Value   string
	Label   string
	Note    string
	Checked bool
}

type blockBox struct {
	Name    string
	ID      string
	All     bool
	Methods []methodBox
}

type methodBox struct {
	ID      string
	Verb    string
	Path    string
	Summary string
	Write   bool
	Checked bool
	// Resource and Access are what the method needs; Unavailable marks a
	// method the form's permissions cannot allow, and Needs says why.
	Resource    string
	Access      keyward.Level
	Unavailable bool
	Needs       string
}

// licence returns the licence_required message when the tenant cannot
// create or change keys, for the banner.
func (w *Web) licence(r *http.Request) (string, error) {
	err := w.svc.CheckKeyLicence(r.Context())
	if keyward.ErrorCode(err) == keyward.ELicenceRequired {
		return keyward.ErrorMessage(err), nil
	}
	return "", err
}

func (w *Web) keyFormPage(r *http.Request, k *keyward.Key, f keyForm) (*keyFormPage, error) {
	cat := w.svc.Catalog()
	p := &keyFormPage{page: page{Title: "Add an API key", Crumbs: []string{"Settings", "Integrations", "API Management"}}, Key: k, Action: pathKeys, Form: f}
	if k != nil {
		p.Title, p.Action = "Edit "+k.DisplayName, pathKeys+"/"+k.ID+"/edit"
	}
	var err error
	if p.Licence, err = w.licence(r); err != nil {
		return nil, err
	}
	if p.MaxLifetimeDays, err = w.maxLifetime(r); err != nil {
		return nil, err
	}
	for _, res := range cat.Resources() {
		row := permissionRow{Resource: res, Label: resourceLabel(res)}
		for _, l := range []keyward.Level{keyward.LevelNone, keyward.LevelRead, keyward.LevelWrite} {
			row.Levels = append(row.Levels, levelOption{Value: l, Label: levelLabel(l), Checked: f.Permissions[res] == l})
		}
		p.Resources = append(p.Resources, row)
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	for _, st := range stores {
		checked := slices.Contains(f.Stores, st.ID) || slices.Contains(f.Stores, st.Code)
		if !st.Active && !checked {
			continue // a deactivated store is offered only to keys that keep it
		}
		p.Stores = append(p.Stores, checkBox{Value: st.ID, Label: st.Name, Note: storeNote(st), Checked: checked})
	}
	for i, b := range cat.Blocks() {
		bb := blockBox{Name: b.Name, ID: "block-" + strconv.Itoa(i), All: slices.Contains(f.Blocks, b.Name)}
		all := true
		for _, m := range b.Methods {
			on := bb.All || slices.Contains(f.Methods, m.ID)
			all = all && on
			bb.Methods = append(bb.Methods, methodBox{ID: m.ID, Verb: m.HTTPMethod, Path: m.Path, Summary: m.Summary, Write: m.Access == keyward.LevelWrite, Checked: on,
				Resource: m.Resource, Access: m.Access, Unavailable: !f.Permissions[m.Resource].Allows(m.Access),
				Needs: "Needs " + levelLabel(m.Access) + " on " + resourceLabel(m.Resource) + " under Permissions."})
		}
		bb.All = all
		p.Blocks = append(p.Blocks, bb)
	}
	return p, nil
}

func (w *Web) newKey(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, ""); !ok {
		return err
	}
	p, err := w.keyFormPage(r, nil, newKeyForm())
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_form", p)
	return nil
}

// keyFields are the form's fields the service may name in an error.
var keyFields = []string{"name", "description", "permissions", "stores", "methods", "allowed_addresses", "expires_at", "quota"}

// createKey issues the key and shows its two secrets in this answer, the
// only time they are shown: they never travel in a redirect.
func (w *Web) createKey(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	if ok, err := w.stepUp(rw, r, pathKeys+"/new"); !ok {
		return err
	}
	f := readKeyForm(r, w.svc.Catalog())
	if err := f.checkQuota(); err != nil {
		return w.refuseKeyForm(rw, r, nil, f, err)
	}
	in := f.create()
	var k *keyward.Key
	exp, err := f.expiry()
	if err == nil {
		in.ExpiresAt = exp
		k, err = w.svc.CreateKey(r.Context(), in)
	}
	if err != nil {
		return w.refuseKeyForm(rw, r, nil, f, err)
	}
	w.render(rw, r, http.StatusCreated, "key_secrets", &secretsPage{
		page: page{Title: "Keys generated", Crumbs: []string{"Settings", "Integrations", "API Management"}},
		Key:  k, Secrets: k.Secrets,
	})
	return nil
}

func (w *Web) refuseKeyForm(rw http.ResponseWriter, r *http.Request, k *keyward.Key, f keyForm, err error) error {
	fe, status, err := formError(err, keyFields...)
	if err != nil {
		return err
	}
	p, err := w.keyFormPage(r, k, f)
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "key_form", p)
	return nil
}

func (w *Web) editKey(rw http.ResponseWriter, r *http.Request) error {
	k, err := w.svc.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.keyFormPage(r, k, keyFormOf(k))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_form", p)
	return nil
}

func (w *Web) updateKey(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	k, err := w.svc.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := readKeyForm(r, w.svc.Catalog())
	if err := f.checkQuota(); err != nil {
		return w.refuseKeyForm(rw, r, k, f, err)
	}
	ctx := r.Context()
	if f.Version != "" {
		ctx = keyward.WithIfMatch(ctx, f.Version)
	}
	in := f.update()
	if f.Expires != expiryDate(k.ExpiresAt) {
		exp, err := f.expiry()
		if err != nil {
			return w.refuseKeyForm(rw, r, k, f, err)
		}
		in.ExpiresAt = keyward.NullableTime{Set: true, Time: exp}
	}
	k2, err := w.svc.UpdateKey(ctx, k.ID, in)
	if keyward.ErrorCode(err) == keyward.EPreconditionFailed {
		// The form keeps what this person typed and now carries the
		// current version: saving again overwrites the other change.
		p, perr := w.keyFormPage(r, k, f)
		if perr != nil {
			return perr
		}
		p.Form.Version = k.ETag()
		p.Errors = formErrors{Message: "Someone else changed this key since you opened this form. Open the key in another tab to see their change; saving this form again replaces it with what you see here."}
		w.render(rw, r, http.StatusPreconditionFailed, "key_form", p)
		return nil
	}
	if err != nil {
		return w.refuseKeyForm(rw, r, k, f, err)
	}
	return redirect(rw, r, pathKeys+"/"+k2.ID, "Saved "+k2.DisplayName+". The change applies to the next request made with it.")
}

// secretsPage shows secrets once, straight after they are made.
type secretsPage struct {
	page
	Key     *keyward.Key
	Secrets []keyward.KeySecret // only those whose plain text is set are shown
	Rolled  bool
}

// keysPage is the list of keys with its filters.
type keysPage struct {
	page
	Filter  keyFilterForm
	Errors  formErrors
	Stores  []*keyward.Store
	Keys    []keyRow
	NextURL string
	Back    string
	Licence string
	// Sort is the order of the list; Sorts link to each order.
	Sort  string
	Sorts []sortLink
}

type keyFilterForm struct {
	Enabled string
	Access  string
	Store   string
}

type keyRow struct {
	Key         *keyward.Key
	Stores      string
	Permissions string
	Methods     string
	LastUsed    *time.Time
}

func (w *Web) listKeys(rw http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := &keysPage{
		page:   page{Title: "API Management", Crumbs: []string{"Settings", "Integrations"}},
		Filter: keyFilterForm{Enabled: q.Get("enabled"), Access: q.Get("access"), Store: q.Get("store")},
		Back:   r.URL.RequestURI(),
	}
	var err error
	if p.Licence, err = w.licence(r); err != nil {
		return err
	}
	if p.Stores, err = w.svc.ListStores(r.Context()); err != nil {
		return err
	}
	f := keyward.KeyFilter{Access: p.Filter.Access, StoreID: p.Filter.Store, After: q.Get("after")}
	status := http.StatusOK
	switch p.Filter.Enabled {
	case "":
	case "true", "false":
		on := p.Filter.Enabled == "true"
		f.Enabled = &on
	default:
		p.Errors, status = fieldError("enabled", "Choose any, enabled or disabled.")
	}
	if !p.Errors.Any() {
		page, err := w.sortedKeys(r, f, p)
		if err != nil {
			fe, st, err := formError(err, "access", "store")
			if err != nil {
				return err
			}
			p.Errors, status = fe, st
		} else {
			names := map[string]string{}
			for _, st := range p.Stores {
				names[st.ID] = st.Name
			}
			for _, k := range page.Data {
				p.Keys = append(p.Keys, newKeyRow(k, names))
			}
			if page.NextCursor != "" {
				q.Set("page", page.NextCursor)
				p.NextURL = pathKeys + "?" + q.Encode()
			}
		}
	}
	w.render(rw, r, status, "keys", p)
	return nil
}

func newKeyRow(k *keyward.Key, storeNames map[string]string) keyRow {
	row := keyRow{Key: k, Stores: "All stores", Methods: "All allowed"}
	if k.Stores.Access == keyward.StoresSelected {
		var names []string
		for _, id := range k.Stores.IDs {
			names = append(names, storeNames[id])
		}
		row.Stores = strings.Join(names, ", ")
	}
	var perms []string
	for res, l := range k.Permissions {
		s := resourceLabel(res)
		if l == keyward.LevelRead {
			s += " (read)"
		}
		perms = append(perms, s)
	}
	slices.Sort(perms)
	row.Permissions = strings.Join(perms, ", ")
	if row.Permissions == "" {
		row.Permissions = "None"
	}
	if k.Methods != nil {
		row.Methods = strconv.Itoa(len(k.Methods)) + " selected"
	}
	for _, s := range k.Secrets {
		if s.LastUsedAt != nil && (row.LastUsed == nil || s.LastUsedAt.After(*row.LastUsed)) {
			row.LastUsed = s.LastUsedAt
		}
	}
	return row
}

// keyPage shows one key: its settings, secrets as hints, usage and the
// form that rolls a secret.
type keyPage struct {
	page
	Key         *keyward.Key
	Stores      string
	Permissions []permissionLine
	Methods     []methodGroup
	AllMethods  bool // no allowlist: every method the permissions allow
	Chart       usageChart
	Roll        rollForm
	Errors      formErrors
	Licence     string
	// Expiry is the banner of a key expiring within 7 days or expired.
	Expiry    string
	Handovers []handoverRow
	Leaks     []*keyward.Leak // reported leaks of its secrets, newest first
}

type permissionLine struct {
	Label string
	Level keyward.Level
}

type methodGroup struct {
	Block   string
	All     bool
	Methods []string
}

type rollForm struct {
	Slot  string
	Grace string
}

func (w *Web) keyPage(r *http.Request, id string) (*keyPage, error) {
	k, err := w.svc.Key(r.Context(), id)
	if err != nil {
		return nil, err
	}
	k.Warnings = w.svc.KeyWarnings(k)
	p := &keyPage{page: page{Title: k.DisplayName, Crumbs: []string{"Settings", "Integrations", "API Management"}}, Key: k, Roll: rollForm{Slot: "1"}}
	if p.Licence, err = w.licence(r); err != nil {
		return nil, err
	}
	if p.Leaks, err = w.svc.KeyLeaks(r.Context(), k.ID); err != nil {
		return nil, err
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, st := range stores {
		names[st.ID] = st.Name + " (" + st.Code + ")"
	}
	p.Stores = newKeyRow(k, names).Stores
	for _, res := range w.svc.Catalog().Resources() {
		if l := k.Permissions[res]; l != keyward.LevelNone {
			p.Permissions = append(p.Permissions, permissionLine{Label: resourceLabel(res), Level: l})
		}
	}
	p.AllMethods = k.Methods == nil
	if k.Methods != nil {
		for _, b := range w.svc.Catalog().Blocks() {
			g := methodGroup{Block: b.Name, All: true}
			for _, m := range b.Methods {
				if slices.Contains(k.Methods, m.ID) {
					g.Methods = append(g.Methods, m.ID)
				} else {
					g.All = false
				}
			}
			if len(g.Methods) > 0 {
				p.Methods = append(p.Methods, g)
			}
		}
	}
	var hourly []keyward.UsageBucket
	if k.Usage != nil {
		hourly = k.Usage.Hourly
	}
	p.Chart = newUsageChart(hourly, w.svc.Now())
	p.Expiry = expiryNotice("This key", "Give it a later expiry under Edit, or give the integration a new key.", k.ExpiresAt, w.svc.Now())
	p.Handovers = w.subjectHandovers(r, keyward.HandoverKeySecret, k.ID)
	return p, nil
}

func (w *Web) showKey(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.keyPage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key", p)
	return nil
}

// setKeyEnabled enables or disables a key at once, from its row in the list.
func (w *Web) setKeyEnabled(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	on := r.PostFormValue("enabled") == "true"
	k, err := w.svc.UpdateKey(r.Context(), r.PathValue("id"), keyward.KeyUpdate{Enabled: &on})
	if err != nil {
		return err
	}
	msg := k.DisplayName + " is disabled: it is refused from now on."
	if on {
		msg = k.DisplayName + " is enabled."
	}
	return redirect(rw, r, backTo(r.PostFormValue("back"), pathKeys), msg)
}

// backTo returns back when it is a page of the section, else def.
func backTo(back, def string) string {
	if back != "" && localPath(back) == back && strings.HasPrefix(back, def) {
		return back
	}
	return def
}

// deletePage asks before a key is deleted.
type deletePage struct {
	page
	Key *keyward.Key
}

func (w *Web) confirmDeleteKey(rw http.ResponseWriter, r *http.Request) error {
	k, err := w.svc.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_delete", &deletePage{page: page{Title: "Delete " + k.DisplayName + "?", Crumbs: []string{"Settings", "Integrations", "API Management"}}, Key: k})
	return nil
}

func (w *Web) deleteKey(rw http.ResponseWriter, r *http.Request) error {
	k, err := w.svc.Key(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := w.svc.DeleteKey(r.Context(), k.ID); err != nil {
		return err
	}
	return redirect(rw, r, pathKeys, k.DisplayName+" is deleted: both of its secrets stopped working.")
}

// rollKey gives a slot a new secret and shows it in this answer, once.
func (w *Web) rollKey(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	if ok, err := w.stepUp(rw, r, pathKeys+"/"+r.PathValue("id")); !ok {
		return err
	}
	form := rollForm{Slot: r.PostFormValue("slot"), Grace: strings.TrimSpace(r.PostFormValue("grace"))}
	var in keyward.KeyRoll
	in.Slot, _ = strconv.Atoi(form.Slot)
	var err error
	if form.Grace != "" {
		err = in.Grace.UnmarshalText([]byte(form.Grace))
	}
	var k *keyward.Key
	if err == nil {
		k, err = w.svc.RollKey(r.Context(), r.PathValue("id"), in)
	}
	if err != nil {
		fe, status, err := formError(err, "slot", "grace")
		if err != nil {
			return err
		}
		p, err := w.keyPage(r, r.PathValue("id"))
		if err != nil {
			return err
		}
		p.Roll, p.Errors = form, fe
		w.render(rw, r, status, "key", p)
		return nil
	}
	var fresh []keyward.KeySecret
	for _, s := range k.Secrets {
		if s.Secret != "" {
			fresh = append(fresh, s)
		}
	}
	w.render(rw, r, http.StatusOK, "key_secrets", &secretsPage{
		page: page{Title: "New secret for slot " + form.Slot, Crumbs: []string{"Settings", "Integrations", "API Management"}},
		Key:  k, Secrets: fresh, Rolled: true,
	})
	return nil
}
