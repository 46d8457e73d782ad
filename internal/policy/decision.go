package policy

import (
	"net/netip"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
)

// Decision is the outcome of Decide.
type Decision struct {
	// Code is keyward.CodeValid or the reason for refusal:
	// CodeUnknownMethod, CodeExpired, CodeMethodNotAllowed,
	// CodeInsufficientPermission, CodeStoreRequired or CodeStoreNotAllowed.
	Code string
	// Method is the method decided on.
	Method *catalog.Method
	// Resource and Level are the missing permission, for
	// CodeInsufficientPermission.
	Resource string
	Level    keyward.Level
	// Store is the store the request named, for CodeValid and
	// CodeStoreNotAllowed.
	Store string
	// Merchant is set when CodeMethodNotAllowed comes from the merchant
	// restriction rather than the allowlist.
	Merchant bool
	// NoSuchStore is set when CodeStoreNotAllowed is answered because the
	// store is not one of the tenant's.
	NoSuchStore bool
	// Client is the client address refused, for CodeIPNotAllowed; the
	// zero Addr when it was not known.
	Client netip.Addr
}

// Allowed reports whether the request may proceed.
func (d Decision) Allowed() bool { return d.Code == keyward.CodeValid }

// Message explains the decision in a sentence a person can act on.
func (d Decision) Message() string {
	id := "this method"
	if d.Method != nil {
		id = d.Method.ID
	}
	switch d.Code {
	case keyward.CodeValid:
		return "This key may call " + id + "."
	case keyward.CodeUnknownMethod:
		return "The request matches no method of the API catalog; check the HTTP method and path."
	case keyward.CodeExpired:
		return "This key has expired; ask the tenant's administrator for a new key or a later expiry date."
	case keyward.CodeMerchantMethodNotAllowed:
		return "Merchant credentials may not call " + id + "; merchants may only create, read, update, delete and search their own jobs and actions."
	case keyward.CodeMethodNotAllowed:
		return "This key may not call " + id + "; its method allowlist does not include it. Ask the tenant's administrator to add it."
	case keyward.CodeInsufficientPermission:
		grant := d.Resource + ": read"
		if d.Level == keyward.LevelWrite {
			grant = d.Resource + ": read-write"
		}
		return "This key lacks " + string(d.Level) + " access to " + d.Resource +
			"; ask the tenant's administrator to grant " + grant + "."
	case keyward.CodeStoreRequired:
		where := ""
		if d.Method != nil {
			switch d.Method.Store.In {
			case catalog.StoreQuery:
				where = " in query parameter " + d.Method.Store.Name
			case catalog.StorePath:
				where = " in path parameter " + d.Method.Store.Name
			case catalog.StoreHeader:
				where = " in header " + d.Method.Store.Name
			}
		}
		return "This key is limited to selected stores, so the request must name one of them" + where + "."
	case keyward.CodeStoreNotAllowed:
		if d.NoSuchStore {
			return "The tenant has no store " + strconv.Quote(d.Store) + "; name one of its stores by id or code."
		}
		return "This key may not act on store " + strconv.Quote(d.Store) + "; ask the tenant's administrator to add the store to the key."
	case keyward.CodeIPNotAllowed:
		if !d.Client.IsValid() {
			return "This credential may be used only from its allowed addresses, and the client's address is not known; POST /v1/verify takes it as client_address."
		}
		return "This credential may not be used from " + d.Client.String() + ": it is limited to its allowed addresses. Call from one of them, or have this address added to the credential's allowed addresses."
	}
	return "The request was refused (" + d.Code + ")."
}
