package keyward

import (
	"context"
	"iter"
)

// IntegratorsService manages the integrators registered to ask for keys
// with signed links: /api/v1/integrators.
type IntegratorsService struct{ c *Client }

// List walks the tenant's integrators and the platform's.
func (s *IntegratorsService) List(ctx context.Context) iter.Seq2[*Integrator, error] {
	return list[Integrator](ctx, s.c, "/api/v1/integrators", nil)
}

// Create registers an integrator; the answer holds its signing secret.
func (s *IntegratorsService) Create(ctx context.Context, in IntegratorCreate, opts ...CallOption) (*Integrator, error) {
	return send[Integrator](ctx, s.c, op("POST", "/api/v1/integrators", true, false).with(in), opts)
}

// Get reads an integrator.
func (s *IntegratorsService) Get(ctx context.Context, id string, opts ...CallOption) (*Integrator, error) {
	return get[Integrator](ctx, s.c, pathf("/api/v1/integrators/%s", id), opts)
}

// Roll gives an integrator a new signing secret.
func (s *IntegratorsService) Roll(ctx context.Context, id string, opts ...CallOption) (*Integrator, error) {
	return send[Integrator](ctx, s.c, op("POST", pathf("/api/v1/integrators/%s/roll", id), true, false), opts)
}

// Delete deletes an integrator.
func (s *IntegratorsService) Delete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/api/v1/integrators/%s", id), false, false), opts)
}

// KeyRequestsService records, approves and declines the key requests
// integrators' links make: /api/v1/key-requests.
type KeyRequestsService struct{ c *Client }

// List walks the tenant's key requests.
func (s *KeyRequestsService) List(ctx context.Context, params *ListKeyRequestsParams) iter.Seq2[*KeyRequest, error] {
	return list[KeyRequest](ctx, s.c, "/api/v1/key-requests", params)
}

// Open records the request a link makes.
func (s *KeyRequestsService) Open(ctx context.Context, in KeyRequestOpen, opts ...CallOption) (*KeyRequest, error) {
	return send[KeyRequest](ctx, s.c, op("POST", "/api/v1/key-requests", true, false).with(in), opts)
}

// Get reads a key request.
func (s *KeyRequestsService) Get(ctx context.Context, id string, opts ...CallOption) (*KeyRequest, error) {
	return get[KeyRequest](ctx, s.c, pathf("/api/v1/key-requests/%s", id), opts)
}

// Approve approves a request with what in grants: the request or less.
func (s *KeyRequestsService) Approve(ctx context.Context, id string, in KeyRequestApprove, opts ...CallOption) (*KeyRequest, error) {
	return send[KeyRequest](ctx, s.c, op("POST", pathf("/api/v1/key-requests/%s/approve", id), true, false).with(in), opts)
}

// Decline declines a request.
func (s *KeyRequestsService) Decline(ctx context.Context, id string, opts ...CallOption) (*KeyRequest, error) {
	return send[KeyRequest](ctx, s.c, op("POST", pathf("/api/v1/key-requests/%s/decline", id), true, false), opts)
}

// PlatformList walks the integrators the operator registered for every
// tenant (operator token).
func (s *IntegratorsService) PlatformList(ctx context.Context) iter.Seq2[*Integrator, error] {
	return list[Integrator](ctx, s.c, "/operator/v1/integrators", nil)
}

// PlatformCreate registers an integrator for every tenant (operator
// token); the answer holds its signing secret.
func (s *IntegratorsService) PlatformCreate(ctx context.Context, in IntegratorCreate, opts ...CallOption) (*Integrator, error) {
	return send[Integrator](ctx, s.c, op("POST", "/operator/v1/integrators", true, false).with(in), opts)
}

// PlatformRoll gives a platform integrator a new signing secret.
func (s *IntegratorsService) PlatformRoll(ctx context.Context, id string, opts ...CallOption) (*Integrator, error) {
	return send[Integrator](ctx, s.c, op("POST", pathf("/operator/v1/integrators/%s/roll", id), true, false), opts)
}

// PlatformDelete deletes a platform integrator.
func (s *IntegratorsService) PlatformDelete(ctx context.Context, id string, opts ...CallOption) error {
	return none(ctx, s.c, op("DELETE", pathf("/operator/v1/integrators/%s", id), false, false), opts)
}
