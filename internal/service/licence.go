package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// LicenceView is a tenant's licence as its administrators see it: what the
// operator granted, how much of it is used, and whether it is active now.
type LicenceView struct {
	Licence *keyward.Licence
	// Keys is how many API keys the tenant has, against Licence.MaxKeys.
	Keys int
	// Active says whether API keys work now; when not, Reason says why
	// (revoked or expired) and every key is suspended.
	Active bool
	Reason string
	// Contact is whom to ask for a licence or a change to it.
	Contact string
	Now     time.Time
}

// LicenceActive reports whether the caller's tenant holds an active
// licence, so a page can show credentials it suspends as Suspended; any
// tenant user or merchant user may ask.
func (s *Service) LicenceActive(ctx context.Context) (bool, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil {
		return false, sessionEnded()
	}
	if a.TenantID == "" {
		return false, keyward.Errorf(keyward.EForbidden, "Only a tenant's users hold a licence.")
	}
	l, err := s.db.Read().Licence(ctx, a.TenantID)
	if err != nil {
		return false, err
	}
	return l.Active(s.now()), nil
}

// TenantLicence returns the caller's tenant licence; it needs the API
// Management feature, since the licence is what API keys depend on.
func (s *Service) TenantLicence(ctx context.Context) (*LicenceView, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	l, err := q.Licence(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	n, err := q.CountKeys(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	v := &LicenceView{Licence: l, Keys: n, Active: l.Active(s.now()), Contact: s.licenceContact, Now: s.now()}
	switch {
	case v.Active:
	case !l.APIAccess:
		v.Reason = "The operator has not granted API access, or has revoked it."
	default:
		v.Reason = "The licence expired on " + l.ExpiresAt.UTC().Format("2 Jan 2006") + "."
	}
	return v, nil
}
