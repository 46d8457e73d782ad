package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// profilesPage lists the security profiles, with a form to add one.
type profilesPage struct {
	page
	Profiles []profileRow
	NewName  string
	Errors   formErrors
}

type profileRow struct {
	Profile  *keyward.Profile
	Features []string
	Users    int
}

var staffCrumbs = []string{"Staff"}

func (w *Web) profilesPage(r *http.Request) (*profilesPage, error) {
	ps, err := w.svc.ListProfiles(r.Context())
	if err != nil {
		return nil, err
	}
	us, err := w.svc.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	p := &profilesPage{page: page{Title: "Profile Security", Crumbs: staffCrumbs}}
	for _, pr := range ps {
		row := profileRow{Profile: pr}
		for _, f := range pr.Features {
			row.Features = append(row.Features, f.Label())
		}
		for _, u := range us {
			if u.ProfileID == pr.ID {
				row.Users++
			}
		}
		p.Profiles = append(p.Profiles, row)
	}
	return p, nil
}

func (w *Web) listProfiles(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.profilesPage(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "profiles", p)
	return nil
}

// createProfile adds a profile with no features and opens it, so its
// features are ticked on the page every profile is edited on.
func (w *Web) createProfile(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	pr, err := w.svc.CreateProfile(r.Context(), keyward.ProfileCreate{Name: name, Features: []keyward.Feature{}})
	if err != nil {
		fe, status, err := formError(err, "name")
		if err != nil {
			return err
		}
		p, err := w.profilesPage(r)
		if err != nil {
			return err
		}
		p.NewName, p.Errors = name, fe
		w.render(rw, r, status, "profiles", p)
		return nil
	}
	return redirect(rw, r, pathProfiles+"/"+pr.ID, "Profile "+pr.Name+" added. Tick the features it holds.")
}

// profilePage edits one profile's name and features.
type profilePage struct {
	page
	Profile  *keyward.Profile
	Name     string
	Features []checkBox
	Errors   formErrors
}

func (w *Web) profilePage(r *http.Request, pr *keyward.Profile, name string, features []keyward.Feature) *profilePage {
	p := &profilePage{page: page{Title: "Edit Features: " + pr.Name, Crumbs: []string{"Staff", "Profile Security"}}, Profile: pr, Name: name}
	for _, f := range keyward.Features {
		p.Features = append(p.Features, checkBox{Value: string(f), Label: f.Label(), Note: featureNotes[f], Checked: slices.Contains(features, f)})
	}
	return p
}

// featureNotes say what each feature opens, beside its box.
var featureNotes = map[keyward.Feature]string{
	keyward.FeatureAPIManagement: "Settings > Integrations > API Management: create, disable, roll and delete API keys.",
	keyward.FeatureWebhooks:      "Manage webhook endpoints per store.",
	keyward.FeatureConnectors:    "Manage connections to external systems.",
	keyward.FeatureMerchants:     "Manage merchants and their API access.",
	keyward.FeatureUsers:         "Staff > Users and Staff > Profile Security.",
	keyward.FeatureAudit:         "Read the audit log.",
}

func (w *Web) editProfile(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, ""); !ok {
		return err
	}
	pr, err := w.svc.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "profile", w.profilePage(r, pr, pr.Name, pr.Features))
	return nil
}

func (w *Web) saveProfile(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	if ok, err := w.stepUp(rw, r, pathProfiles+"/"+r.PathValue("id")); !ok {
		return err
	}
	pr, err := w.svc.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	var features []keyward.Feature
	for _, f := range r.PostForm["feature"] {
		features = append(features, keyward.Feature(f))
	}
	if features == nil {
		features = []keyward.Feature{}
	}
	saved, err := w.svc.UpdateProfile(r.Context(), pr.ID, keyward.ProfileUpdate{Name: &name, Features: &features})
	if err != nil {
		fe, status, err := formError(err, "name", "features")
		if err != nil {
			return err
		}
		p := w.profilePage(r, pr, name, features)
		p.Errors = fe
		w.render(rw, r, status, "profile", p)
		return nil
	}
	return redirect(rw, r, pathProfiles, "Saved "+saved.Name+". Its users have the new features on their next request; nobody needs to sign in again.")
}
