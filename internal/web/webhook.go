package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
)

// Integrations > API > Manage Webhooks: the URLs, chosen per store, that
// receive keyward's signed events. Only users whose profile holds the
// Webhooks feature open these pages; merchant users never do.
//
// A signing secret is shown once, in the answer that makes it (adding an
// endpoint or rolling its secret), after a recent password check, as a
// key's secrets are.

// pathWebhooks is the page of Integrations > API > Manage Webhooks.
const pathWebhooks = pathMerchantAPI + "/webhooks"

// storesKeep is the store choice that leaves an endpoint's several stores,
// chosen through the REST API, as they are.
const storesKeep = "keep"

// How many deliveries (a page of them) and attempts an endpoint's page
// shows, and how much of a response each attempt shows before the rest is
// left to its tooltip.
const (
	deliveriesPage = 10
	attemptsShown  = 15
	responseShown  = 80
)

// sinceLayout is how the replay form writes a time (UTC), as a
// datetime-local input sends it.
const sinceLayout = "2006-01-02T15:04"

// webhookCrumbs place the list; webhookPageCrumbs the pages under it.
var (
	webhookCrumbs     = []string{"Settings", "Integrations", "API"}
	webhookPageCrumbs = []string{"Settings", "Integrations", "API", "Manage Webhooks"}
)

// webhookForm is the endpoint form as typed.
type webhookForm struct {
	URL         string
	Description string
	// Store is "" for all stores, a store's id, or storesKeep.
	Store   string
	Events  []string
	Enabled bool
}

func webhookFormOf(wh *keyward.WebhookEndpoint) webhookForm {
	f := webhookForm{URL: wh.URL, Description: wh.Description, Events: wh.Events, Enabled: wh.Enabled}
	switch {
	case wh.Stores.Access != keyward.StoresSelected:
	case len(wh.Stores.IDs) == 1:
		f.Store = wh.Stores.IDs[0]
	default:
		f.Store = storesKeep
	}
	return f
}

func readWebhookForm(r *http.Request) webhookForm {
	return webhookForm{
		URL:         strings.TrimSpace(r.PostFormValue("url")),
		Description: strings.TrimSpace(r.PostFormValue("description")),
		Store:       r.PostFormValue("store"),
		Events:      r.PostForm["event"],
		Enabled:     r.PostFormValue("enabled") == "true",
	}
}

// stores is the store choice for the service; nil keeps what the endpoint
// has.
func (f webhookForm) stores() *keyward.StoreAccess {
	switch f.Store {
	case "":
		return &keyward.StoreAccess{Access: keyward.StoresAll}
	case storesKeep:
		return nil
	}
	return &keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{f.Store}}
}

// webhookFormPage adds or edits an endpoint.
type webhookFormPage struct {
	page
	Endpoint *keyward.WebhookEndpoint // nil when adding
	Action   string
	Form     webhookForm
	Stores   []storeOption
	All      bool // "*": every event, types added later included
	Events   []eventGroup
	Errors   formErrors
}

type storeOption struct {
	Value, Label string
	Selected     bool
}

type eventGroup struct {
	Title  string
	Events []checkBox
}

// webhookFields are the form's fields the service may name in an error.
var webhookFields = []string{"url", "stores", "events", "description"}

func (w *Web) webhookFormPage(r *http.Request, wh *keyward.WebhookEndpoint, f webhookForm) (*webhookFormPage, error) {
	p := &webhookFormPage{page: page{Title: "Add a webhook endpoint", Crumbs: webhookPageCrumbs}, Endpoint: wh, Action: pathWebhooks, Form: f}
	if wh != nil {
		p.Title, p.Action = "Edit "+wh.URL, pathWebhooks+"/"+wh.ID+"/edit"
	}
	stores, err := w.svc.ListStores(r.Context())
	if err != nil {
		return nil, err
	}
	names := storeNamesByID(stores)
	p.Stores = append(p.Stores, storeOption{Value: "", Label: "All stores", Selected: f.Store == ""})
	if wh != nil && wh.Stores.Access == keyward.StoresSelected && len(wh.Stores.IDs) > 1 {
		p.Stores = append(p.Stores, storeOption{Value: storesKeep, Label: "Keep its stores: " + endpointStores(wh.Stores, names), Selected: f.Store == storesKeep})
	}
	for _, st := range stores {
		selected := f.Store == st.ID || f.Store == st.Code
		if !st.Active && !selected {
			continue // a deactivated store is offered only to endpoints that keep it
		}
		p.Stores = append(p.Stores, storeOption{Value: st.ID, Label: st.Name + " (" + storeNote(st) + ")", Selected: selected})
	}
	p.All = slices.Contains(f.Events, "*")
	known := map[string]bool{"*": true}
	groups := map[string]*eventGroup{
		"keyward":  {Title: "keyward events"},
		"platform": {Title: "Platform events (sent in through POST /v1/events)"},
	}
	for _, t := range w.svc.EventTypes() {
		known[t.Type] = true
		if t.Type == "webhook.test" {
			continue // sent by "Send test event" whatever the endpoint subscribes to
		}
		g := groups[t.Source]
		if g == nil {
			g = groups["platform"]
		}
		g.Events = append(g.Events, checkBox{Value: t.Type, Label: t.Type, Note: t.Description, Checked: slices.Contains(f.Events, t.Type)})
	}
	// Families such as "key.*", subscribed through the REST API, stay
	// ticked so that saving the form keeps them.
	var other eventGroup
	for _, e := range f.Events {
		if !known[e] && strings.HasSuffix(e, ".*") {
			other.Events = append(other.Events, checkBox{Value: e, Label: e, Note: "Every event whose type starts with " + strings.TrimSuffix(e, "*") + ".", Checked: true})
		}
	}
	if len(other.Events) > 0 {
		other.Title = "Families of events"
		p.Events = append(p.Events, other)
	}
	for _, src := range []string{"keyward", "platform"} {
		if g := groups[src]; len(g.Events) > 0 {
			p.Events = append(p.Events, *g)
		}
	}
	return p, nil
}

// storeNamesByID maps store ids to names.
func storeNamesByID(stores []*keyward.Store) map[string]string {
	names := map[string]string{}
	for _, st := range stores {
		names[st.ID] = st.Name
	}
	return names
}

// endpointStores names an endpoint's stores for a person.
func endpointStores(sa keyward.StoreAccess, names map[string]string) string {
	if sa.Access != keyward.StoresSelected {
		return "All stores"
	}
	var out []string
	for _, id := range sa.IDs {
		if n, ok := names[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, id)
		}
	}
	return strings.Join(out, ", ")
}

// webhooksPage lists the endpoints, optionally those receiving one
// store's events.
type webhooksPage struct {
	page
	Store  string // the store filter, by code
	Stores []*keyward.Store
	Rows   []webhookRow
	Errors formErrors
}

type webhookRow struct {
	Endpoint *keyward.WebhookEndpoint
	Stores   string
	Events   string
	Rate     successRate
}

func endpointEvents(events []string) string {
	if slices.Contains(events, "*") {
		return "Every event"
	}
	return strings.Join(events, ", ")
}

func (w *Web) listWebhooks(rw http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	stores, err := w.svc.ListStores(ctx)
	if err != nil {
		return err
	}
	p := &webhooksPage{page: page{Title: "Manage Webhooks", Crumbs: webhookCrumbs}, Store: r.URL.Query().Get("store"), Stores: stores}
	status := http.StatusOK
	whs, err := w.svc.ListWebhooks(ctx, p.Store)
	if err != nil {
		if p.Errors, status, err = formError(err, "store"); err != nil {
			return err
		}
	}
	names := storeNamesByID(stores)
	for _, wh := range whs {
		st, err := w.svc.WebhookStats(ctx, wh.ID)
		if err != nil {
			return err
		}
		p.Rows = append(p.Rows, webhookRow{Endpoint: wh, Stores: endpointStores(wh.Stores, names), Events: endpointEvents(wh.Events), Rate: newSuccessRate(st)})
	}
	w.render(rw, r, status, "webhooks", p)
	return nil
}

func (w *Web) newWebhook(rw http.ResponseWriter, r *http.Request) error {
	if ok, err := w.stepUp(rw, r, ""); !ok {
		return err
	}
	f := webhookForm{Enabled: true, Store: r.URL.Query().Get("store")}
	p, err := w.webhookFormPage(r, nil, f)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "webhook_form", p)
	return nil
}

// createWebhook adds the endpoint and shows its signing secret in this
// answer, the only time it is shown: it never travels in a redirect.
func (w *Web) createWebhook(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	if ok, err := w.stepUp(rw, r, pathWebhooks+"/new"); !ok {
		return err
	}
	f := readWebhookForm(r)
	if f.Store == storesKeep {
		f.Store = ""
	}
	wh, err := w.svc.CreateWebhook(r.Context(), keyward.WebhookCreate{
		URL: f.URL, Description: f.Description, Stores: f.stores(), Events: f.Events, Enabled: &f.Enabled,
	})
	if err != nil {
		return w.refuseWebhookForm(rw, r, nil, f, err)
	}
	w.render(rw, r, http.StatusCreated, "webhook_secret", &webhookSecretPage{
		page: page{Title: "Webhook endpoint added", Crumbs: webhookPageCrumbs}, Endpoint: wh,
	})
	return nil
}

func (w *Web) refuseWebhookForm(rw http.ResponseWriter, r *http.Request, wh *keyward.WebhookEndpoint, f webhookForm, err error) error {
	fe, status, err := formError(err, webhookFields...)
	if err != nil {
		return err
	}
	p, err := w.webhookFormPage(r, wh, f)
	if err != nil {
		return err
	}
	p.Errors = fe
	w.render(rw, r, status, "webhook_form", p)
	return nil
}

func (w *Web) editWebhook(rw http.ResponseWriter, r *http.Request) error {
	wh, err := w.svc.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := w.webhookFormPage(r, wh, webhookFormOf(wh))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "webhook_form", p)
	return nil
}

func (w *Web) updateWebhook(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	wh, err := w.svc.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := readWebhookForm(r)
	events := f.Events
	if events == nil {
		events = []string{}
	}
	wh2, err := w.svc.UpdateWebhook(r.Context(), wh.ID, keyward.WebhookUpdate{
		URL: &f.URL, Description: &f.Description, Stores: f.stores(), Events: &events, Enabled: &f.Enabled,
	})
	if err != nil {
		return w.refuseWebhookForm(rw, r, wh, f, err)
	}
	return redirect(rw, r, pathWebhooks+"/"+wh2.ID, "Saved "+wh2.URL+". The change applies to the next event.")
}

// webhookSecretPage shows an endpoint's new signing secret once.
type webhookSecretPage struct {
	page
	Endpoint *keyward.WebhookEndpoint
	Rolled   bool
}

// webhookPage shows one endpoint: its settings, success rate, deliveries
// and delivery log, and the forms acting on it.
type webhookPage struct {
	page
	Endpoint   *keyward.WebhookEndpoint
	Stores     string
	Events     string
	Rate       successRate
	Status     string // the deliveries filter
	Deliveries []*keyward.WebhookDelivery
	Older      string // the next page of deliveries, or ""
	Paged      bool   // the deliveries shown are not the newest
	Delivery   string // the delivery whose attempts the log shows, or ""
	Attempts   []attemptRow
	Overlap    string
	Since      string // the replay form's time as typed
	SinceHint  string // a day ago, in the form's layout
	Errors     formErrors
	Handovers  []handoverRow
}

func (w *Web) webhookPage(r *http.Request, id string) (*webhookPage, error) {
	ctx := r.Context()
	wh, err := w.svc.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	p := &webhookPage{
		page:     page{Title: wh.URL, Crumbs: webhookPageCrumbs},
		Endpoint: wh, Events: endpointEvents(wh.Events), Status: q.Get("status"), Delivery: q.Get("delivery"),
		Overlap: "24h", SinceHint: w.svc.Now().Add(-24 * time.Hour).UTC().Format(sinceLayout),
	}
	p.Since = p.SinceHint
	p.Handovers = w.subjectHandovers(r, keyward.HandoverWebhookSecret, wh.ID)
	stores, err := w.svc.ListStores(ctx)
	if err != nil {
		return nil, err
	}
	p.Stores = endpointStores(wh.Stores, storeNamesByID(stores))
	st, err := w.svc.WebhookStats(ctx, wh.ID)
	if err != nil {
		return nil, err
	}
	p.Rate = newSuccessRate(st)
	if p.Status != keyward.DeliveryPending && p.Status != keyward.DeliverySucceeded && p.Status != keyward.DeliveryFailed {
		p.Status = ""
	}
	f := service.DeliveryFilter{Status: p.Status, Limit: deliveriesPage}
	if b, err := time.Parse(time.RFC3339Nano, q.Get("before")); err == nil {
		f.Before, p.Paged = b, true
	}
	deliveries, err := w.svc.ListDeliveries(ctx, wh.ID, f)
	if err != nil {
		return nil, err
	}
	p.Deliveries = deliveries.Data
	if n := len(p.Deliveries); n == deliveriesPage {
		v := url.Values{"before": {p.Deliveries[n-1].CreatedAt.UTC().Format(time.RFC3339Nano)}}
		if p.Status != "" {
			v.Set("status", p.Status)
		}
		p.Older = pathWebhooks + "/" + wh.ID + "?" + v.Encode() + "#deliveries"
	}
	attempts, err := w.svc.ListAttempts(ctx, wh.ID, service.AttemptFilter{Delivery: p.Delivery, Limit: attemptsShown})
	if err != nil {
		return nil, err
	}
	for _, a := range attempts.Data {
		row := attemptRow{WebhookAttempt: a, Response: a.Response}
		if r := []rune(a.Response); len(r) > responseShown {
			row.Response = string(r[:responseShown]) + "…"
		}
		p.Attempts = append(p.Attempts, row)
	}
	return p, nil
}

// attemptRow is an attempt as the delivery log shows it: Response is the
// start of the response excerpt.
type attemptRow struct {
	*keyward.WebhookAttempt
	Response string
}

func (w *Web) showWebhook(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.webhookPage(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "webhook", p)
	return nil
}

// setWebhookEnabled enables or disables an endpoint at once.
func (w *Web) setWebhookEnabled(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	on := r.PostFormValue("enabled") == "true"
	wh, err := w.svc.UpdateWebhook(r.Context(), r.PathValue("id"), keyward.WebhookUpdate{Enabled: &on})
	if err != nil {
		return err
	}
	msg := wh.URL + " is disabled: it receives no events until it is enabled."
	if on {
		msg = wh.URL + " is enabled: it receives events from now on."
	}
	return redirect(rw, r, backTo(r.PostFormValue("back"), pathWebhooks), msg)
}

// sendTestEvent queues a webhook.test event for the endpoint.
func (w *Web) sendTestEvent(rw http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	d, err := w.svc.SendTestEvent(r.Context(), id)
	if keyward.ErrorCode(err) == keyward.EConflict {
		return redirect(rw, r, pathWebhooks+"/"+id, keyward.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	msg := "A test event is on its way."
	if d != nil {
		msg = "Test event " + d.EventID + " is on its way; reload the page to see its delivery."
	}
	return redirect(rw, r, pathWebhooks+"/"+id+"#deliveries", msg)
}

// replayWebhook sends one delivery again, or every failed one since a
// time.
func (w *Web) replayWebhook(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	delivery := r.PostFormValue("delivery")
	var since time.Time
	if delivery == "" {
		raw := strings.TrimSpace(r.PostFormValue("since"))
		t, err := time.ParseInLocation(sinceLayout, raw, time.UTC)
		if err != nil {
			t, err = time.Parse(time.RFC3339, raw)
		}
		if err != nil {
			p, perr := w.webhookPage(r, id)
			if perr != nil {
				return perr
			}
			p.Since = raw
			var status int
			p.Errors, status = fieldError("since", "Give a time in UTC, such as "+w.svc.Now().UTC().Format(sinceLayout)+".")
			w.render(rw, r, status, "webhook", p)
			return nil
		}
		since = t
	}
	n, err := w.svc.Replay(r.Context(), id, delivery, since)
	if err != nil {
		return err
	}
	var msg string
	switch {
	case delivery != "":
		msg = "Delivery " + delivery + " is sent again, with the same webhook-id."
	case n == 0:
		msg = "No failed delivery since " + when(since) + ": nothing to send again."
	default:
		msg = fmt.Sprintf("%d failed deliveries since %s are sent again.", n, when(since))
		if n == 1 {
			msg = "1 failed delivery since " + when(since) + " is sent again."
		}
	}
	return redirect(rw, r, pathWebhooks+"/"+id+"#deliveries", msg)
}

// rollWebhookSecret gives the endpoint a new signing secret and shows it
// in this answer, once. The old secret keeps signing for the overlap.
func (w *Web) rollWebhookSecret(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if ok, err := w.stepUp(rw, r, pathWebhooks+"/"+id); !ok {
		return err
	}
	overlap := strings.TrimSpace(r.PostFormValue("overlap"))
	wh, err := w.svc.RollWebhookSecret(r.Context(), id, keyward.WebhookRoll{Overlap: overlap})
	if err != nil {
		fe, status, err := formError(err, "overlap")
		if err != nil {
			return err
		}
		p, err := w.webhookPage(r, id)
		if err != nil {
			return err
		}
		p.Overlap, p.Errors = overlap, fe
		w.render(rw, r, status, "webhook", p)
		return nil
	}
	w.render(rw, r, http.StatusOK, "webhook_secret", &webhookSecretPage{
		page: page{Title: "New signing secret", Crumbs: webhookPageCrumbs}, Endpoint: wh, Rolled: true,
	})
	return nil
}

// webhookDeletePage asks before an endpoint is deleted.
type webhookDeletePage struct {
	page
	Endpoint *keyward.WebhookEndpoint
}

func (w *Web) confirmDeleteWebhook(rw http.ResponseWriter, r *http.Request) error {
	wh, err := w.svc.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "webhook_delete", &webhookDeletePage{page: page{Title: "Delete this webhook endpoint?", Crumbs: webhookPageCrumbs}, Endpoint: wh})
	return nil
}

func (w *Web) deleteWebhook(rw http.ResponseWriter, r *http.Request) error {
	wh, err := w.svc.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := w.svc.DeleteWebhook(r.Context(), wh.ID); err != nil {
		return err
	}
	return redirect(rw, r, pathWebhooks, wh.URL+" is deleted with its delivery log; it receives no more events.")
}

// successRate is an endpoint's share of successful attempts per hour over
// the last day, drawn as a small inline SVG line: hours without attempts
// leave a gap, and an hour alone between gaps is a dot.
type successRate struct {
	Width, Height int
	Full, Base    int      // the y of 100% and of 0%
	Lines         []string // polyline points, one per run of hours with attempts
	Dots          []ratePoint
	Attempts      int
	Succeeded     int
	Percent       int // of all attempts in the day; meaningful when Attempts > 0
	From          time.Time
}

type ratePoint struct{ X, Y int }

const (
	rateWidth  = 240
	rateHeight = 40
	ratePad    = 3
)

func newSuccessRate(st *service.WebhookStats) successRate {
	s := successRate{Width: rateWidth, Height: rateHeight, Full: ratePad, Base: rateHeight - ratePad, From: st.Since}
	n := len(st.Attempts)
	var run []ratePoint
	flush := func() {
		switch len(run) {
		case 0:
		case 1:
			s.Dots = append(s.Dots, run[0])
		default:
			pts := make([]string, len(run))
			for i, p := range run {
				pts[i] = strconv.Itoa(p.X) + "," + strconv.Itoa(p.Y)
			}
			s.Lines = append(s.Lines, strings.Join(pts, " "))
		}
		run = nil
	}
	for i, total := range st.Attempts {
		ok := 0
		if i < len(st.Succeeded) {
			ok = st.Succeeded[i]
		}
		s.Attempts += total
		s.Succeeded += ok
		if total == 0 {
			flush()
			continue
		}
		x := ratePad
		if n > 1 {
			x += i * (rateWidth - 2*ratePad) / (n - 1)
		}
		y := ratePad + (total-ok)*(rateHeight-2*ratePad)/total
		run = append(run, ratePoint{X: x, Y: y})
	}
	flush()
	if s.Attempts > 0 {
		s.Percent = s.Succeeded * 100 / s.Attempts
	}
	return s
}
