package keyward

import "context"

// LeakPolicy reads what the node does when one of the tenant's live
// secrets is reported leaked: "disable" it at once, or only "notify".
func (s *KeysService) LeakPolicy(ctx context.Context) (*LeakPolicy, error) {
	return get[LeakPolicy](ctx, s.c, "/api/v1/leak-policy", nil)
}

// SetLeakPolicy sets the tenant's leak policy. The node reads this PUT as
// application/json.
func (s *KeysService) SetLeakPolicy(ctx context.Context, in LeakPolicy, opts ...CallOption) (*LeakPolicy, error) {
	return send[LeakPolicy](ctx, s.c, op("PUT", "/api/v1/leak-policy", false, false).with(in), opts)
}
