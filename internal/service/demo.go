package service

import (
	"context"

	"github.com/keyward/keyward"
)

// Demo holds what SeedDemo created that a person needs to sign in.
type Demo struct {
	Domain   string
	Email    string
	Password string
	Token    string
}

// DemoDomain is the demo tenant's domain.
const DemoDomain = "demo"

// SeedDemo creates the demo tenant on first start: two stores, an
// Administrator profile holding every feature, a user with a generated
// password and a personal access token, and a licence. It returns nil when
// the demo tenant already exists.
func (s *Service) SeedDemo(ctx context.Context) (*Demo, error) {
	if _, err := s.db.Read().TenantByDomain(ctx, DemoDomain); err == nil {
		return nil, nil
	} else if keyward.ErrorCode(err) != keyward.ENotFound {
		return nil, err
	}
	op := keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorSystem, Address: "demo"})
	t, err := s.CreateTenant(op, keyward.TenantCreate{Domain: DemoDomain, Name: "Demo Retail"})
	if err != nil {
		return nil, err
	}
	maxKeys, rate := 100, 1000
	if _, err := s.GrantLicence(op, DemoDomain, keyward.LicenceGrant{MaxKeys: &maxKeys, RateLimit: &rate}); err != nil {
		return nil, err
	}
	ctx = keyward.WithActor(ctx, SystemActor(t, "demo"))
	for _, st := range []keyward.StoreCreate{{Code: "main", Name: "Main Street Shop"}, {Code: "online", Name: "Online Store"}} {
		if _, err := s.CreateStore(ctx, st); err != nil {
			return nil, err
		}
	}
	p, err := s.CreateProfile(ctx, keyward.ProfileCreate{Name: "Administrator", Features: keyward.Features})
	if err != nil {
		return nil, err
	}
	if _, err := s.CreateProfile(ctx, keyward.ProfileCreate{Name: "Sales Staff", Features: []keyward.Feature{}}); err != nil {
		return nil, err
	}
	u, password, err := s.CreateUser(ctx, keyward.UserCreate{Email: "admin@demo.test", Name: "Demo Admin", ProfileID: p.ID})
	if err != nil {
		return nil, err
	}
	_, token, err := s.CreateToken(ctx, u.ID, keyward.TokenCreate{Name: "demo"})
	if err != nil {
		return nil, err
	}
	return &Demo{Domain: DemoDomain, Email: u.Email, Password: password, Token: token}, nil
}
