// Package service holds keyward's rules: who may do what, what a valid
// change is, and what each change writes to the audit log and the change
// log. The REST API, the web pages and the CLI all call it, so a rule is
// written once.
package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Service is the control plane's service layer.
type Service struct {
	db      *store.DB
	catalog *catalog.Catalog
	now     keyward.Clock
	log     *slog.Logger

	licenceContact string
	// publicURL is the address users reach keyward at, without a final
	// slash; "" when unknown (see handover.go).
	publicURL string
	// keyring seals secrets kept at rest; nil when no master key is set,
	// and then nothing can be sealed (see seal.go).
	keyring  *seal.Keyring
	onChange func(context.Context)
	// witness keeps each audit chain's newest checkpoint outside the
	// database; nil for none (see audit.go).
	witness AuditWitness
	// onEvent wakes this node's webhook dispatcher (see event.go).
	onEvent func()
	// onStop stops this node's dispatcher sending to an endpoint (see
	// delivery.go).
	onStop func(ctx context.Context, endpointID string)
	// outbound judges webhook URLs as the dispatcher will dial them.
	outbound outbound.Config
	// hasher hashes passwords; checkPassword is its Check, whose calls
	// tests count.
	hasher        *secret.Hasher
	checkPassword func(hash, password string) (ok, rehash bool, err error)
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock, for tests.
func WithClock(c keyward.Clock) Option { return func(s *Service) { s.now = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithLicenceContact names who tenants contact for a licence, e.g.
// "sales@platform.example".
func WithLicenceContact(c string) Option {
	return func(s *Service) {
		if c != "" {
			s.licenceContact = c
		}
	}
}

// WithPasswordHasher sets how passwords are hashed, for tests
// (secret.TestHasher); the default is secret.DefaultHasher.
func WithPasswordHasher(h *secret.Hasher) Option { return func(s *Service) { s.hasher = h } }

// WithChangeHook sets a function called after every committed change the
// data plane holds, so this node's replica can catch up before answering.
func WithChangeHook(fn func(context.Context)) Option { return func(s *Service) { s.onChange = fn } }

// New returns a service over db with the API catalog cat.
func New(db *store.DB, cat *catalog.Catalog, opts ...Option) *Service {
	s := &Service{db: db, catalog: cat, now: keyward.SystemClock, log: slog.Default(), licenceContact: "your platform operator",
		hasher: secret.DefaultHasher()}
	for _, o := range opts {
		o(s)
	}
	s.checkPassword = s.hasher.Check
	return s
}

// Catalog returns the API catalog.
func (s *Service) Catalog() *catalog.Catalog { return s.catalog }

// DB returns the database.
func (s *Service) DB() *store.DB { return s.db }

// Now returns the service clock's time.
func (s *Service) Now() time.Time { return s.now() }

// SystemActor returns an actor with every feature in a tenant, for the CLI
// and start-up tasks run by whoever holds the database.
func SystemActor(t *keyward.Tenant, address string) *keyward.Actor {
	return &keyward.Actor{Kind: keyward.ActorSystem, TenantID: t.ID, Domain: t.Domain, Features: keyward.Features, Address: address}
}

// tenantActor returns the caller, who must act in a tenant and hold
// feature ("" for any authenticated tenant user).
func tenantActor(ctx context.Context, feature keyward.Feature) (*keyward.Actor, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "Sign in or send a personal access token as \"Authorization: Bearer <token>\".")
	}
	if a.TenantID == "" {
		return nil, keyward.Errorf(keyward.EForbidden, "This is a tenant endpoint; the operator token cannot call it. Use a personal access token of a tenant user.")
	}
	if a.Kind == keyward.ActorMerchant {
		return nil, keyward.Errorf(keyward.EForbidden, "Merchant credentials may call the platform's API through the gateway and read their own credentials; this endpoint is for the tenant's administrators.")
	}
	if a.MustChangePassword {
		return nil, passwordChangeRequired()
	}
	if feature != "" && !a.Features.Has(feature) {
		return nil, &keyward.Error{
			Code:    keyward.EFeatureRequired,
			Message: "Your security profile lacks the " + feature.Label() + " feature. Ask an administrator to tick " + feature.Label() + " for your profile under Staff > Profile Security; it applies on your next request.",
			Details: map[string]any{"feature": string(feature)},
		}
	}
	return a, nil
}

// operatorActor returns the caller, who must be the operator (or the system).
func operatorActor(ctx context.Context) (*keyward.Actor, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "Send the operator token as \"Authorization: Bearer <token>\".")
	}
	if a.Kind != keyward.ActorOperator && !(a.Kind == keyward.ActorSystem && a.TenantID == "") {
		return nil, keyward.Errorf(keyward.EForbidden, "Only the operator may call this endpoint.")
	}
	return a, nil
}

// audit appends an audit entry within the transaction q.
func (s *Service) audit(ctx context.Context, q *store.Q, a *keyward.Actor, tenantID, action, objType, objID string, changes map[string]any) error {
	actorID := a.UserID
	if actorID == "" {
		actorID = string(a.Kind)
	}
	return q.InsertAudit(ctx, &keyward.AuditEntry{
		TenantID: tenantID, Actor: a.Name(), ActorID: actorID, Action: action,
		ObjectType: objType, ObjectID: objID, Address: a.Address, Changes: changes, At: s.now(),
	})
}

// Page is one page of a list with the cursor for the next one.
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// clampLimit bounds a page size: default 50, at most 500.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}

func (s *Service) changed(ctx context.Context) {
	if s.onChange != nil {
		s.onChange(ctx)
	}
}

// equalJSON compares two values as their JSON encodings.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// logChange appends, within the transaction q, a change-log entry for an
// object the data plane holds and the audit entry describing the change.
func (s *Service) logChange(ctx context.Context, q *store.Q, a *keyward.Actor, tenantID, action, kind, objID string, changes map[string]any) error {
	if err := q.AppendChange(ctx, tenantID, kind, objID, s.now()); err != nil {
		return err
	}
	return s.audit(ctx, q, a, tenantID, action, kind, objID, changes)
}
