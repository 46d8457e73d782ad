package web

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
)

// usersPage lists staff users; each row changes the user's profile or
// activates or deactivates the user.
type usersPage struct {
	page
	Users    []userRow
	Profiles []*keyward.Profile
}

type userRow struct {
	User    *keyward.User
	Profile string
	Self    bool
	Errors  formErrors
}

func (w *Web) usersPage(r *http.Request) (*usersPage, error) {
	us, err := w.svc.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	ps, err := w.svc.ListProfiles(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	me := keyward.ActorFrom(r.Context())
	p := &usersPage{page: page{Title: "Users", Crumbs: staffCrumbs}, Profiles: ps}
	for _, u := range us {
		p.Users = append(p.Users, userRow{User: u, Profile: names[u.ProfileID], Self: me != nil && me.UserID == u.ID})
	}
	return p, nil
}

func (w *Web) listUsers(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.usersPage(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "users", p)
	return nil
}

// rowError draws the list again with a refusal beside the row's field.
func (w *Web) rowError(rw http.ResponseWriter, r *http.Request, id string, err error, fields ...string) error {
	fe, status, err := formError(err, fields...)
	if err != nil {
		return err
	}
	p, err := w.usersPage(r)
	if err != nil {
		return err
	}
	for i := range p.Users {
		if p.Users[i].User.ID == id {
			p.Users[i].Errors = fe
		}
	}
	w.render(rw, r, status, "users", p)
	return nil
}

func (w *Web) setUserProfile(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	profile := r.PostFormValue("profile_id")
	u, err := w.svc.UpdateUser(r.Context(), id, keyward.UserUpdate{ProfileID: &profile})
	if err != nil {
		return w.rowError(rw, r, id, err, "profile_id")
	}
	return redirect(rw, r, pathUsers, u.Email+" now has the profile you chose, from their next request on.")
}

func (w *Web) setUserActive(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	on := r.PostFormValue("active") == "true"
	u, err := w.svc.UpdateUser(r.Context(), id, keyward.UserUpdate{Active: &on})
	if err != nil {
		return w.rowError(rw, r, id, err, "active")
	}
	msg := u.Email + " is deactivated and signed out everywhere."
	if on {
		msg = u.Email + " is active again."
	}
	return redirect(rw, r, pathUsers, msg)
}

// userForm adds a user; userCreatedPage shows the generated password once.
type userForm struct {
	page
	Email     string
	Name      string
	ProfileID string
	Profiles  []*keyward.Profile
	Errors    formErrors
}

type userCreatedPage struct {
	page
	User     *keyward.User
	Password string
}

func (w *Web) userForm(r *http.Request, f *userForm) (*userForm, error) {
	ps, err := w.svc.ListProfiles(r.Context())
	if err != nil {
		return nil, err
	}
	f.page = page{Title: "Add a user", Crumbs: []string{"Staff", "Users"}}
	f.Profiles = ps
	return f, nil
}

func (w *Web) newUser(rw http.ResponseWriter, r *http.Request) error {
	f, err := w.userForm(r, &userForm{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "user_new", f)
	return nil
}

func (w *Web) createUser(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in := keyward.UserCreate{
		Email:     strings.TrimSpace(r.PostFormValue("email")),
		Name:      strings.TrimSpace(r.PostFormValue("name")),
		ProfileID: r.PostFormValue("profile_id"),
	}
	u, password, err := w.svc.CreateUser(r.Context(), in)
	if err != nil {
		fe, status, err := formError(err, "email", "name", "profile_id")
		if err != nil {
			return err
		}
		f, err := w.userForm(r, &userForm{Email: in.Email, Name: in.Name, ProfileID: in.ProfileID, Errors: fe})
		if err != nil {
			return err
		}
		w.render(rw, r, status, "user_new", f)
		return nil
	}
	w.render(rw, r, http.StatusCreated, "user_created", &userCreatedPage{
		page: page{Title: "User added", Crumbs: []string{"Staff", "Users"}}, User: u, Password: password,
	})
	return nil
}
