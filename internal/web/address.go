package web

import (
	"net/http"
	"strings"
)

// readAddressLines reads an "Only from these addresses" box: one address
// or CIDR range a line; commas and blank lines are forgiven.
func readAddressLines(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// addressLines writes an allowlist into the box, one a line.
func addressLines(addrs []string) string { return strings.Join(addrs, "\n") }

// portalAddresses saves the "Only from these addresses" box of the
// portal's API Settings.
func (w *Web) portalAddresses(rw http.ResponseWriter, r *http.Request) error {
	if err := parseForm(rw, r); err != nil {
		return err
	}
	typed := r.PostFormValue("allowed_addresses")
	_, err := w.svc.SetOwnAllowedAddresses(r.Context(), readAddressLines(typed))
	if err == nil {
		http.Redirect(rw, r, pathPortalAPI, http.StatusSeeOther)
		return nil
	}
	fe, status, err := formError(err, "allowed_addresses")
	if err != nil {
		return err
	}
	p, err := w.portalAPI(r)
	if err != nil {
		return err
	}
	w.render(rw, r, status, "portal_api", &portalAPIPage{page: page{Title: "API Settings", Crumbs: portalCrumbs}, Portal: p,
		GatewayURL: w.gatewayURL, Addresses: typed, Errors: fe})
	return nil
}
