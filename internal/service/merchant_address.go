package service

import (
	"context"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// setAllowedAddresses gives u's API credential the address allowlist
// addrs, noting it in changes when it differs.
func setAllowedAddresses(u *keyward.MerchantUser, addrs []string, changes map[string]any) error {
	if err := checkAddresses(&addrs); err != nil {
		return err
	}
	if !slices.Equal(addrs, u.AllowedAddresses) {
		u.AllowedAddresses = addrs
		changes["allowed_addresses"] = addrs
	}
	return nil
}

// SetOwnAllowedAddresses limits the calling merchant user's API
// credential (Level 2, with API access) to client addresses and CIDR
// ranges; empty allows any address. It needs no licence: it only
// narrows what the credential may do.
func (s *Service) SetOwnAllowedAddresses(ctx context.Context, addrs []string) (*keyward.MerchantUser, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return nil, err
	}
	var u *keyward.MerchantUser
	err = s.db.Write(ctx, func(q *store.Q) error {
		if u, err = q.MerchantUser(ctx, a.TenantID, a.UserID); err != nil {
			return err
		}
		if u.Level != keyward.MerchantLevel2 || !u.APIAccess {
			return apiSettingsOnly()
		}
		changes := map[string]any{}
		if err := setAllowedAddresses(u, addrs, changes); err != nil || len(changes) == 0 {
			return err
		}
		u.UpdatedAt = s.now()
		if err := q.UpdateMerchantUser(ctx, u); err != nil {
			return err
		}
		if err := version(ctx, q, "merchant_users", u.ID, &u.Versioned); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant_user.update", "merchant_user", u.ID, changes)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return u, nil
}
