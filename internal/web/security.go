package web

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// Paths of the password check before sensitive actions, recovery codes,
// ending every session and the audit log's export.
const (
	pathStepUp        = "/account/confirm"
	pathRecovery      = "/signin/recovery"
	pathRecoveryCodes = pathAccount + "/recovery-codes"
	pathSignOutAll    = pathAccount + "/sign-out-everywhere"
	pathAuditExport   = pathAudit + "/export.csv"
)

// renewing gives the browser a new session id before a private page runs
// when the service says the session needs one (its user's profile or
// features changed, or their password or second factor did), and lets
// the page see the new id.
func (w *Web) renewing(rt route, h http.Handler) http.Handler {
	if rt.public {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		token := sessionToken(r)
		if token != "" {
			renewed, err := w.svc.RenewSession(r.Context(), token)
			if err != nil {
				w.fail(rw, r, err)
				return
			}
			if renewed != "" {
				setSessionCookie(rw, r, renewed)
				r = withSessionCookie(r, renewed)
			}
		}
		h.ServeHTTP(rw, r)
	})
}

// withSessionCookie returns r carrying token as its session cookie.
func withSessionCookie(r *http.Request, token string) *http.Request {
	r = r.Clone(r.Context())
	name := sessionCookieName(r)
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != name {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	r.AddCookie(&http.Cookie{Name: name, Value: token})
	return r
}

// renewNow gives the browser its session's new id at once, after a change
// the service marked the session for (password, second factor, a password
// check).
func (w *Web) renewNow(rw http.ResponseWriter, r *http.Request) error {
	renewed, err := w.svc.RenewSession(r.Context(), sessionToken(r))
	if err != nil || renewed == "" {
		return err
	}
	setSessionCookie(rw, r, renewed)
	return nil
}

// stepUp reports whether the caller proved their password recently enough
// (service.StepUpWindow) for a sensitive action. When not, it sends the
// browser to confirm it, then back to back (the page itself for a GET),
// and returns false: the handler returns err at once.
func (w *Web) stepUp(rw http.ResponseWriter, r *http.Request, back string) (ok bool, err error) {
	need, err := w.svc.StepUpNeeded(r.Context())
	if err != nil || !need {
		return err == nil, err
	}
	if r.Method == http.MethodGet || back == "" {
		back = r.URL.RequestURI()
	} else {
		setFlash(rw, r, "Confirm your password, then submit the form again.")
	}
	http.Redirect(rw, r, pathStepUp+"?next="+url.QueryEscape(localPath(back)), http.StatusSeeOther)
	return false, nil
}

// stepUpPage asks for the password, and the TOTP code when it is on,
// before a sensitive action.
type stepUpPage struct {
	page
	TOTP   bool
	Next   string
	Errors formErrors
}

func (w *Web) stepUpPage(r *http.Request, next string, fe formErrors) (*stepUpPage, error) {
	on, err := w.svc.TOTPEnabled(r.Context())
	if err != nil {
		return nil, err
	}
	return &stepUpPage{page: page{Title: "Confirm it is you", Crumbs: []string{"Account"}}, TOTP: on, Next: localPath(next), Errors: fe}, nil
}

func (w *Web) stepUpForm(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.stepUpPage(r, r.URL.Query().Get("next"), formErrors{})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "stepup", p)
	return nil
}

func (w *Web) confirmStepUp(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	next := r.PostFormValue("next")
	err := w.svc.StepUp(r.Context(), r.PostFormValue("password"), r.PostFormValue("code"))
	if err == nil {
		if err := w.renewNow(rw, r); err != nil {
			return err
		}
		http.Redirect(rw, r, localPath(next), http.StatusSeeOther)
		return nil
	}
	fe, status, err := formError(err, "password", "code")
	if err != nil {
		return err
	}
	p, err := w.stepUpPage(r, next, fe)
	if err != nil {
		return err
	}
	w.render(rw, r, status, "stepup", p)
	return nil
}

// recoveryCodesPage shows new recovery codes once.
type recoveryCodesPage struct {
	page
	Codes []string
}

func (w *Web) showRecoveryCodes(rw http.ResponseWriter, r *http.Request, codes []string) {
	w.render(rw, r, http.StatusOK, "recovery_codes", &recoveryCodesPage{page: page{Title: "Your recovery codes", Crumbs: []string{"Account"}}, Codes: codes})
}

func (w *Web) regenerateRecoveryCodes(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, pathAccount); !ok {
		return err
	}
	codes, err := w.svc.RegenerateRecoveryCodes(r.Context())
	if err != nil {
		return err
	}
	w.showRecoveryCodes(rw, r, codes)
	return nil
}

func (w *Web) signOutEverywhere(rw http.ResponseWriter, r *http.Request) error {
	if err := w.svc.SignOutEverywhere(r.Context()); err != nil {
		return err
	}
	clearSessionCookie(rw, r)
	return redirect(rw, r, pathSignIn, "You have signed out everywhere: every session of yours has ended.")
}

func (w *Web) recoveryForm(rw http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(cookiePending); err != nil || c.Value == "" {
		return redirect(rw, r, pathSignIn, "")
	}
	w.render(rw, r, http.StatusOK, "signin_recovery", &signInPage{page: page{Title: "Sign in with a recovery code"}, Next: localPath(r.URL.Query().Get("next"))})
	return nil
}

func (w *Web) recovery(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	p := &signInPage{page: page{Title: "Sign in with a recovery code"}, Next: localPath(r.PostFormValue("next"))}
	pending := ""
	if c, err := r.Cookie(cookiePending); err == nil {
		pending = c.Value
	}
	_, token, left, err := w.svc.SignInRecoveryCode(r.Context(), pending, r.PostFormValue("recovery_code"), httpx.ClientAddr(r))
	if keyward.ErrorCode(err) == keyward.EUnauthenticated {
		setPending(rw, r, "", -1)
		return redirect(rw, r, pathSignIn, keyward.ErrorMessage(err))
	}
	if err != nil {
		fe, status, err := formError(err, "recovery_code")
		if err != nil {
			return err
		}
		p.Errors = fe
		w.render(rw, r, status, "signin_recovery", p)
		return nil
	}
	setPending(rw, r, "", -1)
	setSessionCookie(rw, r, token)
	msg := "You signed in with a recovery code, which now no longer works. " + strconv.Itoa(left) + " recovery codes remain."
	if left <= 3 {
		msg += " Make new ones under your name > Account."
	}
	return redirect(rw, r, p.Next, msg)
}

func (w *Web) resetUserTOTP(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, pathUsers); !ok {
		return err
	}
	u, err := w.svc.ResetTOTP(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return redirect(rw, r, pathUsers, "Two-factor sign-in of "+u.Email+" is off and their sessions have ended; they can turn it on again under Account.")
}

// exportAudit writes the tenant's audit log between two dates as CSV,
// with each entry's hash and the hash it links to, for a SIEM; "verified"
// is "false" for entries verification does not vouch for.
func (w *Web) exportAudit(rw http.ResponseWriter, r *http.Request) error {
	from, err := dateParam(r, "from")
	if err != nil {
		return err
	}
	to, err := dateParam(r, "to")
	if err != nil {
		return err
	}
	if !to.IsZero() {
		to = to.Add(24 * time.Hour) // the whole of the last day
	}
	var buf strings.Builder
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"seq", "at", "actor", "actor_id", "action", "object_type", "object_id", "address", "changes", "prev_hash", "hash", "verified"})
	err = w.svc.ExportAudit(r.Context(), from, to, func(e *service.AuditRecord) error {
		changes := ""
		if len(e.Changes) > 0 {
			b, _ := json.Marshal(e.Changes)
			changes = string(b)
		}
		return cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339Nano), csvCell(e.Actor), e.ActorID, e.Action,
			e.ObjectType, e.ObjectID, e.Address, csvCell(changes), e.PrevHash, e.Hash, strconv.FormatBool(!e.Unverified)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
	_, err = rw.Write([]byte(buf.String()))
	return err
}

// csvCell keeps a spreadsheet from reading a cell as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// dateParam reads an optional YYYY-MM-DD query parameter as UTC midnight.
func dateParam(r *http.Request, name string) (time.Time, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, keyward.Invalid(name, "Give the date as YYYY-MM-DD.")
	}
	return t, nil
}
