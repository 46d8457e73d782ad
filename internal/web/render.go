package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/service"
)

//go:embed templates static
var files embed.FS

// page is what every page shows around its content. Each page's data
// struct embeds it.
type page struct {
	Title  string
	Crumbs []string // where the page sits in the menu, e.g. Settings, Integrations
	Actor  *keyward.Actor
	Menu   []menuSection
	Flash  string
}

func (p *page) base() *page { return p }

// pager is a page's data struct.
type pager interface{ base() *page }

// errorPage answers what a handler could not show beside a field.
type errorPage struct {
	page
	Status  int
	Message string
	Feature string // the missing feature's label, for feature_required
}

// menuSection is a heading of the menu and the entries under it.
type menuSection struct {
	Title string
	Group string
	Items []menuItem
}

type menuItem struct {
	Label   string
	Path    string
	Current bool
	feature keyward.Feature
}

// menuFor returns the menu entries a's profile allows; the others are left
// out. current is the path of the page shown.
func menuFor(a *keyward.Actor, current string) []menuSection {
	all := []menuSection{
		{Title: "Settings", Items: []menuItem{
			{Label: "Stores", Path: pathStores, feature: keyward.FeatureAPIManagement},
			{Label: "Licence", Path: pathLicence, feature: keyward.FeatureAPIManagement},
			{Label: "Key Policy", Path: pathKeyPolicy, feature: keyward.FeatureAPIManagement},
			{Label: "External System Connectors", Path: pathConnectors, feature: keyward.FeatureConnectors},
		}},
		// One Integrations, under Settings: the tenant's API keys, the
		// merchants' API access and the webhooks.
		{Group: "Integrations", Items: []menuItem{
			{Label: "API Management", Path: pathKeys, feature: keyward.FeatureAPIManagement},
			{Label: "Key requests", Path: pathKeyRequests, feature: keyward.FeatureAPIManagement},
			{Label: "Integrators", Path: pathIntegrators, feature: keyward.FeatureAPIManagement},
			{Label: "API", Path: pathMerchantAPI, feature: keyward.FeatureMerchants},
			{Label: "Manage Webhooks", Path: pathWebhooks, feature: keyward.FeatureWebhooks},
		}},
		{Title: "Organization", Items: []menuItem{{Label: "Merchants", Path: pathMerchants, feature: keyward.FeatureMerchants}}},
		{Title: "Staff", Items: []menuItem{
			{Label: "Profile Security", Path: pathProfiles, feature: keyward.FeatureUsers},
			{Label: "Users", Path: pathUsers, feature: keyward.FeatureUsers},
		}},
		{Title: "Audit log", Items: []menuItem{{Label: "Audit log", Path: pathAudit, feature: keyward.FeatureAudit}}},
	}
	// A user who must change their password first has nowhere else to go.
	if a == nil || a.MustChangePassword {
		return nil
	}
	if a.Kind == keyward.ActorMerchant {
		all = []menuSection{{Title: "Merchant portal", Items: []menuItem{
			{Label: "Overview", Path: pathPortal},
			{Label: "API Settings", Path: pathPortalAPI, feature: service.PortalAPISettings},
			{Label: "Sign-in security", Path: pathPortalSecurity},
		}}}
	}
	var out []menuSection
	for _, s := range all {
		var items []menuItem
		for _, it := range s.Items {
			if it.feature == "" || a.Features.Has(it.feature) {
				// An entry under another (Manage Webhooks under API) is the
				// current one on its pages, not both.
				it.Current = (current == it.Path || strings.HasPrefix(current, it.Path+"/")) &&
					!slices.ContainsFunc(s.Items, func(o menuItem) bool {
						return len(o.Path) > len(it.Path) && strings.HasPrefix(o.Path, it.Path+"/") && (current == o.Path || strings.HasPrefix(current, o.Path+"/"))
					})
				items = append(items, it)
			}
		}
		if len(items) > 0 {
			s.Items = items
			out = append(out, s)
		}
	}
	return out
}

// pages holds every parsed page template.
type pages struct {
	byName map[string]*template.Template
}

// staticVersion is a digest of the static files, added to their URLs so
// browsers may cache them for long and still see a change at once.
var staticVersion = func() string {
	h := sha256.New()
	fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := files.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

var funcs = template.FuncMap{
	"static":   func(name string) string { return pathStatic + name + "?v=" + staticVersion },
	"when":     when,
	"level":    levelLabel,
	"resource": resourceLabel,
	"join":     strings.Join,
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"number": number,
	// handoverTTLs and handoverOffer feed the one-time link form (handover.go).
	"handoverTTLs":  func() any { return handoverTTLs },
	"handoverOffer": func(id, kind, subjectID, secret string) *handoverOffer { return nil }, // bound per Web in New
	"plural": func(n int64, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}

// when formats a time for a person, in UTC; a nil time is "never".
func when(v any) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	case *time.Time:
		if t == nil {
			return "never"
		}
		return when(*t)
	}
	return fmt.Sprint(v)
}

// levelLabel names an access level for a person.
func levelLabel(l keyward.Level) string {
	switch l {
	case keyward.LevelRead:
		return "Read"
	case keyward.LevelWrite:
		return "Read & write"
	}
	return "None"
}

// number writes n with thousands separators.
func number(n int64) string { return keyward.GroupDigits(n) }

// resourceLabel turns a catalog resource such as "store_information" into
// "Store information".
func resourceLabel(r string) string {
	s := strings.ReplaceAll(r, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mustParsePages parses the layout and partials with each page template.
func mustParsePages() *pages {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html"))
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(files, n))
		p.byName[name] = t
	}
	return p
}

// render draws a page into a buffer, then writes it with the status, so a
// failing template never sends half a page.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, data pager) {
	t, ok := w.pages.byName[name]
	if !ok {
		panic("web: no template " + name)
	}
	b := data.base()
	b.Actor = keyward.ActorFrom(r.Context())
	b.Menu = menuFor(b.Actor, r.URL.Path)
	b.Flash = takeFlash(rw, r)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		slog.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(rw, "The page could not be drawn; the error has been logged.", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	rw.Write(buf.Bytes())
}

// Cookies. The session cookie carries the session id only; the server
// keeps the session. Over HTTPS (TLS served here, or a public address
// starting with https:// in front of a TLS-terminating proxy) every cookie
// is Secure and the session cookie takes the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain.
const (
	cookieSession       = "keyward_session"
	cookieSessionSecure = "__Host-keyward_session"
	cookiePending       = "keyward_signin"
	cookieFlash         = "keyward_flash"
)

func sessionCookieName(r *http.Request) string {
	if httpx.IsHTTPS(r) {
		return cookieSessionSecure
	}
	return cookieSession
}

// sessionToken returns the session id the request carries, or "".
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(sessionCookieName(r)); err == nil {
		return c.Value
	}
	return ""
}

func setSessionCookie(rw http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(rw, &http.Cookie{
		Name: sessionCookieName(r), Value: token, Path: "/",
		HttpOnly: true, Secure: httpx.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

func clearSessionCookie(rw http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(sessionCookieName(r)); errors.Is(err, http.ErrNoCookie) {
		return
	}
	http.SetCookie(rw, &http.Cookie{
		Name: sessionCookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: httpx.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// setPending keeps the id of a sign-in waiting for its second factor, for
// the sign-in pages only.
func setPending(rw http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(rw, &http.Cookie{
		Name: cookiePending, Value: token, Path: pathSignIn, MaxAge: maxAge,
		HttpOnly: true, Secure: httpx.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// setFlash leaves a one-line message for the next page drawn.
func setFlash(rw http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(rw, &http.Cookie{
		Name: cookieFlash, Value: url.QueryEscape(msg), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: httpx.IsHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the flash message, if any, and clears it.
func takeFlash(rw http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(cookieFlash)
	if err != nil {
		return ""
	}
	http.SetCookie(rw, &http.Cookie{Name: cookieFlash, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: httpx.IsHTTPS(r), SameSite: http.SameSiteLaxMode})
	msg, err := url.QueryUnescape(c.Value)
	if err != nil || len(msg) > 300 {
		return ""
	}
	return msg
}

// staticHandler serves the stylesheet and script.
func staticHandler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	fsrv := http.StripPrefix(pathStatic, http.FileServerFS(sub))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(rw, r)
	})
}
