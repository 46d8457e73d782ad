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

// DemoShowcase holds what SeedDemoShowcase created that a person needs to
// sign in to the merchant portal.
type DemoShowcase struct {
	MerchantName     string
	MerchantEmail    string
	MerchantPassword string
}

// SeedDemoShowcase fills the demo tenant (see SeedDemo) with what makes
// its pages worth looking at on first sign-in: two API keys, a merchant
// working in both stores, a Merchant Level 2 user with API access and a
// portal password, and a Level 1 user. serve --demo calls it on first
// start only.
func (s *Service) SeedDemoShowcase(ctx context.Context) (*DemoShowcase, error) {
	t, err := s.db.Read().TenantByDomain(ctx, DemoDomain)
	if err != nil {
		return nil, err
	}
	ctx = keyward.WithActor(ctx, SystemActor(t, "demo"))
	on := true
	for _, k := range []keyward.KeyCreate{
		{Name: "Storefront", Description: "Online storefront: orders, customers and stock", Enabled: &on,
			Permissions: keyward.Permissions{"orders": keyward.LevelWrite, "customers": keyward.LevelWrite, "products": keyward.LevelRead, "inventory": keyward.LevelRead}},
		{Name: "Reporting", Description: "Nightly sales report for the main shop", Enabled: &on,
			Permissions: keyward.Permissions{"orders": keyward.LevelRead, "payments": keyward.LevelRead},
			Stores:      keyward.StoreAccess{Access: keyward.StoresSelected, IDs: []string{"main"}}},
	} {
		if _, err := s.CreateKey(ctx, k); err != nil {
			return nil, err
		}
	}
	m, err := s.CreateMerchant(ctx, keyward.MerchantCreate{Name: "Northwind Deliveries", Stores: []string{"main", "online"}})
	if err != nil {
		return nil, err
	}
	u, err := s.CreateMerchantUser(ctx, m.ID, keyward.MerchantUserCreate{Email: "dispatch@northwind.test", Name: "Dana Dispatch", Level: keyward.MerchantLevel2, APIAccess: true})
	if err != nil {
		return nil, err
	}
	if _, err := s.CreateMerchantUser(ctx, m.ID, keyward.MerchantUserCreate{Email: "driver@northwind.test", Name: "Drew Driver", Level: keyward.MerchantLevel1}); err != nil {
		return nil, err
	}
	pw, err := s.SetMerchantUserPassword(ctx, m.ID, u.ID)
	if err != nil {
		return nil, err
	}
	return &DemoShowcase{MerchantName: m.Name, MerchantEmail: u.Email, MerchantPassword: pw}, nil
}
