package replica

import (
	"context"
	"net/netip"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

type ownerKey struct {
	tenantID, resource, recordID string
}

// merchantPermissions is what a merchant credential may ever do: the
// catalog's merchant methods, which work on jobs and actions.
var merchantPermissions = keyward.Permissions{"jobs": keyward.LevelWrite, "actions": keyward.LevelWrite}

// merchantSecret is one digest a merchant credential is found by.
type merchantSecret struct {
	digest [32]byte
	entry  entry
}

// compileMerchant turns an enabled Level 2 merchant user into the entries
// of its API Auth Key and, while its grace lasts, of the key it replaced,
// which carries its end as its expiry so lookups refuse it from then on.
func (r *Replica) compileMerchant(t *Tenant, m *keyward.Merchant, u *keyward.MerchantUser) []merchantSecret {
	var d [32]byte
	if !u.APIAccess || u.Level != keyward.MerchantLevel2 || len(u.AuthKeyDigest) != len(d) {
		return nil
	}
	perms := keyward.Permissions{}
	for res, l := range merchantPermissions {
		if r.cat.HasResource(res) {
			perms[res] = l
		}
	}
	sp := policy.Spec{Permissions: perms, AllStores: len(m.StoreIDs) == 0, Merchant: true, Addresses: u.AllowedAddresses}
	for _, id := range m.StoreIDs {
		sp.Stores = append(sp.Stores, id)
		if c := t.storeCode[id]; c != "" {
			sp.Stores = append(sp.Stores, c)
		}
	}
	p, err := policy.Compile(r.cat, sp)
	if err != nil {
		r.log.Warn("merchant credential does not compile against the catalog; refusing it", "merchant_user", u.ID, "err", err)
		return nil
	}
	stores := keyward.StoreAccess{Access: keyward.StoresAll}
	if len(m.StoreIDs) > 0 {
		stores = keyward.StoreAccess{Access: keyward.StoresSelected, IDs: m.StoreIDs}
	}
	c := &Credential{
		KeyID: u.ID, TenantID: u.TenantID, Name: m.Name + "-" + u.AccountID, Enabled: true,
		Policy: p, Permissions: perms, Stores: &stores,
		Merchant: &MerchantCredential{MerchantID: m.ID, MerchantUserID: u.ID, AccountID: u.AccountID},
	}
	copy(d[:], u.AuthKeyDigest)
	out := []merchantSecret{{digest: d, entry: entry{cred: c, slot: 1}}}
	if u.PreviousKeyExpiresAt != nil && len(u.PreviousKeyDigest) == len(d) && r.now().Before(*u.PreviousKeyExpiresAt) {
		var p [32]byte
		copy(p[:], u.PreviousKeyDigest)
		out = append(out, merchantSecret{digest: p, entry: entry{cred: c, slot: 1, expires: u.PreviousKeyExpiresAt.UnixNano()}})
	}
	return out
}

// putMerchant files a merchant user's compiled secrets; the caller holds r.mu or
// owns the maps.
func putMerchant(secrets map[[32]byte]entry, keys map[string][][32]byte, userID string, ms []merchantSecret) {
	for _, s := range ms {
		secrets[s.digest] = s.entry
		keys[userID] = append(keys[userID], s.digest)
	}
}

func (r *Replica) applyMerchantUser(ctx context.Context, q *store.Q, tenantID, userID string) error {
	u, err := q.MerchantUserByID(ctx, userID)
	if err != nil {
		return err
	}
	var ms []merchantSecret
	if u != nil {
		r.mu.RLock()
		t := r.tenants[tenantID]
		r.mu.RUnlock()
		if t != nil {
			m, err := q.Merchant(ctx, tenantID, u.MerchantID)
			if err != nil && keyward.ErrorCode(err) != keyward.ENotFound {
				return err
			}
			if m != nil {
				ms = r.compileMerchant(t, m, u)
			}
		}
	}
	r.mu.Lock()
	for _, old := range r.keys[userID] {
		delete(r.secrets, old)
	}
	delete(r.keys, userID)
	putMerchant(r.secrets, r.keys, userID, ms)
	r.mu.Unlock()
	return nil
}

// VerifyMerchant decides whether a merchant credential (API Account ID and
// API Auth Key) may call method m on store. It never queries the database.
func (r *Replica) VerifyMerchant(accountID, authKey string, m *catalog.Method, store string) Result {
	return r.VerifyMerchantFrom(accountID, authKey, m, store, netip.Addr{})
}

// VerifyMerchantFrom is VerifyMerchant for a request from client, as
// VerifyFrom is Verify.
func (r *Replica) VerifyMerchantFrom(accountID, authKey string, m *catalog.Method, store string, client netip.Addr) Result {
	kind, err := secret.Parse(authKey)
	if err != nil || kind != secret.KindMerchantKey {
		return Result{Code: keyward.CodeNotFound}
	}
	res := r.lookup(authKey, m, store, client)
	if res.Found() && (res.Cred.Merchant == nil || res.Cred.Merchant.AccountID != accountID) {
		return Result{Code: keyward.CodeNotFound}
	}
	return res
}

// OwnerOf returns the merchant that created a record through the gateway.
func (r *Replica) OwnerOf(tenantID, resource, recordID string) (string, bool) {
	r.mu.RLock()
	m, ok := r.owners[ownerKey{tenantID, resource, recordID}]
	r.mu.RUnlock()
	return m, ok
}

// SetOwner records, durably and then in memory, the merchant that owns a
// record as the upstream named it, replacing any owner recorded before; an
// empty merchantID releases the record. Other nodes learn it from the
// change log.
func (r *Replica) SetOwner(ctx context.Context, tenantID, resource, recordID, merchantID string) error {
	err := r.db.Write(ctx, func(q *store.Q) error {
		if err := q.SetOwner(ctx, tenantID, resource, recordID, merchantID, r.now()); err != nil {
			return err
		}
		return q.AppendChange(ctx, tenantID, "owner", resource+"/"+recordID, r.now())
	})
	if err != nil {
		return err
	}
	k := ownerKey{tenantID, resource, recordID}
	r.mu.Lock()
	if merchantID == "" {
		delete(r.owners, k)
	} else {
		r.owners[k] = merchantID
	}
	r.mu.Unlock()
	return nil
}
