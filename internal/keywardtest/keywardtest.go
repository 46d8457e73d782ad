// Package keywardtest sets up, for tests, the demo tenant over a real
// database with a service and a replica kept in step by the change hook,
// under a clock the test moves.
package keywardtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

// Platform is the seeded demo tenant with its service and replica.
type Platform struct {
	TB  testing.TB
	DB  *store.DB
	Svc *service.Service
	Rep *replica.Replica
	Ctx context.Context // acting as the demo tenant's administrator
	Op  context.Context // acting as the operator
	Now time.Time       // the clock of the service and the replica
}

// New seeds the demo tenant in db and loads a replica of it, over the
// built-in catalog. Options are added to the service's; passwords are
// hashed with secret.TestHasher unless one of them says otherwise.
func New(tb testing.TB, db *store.DB, opts ...service.Option) *Platform {
	return NewWithCatalog(tb, db, catalog.Builtin(), opts...)
}

// NewWithCatalog is New over another catalog, which must hold the
// built-in catalog's methods for the demo seed.
func NewWithCatalog(tb testing.TB, db *store.DB, cat *catalog.Catalog, opts ...service.Option) *Platform {
	tb.Helper()
	p := &Platform{TB: tb, DB: db, Now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return p.Now }
	p.Rep = replica.New(db, cat, replica.WithClock(clock))
	p.Svc = service.New(db, cat, append([]service.Option{service.WithClock(clock), service.WithLicenceContact("sales@platform.test"),
		service.WithPasswordHasher(secret.TestHasher()),
		service.WithChangeHook(func(ctx context.Context) {
			if err := p.Rep.Sync(ctx); err != nil {
				tb.Errorf("sync: %v", err)
			}
		})}, opts...)...)
	ctx := context.Background()
	if _, err := p.Svc.SeedDemo(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := p.Rep.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	ten, err := p.Svc.TenantByDomain(ctx, service.DemoDomain)
	if err != nil {
		tb.Fatal(err)
	}
	p.Ctx = keyward.WithActor(ctx, service.SystemActor(ten, "test"))
	p.Op = keyward.WithActor(ctx, &keyward.Actor{Kind: keyward.ActorSystem, Address: "test"})
	return p
}

// Advance moves the clock and lets the replica hear from the database, as
// its follower would.
func (p *Platform) Advance(d time.Duration) {
	p.TB.Helper()
	p.Now = p.Now.Add(d)
	if err := p.Rep.Sync(context.Background()); err != nil {
		p.TB.Fatal(err)
	}
}

// CreateKey creates a key in the demo tenant.
func (p *Platform) CreateKey(in keyward.KeyCreate) *keyward.Key {
	p.TB.Helper()
	k, err := p.Svc.CreateKey(p.Ctx, in)
	if err != nil {
		p.TB.Fatalf("create key %s: %v", in.Name, err)
	}
	return k
}

// MerchantUser creates a merchant and a Level 2 user of it with API access,
// whose API Account ID and Auth Key it returns.
func (p *Platform) MerchantUser(merchant, email string) *keyward.MerchantUser {
	p.TB.Helper()
	m, err := p.Svc.CreateMerchant(p.Ctx, keyward.MerchantCreate{Name: merchant})
	if err != nil {
		p.TB.Fatal(err)
	}
	u, err := p.Svc.CreateMerchantUser(p.Ctx, m.ID, keyward.MerchantUserCreate{Email: email, Level: 2, APIAccess: true})
	if err != nil {
		p.TB.Fatal(err)
	}
	return u
}

// FreeAddr returns a loopback address nothing listens on right now, for a
// server a test starts in a process of its own.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
