package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
)

func (a *API) listProfiles(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.svc.ListProfiles(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": ps})
	return nil
}

func (a *API) createProfile(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ProfileCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	p, err := a.svc.CreateProfile(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, p)
	return nil
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) error {
	p, err := a.svc.Profile(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) updateProfile(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ProfileUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	p, err := a.svc.UpdateProfile(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) deleteProfile(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteProfile(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.svc.ListUsers(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": us})
	return nil
}

// userCreated is the answer to a user creation; the generated password
// appears here once and nowhere else.
type userCreated struct {
	*keyward.User
	Password string `json:"password,omitempty"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.UserCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	u, pw, err := a.svc.CreateUser(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, userCreated{u, pw})
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.UserUpdate
	if err := httpx.DecodePatch(w, r, &in); err != nil {
		return err
	}
	u, err := a.svc.UpdateUser(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, u)
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.ListTokens(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"data": ts})
	return nil
}

// tokenCreated is the answer to a token creation; the token appears here
// once and nowhere else.
type tokenCreated struct {
	*keyward.Token
	Secret string `json:"token"`
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var in keyward.TokenCreate
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	t, secret, err := a.svc.CreateToken(r.Context(), "", in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, tokenCreated{t, secret})
	return nil
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	// The cursor is opaque to clients; it happens to be a sequence number.
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return keyward.Invalid("cursor", "cursor must be the next_cursor of a previous page, as it was given")
		}
		before = n
	}
	limit, err := intQuery(r, "limit")
	if err != nil {
		return err
	}
	p, err := a.svc.ListAudit(r.Context(), before, int(limit))
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}
