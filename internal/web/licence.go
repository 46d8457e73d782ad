package web

import (
	"net/http"

	"github.com/keyward/keyward/internal/service"
)

// Settings > Licence: what the operator granted the tenant and how much of
// it is used. Without an active licence every API key is suspended.

const pathLicence = "/settings/licence"

type licencePage struct {
	page
	View *service.LicenceView
}

func (w *Web) showLicence(rw http.ResponseWriter, r *http.Request) error {
	v, err := w.svc.TenantLicence(r.Context())
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "licence", &licencePage{page: page{Title: "Licence", Crumbs: storesCrumbs}, View: v})
	return nil
}
