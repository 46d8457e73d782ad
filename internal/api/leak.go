package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/leak"
	"github.com/keyward/keyward/internal/service"
)

// LeakReports serves POST /v1/leaks: leak reports in the secret scanning
// partner format, signed by one of keys.
func LeakReports(svc *service.Service, keys leak.Keys) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpx.BodyType(r); err != nil {
			httpx.Error(w, r, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, service.MaxLeakReportBody))
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			httpx.Error(w, r, &keyward.Error{Code: keyward.ETooLarge, Message: "a leak report may be at most 1 MiB"})
			return
		} else if err != nil {
			httpx.Error(w, r, keyward.Invalid("", "the body could not be read"))
			return
		}
		answers, err := svc.ReportLeaks(r.Context(), keys, r.Header.Get("Github-Public-Key-Identifier"),
			r.Header.Get("Github-Public-Key-Signature"), body, httpx.ClientAddr(r))
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, answers)
	})
}

func (a *API) getLeakPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.svc.LeakPolicy(r.Context())
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (a *API) putLeakPolicy(w http.ResponseWriter, r *http.Request) error {
	var in keyward.LeakPolicy
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	p, err := a.svc.SetLeakPolicy(r.Context(), in)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}
