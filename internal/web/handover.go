package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

// pathHandovers lists the one-time links and makes new ones; the links
// themselves open at service.HandoverPath, without signing in.
const pathHandovers = pathMerchantAPI + "/one-time-links"

var handoverCrumbs = []string{"Settings", "Integrations", "One-time links"}

// handoverTTLs are the lifetimes the form offers, the default first.
var handoverTTLs = []struct{ Value, Label string }{
	{"24h", "24 hours"}, {"1h", "1 hour"}, {"72h", "3 days"}, {"168h", "7 days"},
}

// handoverOffer is what the "Create a one-time link" form of a page
// showing a secret once posts back: the secret stays in the page the
// browser already holds, and is sent only to be sealed.
type handoverOffer struct {
	ID, Kind, SubjectID, Secret string
}

// offer returns the form's data for a secret of kind; its ids start with id.
func offer(id, kind, subjectID, secret string) handoverOffer {
	return handoverOffer{ID: id, Kind: kind, SubjectID: subjectID, Secret: secret}
}

// handoverCreatedPage shows a new link and its code once.
type handoverCreatedPage struct {
	page
	Handover *keyward.Handover
	Subject  string // the subject's page
}

// handoverRow is one link in a list, with where its subject is managed.
type handoverRow struct {
	*keyward.Handover
	Label   string
	Subject string // the subject's page, where its secret is rolled; "" when none
}

// handoversPage lists the tenant's one-time links.
type handoversPage struct {
	page
	State string
	Rows  []handoverRow
}

// handoverOpenPage is the public page of a link: it asks before
// revealing, reveals once, or says why it no longer opens.
type handoverOpenPage struct {
	page
	Handover *keyward.Handover
	Label    string
	Secret   string
	Errors   formErrors
}

var handoverLabels = map[string]string{
	keyward.HandoverKeySecret:       "API key secret",
	keyward.HandoverMerchantAuthKey: "Merchant API Auth Key",
	keyward.HandoverWebhookSecret:   "Webhook signing secret",
	keyward.HandoverKeyRequest:      "API key",
}

// subjectPage is where h's subject is managed and its secret rolled;
// merchants maps merchant users to their merchants, read when first needed.
func (w *Web) subjectPage(r *http.Request, h *keyward.Handover, merchants map[string]string) string {
	switch h.Kind {
	case keyward.HandoverKeySecret:
		return pathKeys + "/" + h.SubjectID + "#roll"
	case keyward.HandoverWebhookSecret:
		return pathWebhooks + "/" + h.SubjectID + "#roll"
	case keyward.HandoverMerchantAuthKey:
		if len(merchants) == 0 {
			if access, err := w.svc.ListMerchantAPIAccess(r.Context()); err == nil {
				for _, a := range access {
					merchants[a.UserID] = a.MerchantID
				}
			}
		}
		if id := merchants[h.SubjectID]; id != "" {
			return pathMerchants + "/" + id
		}
		return pathMerchantAPI
	}
	return ""
}

// createHandover seals the secret a page showed once behind a new link.
func (w *Web) createHandover(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in := keyward.HandoverCreate{
		Kind: r.PostFormValue("kind"), SubjectID: r.PostFormValue("subject_id"),
		RequireCode: r.PostFormValue("require_code") != "", Note: r.PostFormValue("note"),
	}
	if v := r.PostFormValue("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return keyward.Invalid("ttl", "The link’s lifetime %q is not one the form offers.", v)
		}
		in.TTL = d
	}
	h, err := w.svc.CreateHandover(r.Context(), in, r.PostFormValue("secret"))
	if err != nil {
		return err
	}
	if h.URL != "" && h.URL[0] == '/' {
		h.URL = httpx.BaseURL(r) + h.URL
	}
	w.render(rw, r, http.StatusCreated, "handover_created", &handoverCreatedPage{
		page: page{Title: "One-time link created", Crumbs: handoverCrumbs}, Handover: h, Subject: w.subjectPage(r, h, map[string]string{}),
	})
	return nil
}

// listHandovers shows the links the caller's features manage.
func (w *Web) listHandovers(rw http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	hs, err := w.svc.ListHandovers(r.Context(), keyward.HandoverFilter{State: state, Limit: 200})
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "handovers", &handoversPage{
		page: page{Title: "One-time links", Crumbs: handoverCrumbs}, State: state, Rows: w.handoverRows(r, hs),
	})
	return nil
}

func (w *Web) handoverRows(r *http.Request, hs []*keyward.Handover) []handoverRow {
	rows := make([]handoverRow, 0, len(hs))
	merchants := map[string]string{}
	for _, h := range hs {
		rows = append(rows, handoverRow{Handover: h, Label: handoverLabels[h.Kind], Subject: w.subjectPage(r, h, merchants)})
	}
	return rows
}

// subjectHandovers lists the links made for one subject, for its page;
// none when the caller may not see them.
func (w *Web) subjectHandovers(r *http.Request, kind, subjectID string) []handoverRow {
	hs, err := w.svc.ListHandovers(r.Context(), keyward.HandoverFilter{Kind: kind, SubjectID: subjectID, Limit: 20})
	if err != nil {
		return nil
	}
	return w.handoverRows(r, hs)
}

// handoverHeaders keep a link's pages out of caches, referrers and search
// indexes: the path holds the link's token.
func handoverHeaders(rw http.ResponseWriter) {
	h := rw.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

// showHandover asks before revealing: a GET never opens the link, so
// chat tools fetching a preview do not use it up.
func (w *Web) showHandover(rw http.ResponseWriter, r *http.Request) error {
	handoverHeaders(rw)
	h, err := w.svc.PeekHandover(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	w.renderHandover(rw, r, http.StatusOK, &handoverOpenPage{Handover: h})
	return nil
}

// revealHandover opens the link, once.
func (w *Web) revealHandover(rw http.ResponseWriter, r *http.Request) error {
	handoverHeaders(rw)
	if err := parseForm(rw, r); err != nil {
		return err
	}
	secret, h, err := w.svc.OpenHandover(r.Context(), r.PathValue("token"), r.PostFormValue("code"), httpx.ClientAddr(r))
	var e *keyward.Error
	switch {
	case err == nil:
		w.renderHandover(rw, r, http.StatusOK, &handoverOpenPage{Handover: h, Secret: secret})
		return nil
	case h != nil && errors.As(err, &e) && (e.Code == keyward.EInvalid || e.Code == keyward.EConflict):
		status := http.StatusOK
		p := &handoverOpenPage{Handover: h}
		if e.Code == keyward.EInvalid {
			status = http.StatusBadRequest
			p.Errors = formErrors{Fields: map[string]string{"code": e.Message}}
		}
		w.renderHandover(rw, r, status, p)
		return nil
	}
	return err
}

func (w *Web) renderHandover(rw http.ResponseWriter, r *http.Request, status int, p *handoverOpenPage) {
	p.Label = handoverLabels[p.Handover.Kind]
	switch {
	case p.Secret != "":
		p.Title = "Your " + p.Label
	case p.Handover.State == keyward.HandoverOpened:
		p.Title = "This link was already opened"
	case p.Handover.State == keyward.HandoverWaiting:
		p.Title = "A secret was sent to you"
	default:
		p.Title = "This link no longer opens"
	}
	w.render(rw, r, status, "handover_open", p)
}

// handoverPath is where the link with token opens.
var handoverPath = service.HandoverPath + "{token}"
