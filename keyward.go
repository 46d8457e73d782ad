// Package keyward holds the domain of the keyward API access platform:
// tenants, stores, security profiles, users, licences, API keys and the
// errors every surface reports. It has no SQL, no HTTP and no imports of
// other project packages; adapters live under internal/.
package keyward

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
)

// NewID returns a fresh opaque identifier with the given prefix, such as
// "ten" for tenants. The random part carries 130 bits from crypto/rand, so
// identifiers are neither sequential nor guessable.
func NewID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())
}

// Clock returns the current time; services take one so tests can move time.
type Clock func() time.Time

// SystemClock is the wall clock in UTC.
func SystemClock() time.Time { return time.Now().UTC() }

// ActorKind tells who performs an action.
type ActorKind string

// Actor kinds.
const (
	ActorUser     ActorKind = "user"
	ActorOperator ActorKind = "operator"
	ActorSystem   ActorKind = "system"
	ActorMerchant ActorKind = "merchant"
)

// Actor is the authenticated caller of the control plane. A user actor acts
// within one tenant with the features of its profile, read fresh on every
// request so a profile change applies at once.
type Actor struct {
	Kind     ActorKind
	TenantID string
	Domain   string
	UserID   string
	Email    string
	TokenID  string
	// MerchantID is set for merchant actors, who have no features.
	MerchantID string
	Features   FeatureSet
	Address    string // the client's network address, for the audit log
	// MustChangePassword marks a user who must choose a new password
	// before any other call is allowed.
	MustChangePassword bool
}

// Name is how the audit log names the actor.
func (a *Actor) Name() string {
	switch a.Kind {
	case ActorUser:
		return a.Email
	case ActorOperator:
		return "operator"
	case ActorMerchant:
		return "merchant:" + a.Email
	default:
		return "system"
	}
}

type actorKey struct{}

// WithActor returns a context carrying the actor.
func WithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx, or nil.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}
