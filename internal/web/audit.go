package web

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// auditPage is one page of the audit log, newest first: who did what to
// which object, in one line each, with the full change on expand, and
// filters by actor, object and time.
type auditPage struct {
	page
	Filter   auditFilterForm
	Errors   formErrors
	Entries  []auditRow
	OlderURL string
	// NewestURL links back to the newest page, keeping the filters; set
	// on the older pages only.
	NewestURL string
}

// auditFilterForm is the filter as typed.
type auditFilterForm struct {
	Actor, Object, From, To string
}

// Any reports whether a filter is set.
func (f auditFilterForm) Any() bool {
	return f.Actor != "" || f.Object != "" || f.From != "" || f.To != ""
}

type auditRow struct {
	Entry   *keyward.AuditEntry
	Object  string // the object's name, or its kind and id
	Summary string
	Changes []auditChange
}

// auditChange is one changed field, its value written for a person.
type auditChange struct {
	Field string
	Value string
}

// maxChangeText bounds how much of one value the page shows.
const maxChangeText = 2000

// auditPageSize is how many entries one page shows.
const auditPageSize = 50

func (w *Web) listAudit(rw http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := &auditPage{page: page{Title: "Audit log"}, Filter: auditFilterForm{
		Actor: strings.TrimSpace(q.Get("actor")), Object: strings.TrimSpace(q.Get("object")), From: q.Get("from"), To: q.Get("to")}}
	f := service.AuditFilter{Actor: p.Filter.Actor, Object: p.Filter.Object, Limit: auditPageSize}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return keyward.Invalid("before", "The page link is not valid; start again from the newest entries.")
		}
		f.Before = n
		p.NewestURL = pathAudit
		if v := auditQuery(p.Filter); len(v) > 0 {
			p.NewestURL += "?" + v.Encode()
		}
	}
	status := http.StatusOK
	for _, d := range []struct {
		field, value string
		into         *time.Time
		days         int
	}{{"from", p.Filter.From, &f.From, 0}, {"to", p.Filter.To, &f.To, 1}} {
		if d.value == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			p.Errors, status = fieldError(d.field, "Enter a date such as 2026-01-31.")
			break
		}
		*d.into = t.AddDate(0, 0, d.days)
	}
	if !p.Errors.Any() {
		pg, err := w.svc.SearchAudit(r.Context(), f)
		if err != nil {
			fe, st, err := formError(err, "to")
			if err != nil {
				return err
			}
			p.Errors, status = fe, st
		} else {
			for _, e := range pg.Data {
				p.Entries = append(p.Entries, newAuditRow(e))
			}
			if pg.NextCursor != "" {
				q.Set("before", pg.NextCursor)
				p.OlderURL = pathAudit + "?" + q.Encode()
			}
		}
	}
	w.render(rw, r, status, "audit", p)
	return nil
}

// newAuditRow writes an entry for a person: its object by name and a
// one-line summary, with each changed field's value.
func newAuditRow(e service.AuditRow) auditRow {
	row := auditRow{Entry: e.Entry, Object: e.ObjectName}
	if row.Object == "" {
		row.Object = e.Entry.ObjectID
	}
	for _, field := range slices.Sorted(maps.Keys(e.Entry.Changes)) {
		row.Changes = append(row.Changes, auditChange{Field: fieldLabel(field), Value: changeText(e.Entry.Changes[field])})
	}
	row.Summary = auditSummary(e.Entry, row.Object)
	return row
}

// changeText writes a changed value: text as it is, anything else as
// JSON, shortened past maxChangeText.
func changeText(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "none"
	case string:
		s = x
	case bool:
		s = map[bool]string{true: "yes", false: "no"}[x]
	default:
		b, _ := json.MarshalIndent(x, "", "  ")
		s = string(b)
	}
	if len(s) > maxChangeText {
		s = s[:maxChangeText] + "…"
	}
	return s
}

// fieldLabel turns a field such as "api_account_id" into "api account id".
func fieldLabel(f string) string { return strings.ReplaceAll(f, "_", " ") }

// objectKinds names the kinds of object for a person.
var objectKinds = map[string]string{
	"key": "API key", "merchant_user": "merchant user", "profile": "security profile", "store": "store",
	"token": "personal access token", "user": "user", "merchant": "merchant", "webhook": "webhook",
	"tenant": "tenant", "licence": "licence", "connector": "connector",
}

// auditVerbs says what an action did, by its last part.
var auditVerbs = map[string]string{
	"create": "created", "update": "changed", "delete": "deleted", "enable": "enabled", "disable": "disabled",
	"roll": "rolled a secret of", "regenerate_key": "generated a new API Auth Key for", "set_password": "set the portal password of",
	"password_reset": "reset the password of", "totp_reset": "reset two-factor sign-in of", "replay": "replayed a delivery of",
	"test": "sent a test event to", "roll_secret": "rolled the signing secret of", "auto_disable": "switched off after failures:",
	"grant": "granted a licence to", "revoke": "revoked the licence of",
	"resend_secrets": "sent stored secrets to a new destination of",
}

// selfActions are what a person does to their own account.
var selfActions = map[string]string{
	"sign_in": "signed in", "sign_out": "signed out", "sign_out_everywhere": "signed out everywhere",
	"totp_enable": "turned two-factor sign-in on", "totp_disable": "turned two-factor sign-in off",
	"step_up": "confirmed their password", "sign_in_link": "signed in with a sign-in link",
	"recovery_code_use": "used a recovery code", "recovery_codes_regenerate": "made new recovery codes",
	"password_change": "changed their password",
}

// auditSummary is one line saying what an entry records.
func auditSummary(e *keyward.AuditEntry, object string) string {
	_, verb, _ := strings.Cut(e.Action, ".")
	if s, ok := selfActions[verb]; ok && (e.ActorID == e.ObjectID || e.ObjectType == "user" || e.ObjectType == "merchant_user") {
		if e.ActorID == e.ObjectID {
			return s
		}
		return s + ": " + object
	}
	kind := objectKinds[e.ObjectType]
	if kind == "" {
		kind = fieldLabel(e.ObjectType)
	}
	v := auditVerbs[verb]
	if v == "" {
		v = fieldLabel(verb)
	}
	s := v + " " + kind + " " + object
	if verb == "update" && len(e.Changes) > 0 {
		var fs []string
		for _, f := range slices.Sorted(maps.Keys(e.Changes)) {
			fs = append(fs, fieldLabel(f))
		}
		s += ": " + strings.Join(fs, ", ")
	}
	return s
}

// auditQuery keeps the filters in links.
func auditQuery(f auditFilterForm) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"actor": f.Actor, "object": f.Object, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}
