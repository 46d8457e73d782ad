package service

import (
	"context"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// CreateStore adds a store to the caller's tenant. Store changes need the
// API Management feature, because stores are what keys are scoped to.
func (s *Service) CreateStore(ctx context.Context, in keyward.StoreCreate) (*keyward.Store, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	st := &keyward.Store{ID: keyward.NewID("sto"), TenantID: a.TenantID, Code: in.Code, Name: in.Name, Active: true, CreatedAt: s.now(), Versioned: keyward.Versioned{Version: 1}}
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := q.InsertStore(ctx, st); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "store.create", "store", st.ID, map[string]any{"code": st.Code, "name": st.Name})
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return st, nil
}

// ListStores lists the caller's stores; any user of the tenant may.
func (s *Service) ListStores(ctx context.Context) ([]*keyward.Store, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	out, err := s.db.Read().ListStores(ctx, a.TenantID)
	if out == nil && err == nil {
		out = []*keyward.Store{}
	}
	return out, err
}

// Store returns one of the caller's stores by id or code.
func (s *Service) Store(ctx context.Context, idOrCode string) (*keyward.Store, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	st, err := q.Store(ctx, a.TenantID, idOrCode)
	if err != nil {
		return nil, err
	}
	return st, version(ctx, q, "stores", st.ID, &st.Versioned)
}

// UpdateStore renames a store, or deactivates or reactivates it. While a
// store is inactive the data plane refuses requests naming it
// (STORE_NOT_ALLOWED), so keys limited to it alone and merchants working
// only in it can do nothing there.
func (s *Service) UpdateStore(ctx context.Context, idOrCode string, in keyward.StoreUpdate) (*keyward.Store, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		if err := keyward.ValidName("name", *in.Name, 200); err != nil {
			return nil, err
		}
	}
	var st *keyward.Store
	activeChanged := false
	err = s.db.Write(ctx, func(q *store.Q) error {
		st, err = q.Store(ctx, a.TenantID, idOrCode)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "stores", st.ID); err != nil {
			return err
		}
		changes := map[string]any{}
		if in.Name != nil && *in.Name != st.Name {
			changes["name"] = *in.Name
			st.Name = *in.Name
		}
		if in.Active != nil && *in.Active != st.Active {
			changes["active"] = *in.Active
			st.Active = *in.Active
			activeChanged = true
		}
		if len(changes) == 0 {
			return version(ctx, q, "stores", st.ID, &st.Versioned)
		}
		if err := q.UpdateStore(ctx, st); err != nil {
			return err
		}
		if err := version(ctx, q, "stores", st.ID, &st.Versioned); err != nil {
			return err
		}
		action := "store.update"
		switch {
		case activeChanged && st.Active:
			action = "store.reactivate"
		case activeChanged:
			action = "store.deactivate"
		}
		if activeChanged {
			// The data plane's store set changes: it learns it from the
			// change log.
			return s.logChange(ctx, q, a, a.TenantID, action, "store", st.ID, changes)
		}
		return s.audit(ctx, q, a, a.TenantID, action, "store", st.ID, changes)
	})
	if err == nil && activeChanged {
		s.changed(ctx)
	}
	return st, err
}

// ActiveStores lists the caller's active stores, the ones a picker
// offers; any user of the tenant may.
func (s *Service) ActiveStores(ctx context.Context) ([]*keyward.Store, error) {
	all, err := s.ListStores(ctx)
	if err != nil {
		return nil, err
	}
	out := []*keyward.Store{}
	for _, st := range all {
		if st.Active {
			out = append(out, st)
		}
	}
	return out, nil
}

// DeleteStore removes a store that no key selects.
func (s *Service) DeleteStore(ctx context.Context, idOrCode string) error {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		st, err := q.Store(ctx, a.TenantID, idOrCode)
		if err != nil {
			return err
		}
		if err := precondition(ctx, q, "stores", st.ID); err != nil {
			return err
		}
		if err := q.DeleteStore(ctx, st.ID); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "store.delete", "store", st.ID, map[string]any{"code": st.Code})
	})
	if err == nil {
		s.changed(ctx)
	}
	return err
}

// StoreUsage is what works in a store: the keys limited to selected
// stores that include it (Only: it is their one store) and the merchants
// working in it, so a person sees what removing it would touch.
type StoreUsage struct {
	Store     *keyward.Store
	Keys      []StoreKey
	Merchants []*keyward.Merchant
}

// StoreKey is a key limited to a store.
type StoreKey struct {
	Key *keyward.Key
	// Only marks a key whose one selected store this is.
	Only bool
}

// InUse reports whether the store cannot be removed yet.
func (u *StoreUsage) InUse() bool { return len(u.Keys) > 0 || len(u.Merchants) > 0 }

// StoreUse returns what works in one of the caller's stores; it needs the
// API Management feature, as changing stores does.
func (s *Service) StoreUse(ctx context.Context, idOrCode string) (*StoreUsage, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	st, err := q.Store(ctx, a.TenantID, idOrCode)
	if err != nil {
		return nil, err
	}
	u := &StoreUsage{Store: st}
	f := keyward.KeyFilter{Access: keyward.StoresSelected, StoreID: st.ID, Limit: 500}
	for {
		keys, err := q.ListKeys(ctx, a.TenantID, f)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			k.DisplayName = a.Domain + "-" + k.Name
			u.Keys = append(u.Keys, StoreKey{Key: k, Only: len(k.Stores.IDs) == 1})
		}
		if len(keys) < f.Limit {
			break
		}
		f.After = keys[len(keys)-1].ID
	}
	ms, err := q.ListMerchants(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if slices.Contains(m.StoreIDs, st.ID) {
			u.Merchants = append(u.Merchants, m)
		}
	}
	return u, nil
}
