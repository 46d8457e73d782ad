package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// Settings > Key Policy: the longest lifetime of a new key, the number of
// days unused after which a key is disabled, and, in a form of its own,
// what is done when a secret is reported leaked.

const (
	pathKeyPolicy  = "/settings/key-policy"
	pathLeakPolicy = pathKeyPolicy + "/leaks"
)

type keyPolicyPage struct {
	page
	Policy *keyward.KeyPolicy
	// MaxLifetime and Inactive are the fields as typed.
	MaxLifetime, Inactive string
	// Version is the policy's ETag when shown, sent back as If-Match so a
	// change made meanwhile by someone else is not overwritten.
	Version string
	// OnLeak is the leak policy shown or as chosen.
	OnLeak string
	Errors formErrors
}

func (w *Web) keyPolicyPage(r *http.Request) (*keyPolicyPage, error) {
	p, err := w.svc.KeyPolicy(r.Context())
	if err != nil {
		return nil, err
	}
	lp, err := w.svc.LeakPolicy(r.Context())
	if err != nil {
		return nil, err
	}
	return &keyPolicyPage{page: page{Title: "Key Policy", Crumbs: storesCrumbs}, Policy: p,
		MaxLifetime: strconv.Itoa(p.MaxLifetimeDays), Inactive: strconv.Itoa(p.InactiveDays), Version: p.ETag(), OnLeak: lp.OnLeak}, nil
}

func (w *Web) showKeyPolicy(rw http.ResponseWriter, r *http.Request) error {
	p, err := w.keyPolicyPage(r)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "key_policy", p)
	return nil
}

func (w *Web) saveKeyPolicy(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	maxText, inactiveText := strings.TrimSpace(r.PostFormValue("max_lifetime_days")), strings.TrimSpace(r.PostFormValue("inactive_days"))
	again := func(fe formErrors, status int) error {
		p, err := w.keyPolicyPage(r)
		if err != nil {
			return err
		}
		p.MaxLifetime, p.Inactive, p.Errors = maxText, inactiveText, fe
		w.render(rw, r, status, "key_policy", p)
		return nil
	}
	var in keyward.KeyPolicyUpdate
	for _, f := range []struct {
		name, text string
		to         **int
	}{{"max_lifetime_days", maxText, &in.MaxLifetimeDays}, {"inactive_days", inactiveText, &in.InactiveDays}} {
		n := 0
		if f.text != "" {
			v, err := strconv.Atoi(f.text)
			if err != nil {
				return again(fieldError(f.name, "Give a whole number of days, or 0 for no rule."))
			}
			n = v
		}
		*f.to = &n
	}
	ctx := r.Context()
	if v := r.PostFormValue("version"); v != "" {
		ctx = keyward.WithIfMatch(ctx, v)
	}
	if _, err := w.svc.UpdateKeyPolicy(ctx, in); err != nil {
		fe, status, err := formError(err, "max_lifetime_days", "inactive_days")
		if err != nil {
			return err
		}
		return again(fe, status)
	}
	return redirect(rw, r, pathKeyPolicy, "The key policy is saved.")
}

// saveLeakPolicy sets the leak policy. It is a form of its own: the leak
// policy is not part of the key policy's version, so saving the key rules
// never overwrites a leak policy changed meanwhile, nor the other way.
func (w *Web) saveLeakPolicy(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	in := keyward.LeakPolicy{OnLeak: r.PostFormValue("on_leak")}
	if _, err := w.svc.SetLeakPolicy(r.Context(), in); err != nil {
		fe, status, err := formError(err, "on_leak")
		if err != nil {
			return err
		}
		if fe.Err("on_leak") != "" {
			// The service names the API's values; the page names choices.
			fe.Fields["on_leak"] = "Choose what keyward does when a secret is reported leaked."
		}
		p, err := w.keyPolicyPage(r)
		if err != nil {
			return err
		}
		p.OnLeak, p.Errors = in.OnLeak, fe
		w.render(rw, r, status, "key_policy", p)
		return nil
	}
	return redirect(rw, r, pathKeyPolicy, "The leak policy is saved.")
}
