package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// IdentityKey is a key signing the identity headers that the gateway and
// forward-auth send upstream. Every node of a database signs with its
// current key; upstreams verify with every key listed.
type IdentityKey struct {
	// ID is identity.KeyID of the secret, sent in X-Keyward-Signature-Kid.
	ID string `json:"kid"`
	// State is next (published, not signing yet), current (signing) or
	// previous (replaced, still verifying until retired).
	State string `json:"state"`
	// Secret is the HMAC key: 64 lowercase hex characters, used as those
	// 64 bytes, as KEYWARD_IDENTITY_KEY is.
	Secret      string     `json:"secret"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

// identityKeyChange is the change-log kind telling nodes to read the
// identity keys again.
const identityKeyChange = "identity_key"

func identityKeyPlace(id string) seal.Place {
	return seal.Place{RecordID: id, Field: "identity_keys.secret_sealed"}
}

var errIdentityNoMasterKey = keyward.Errorf(keyward.EUnavailable,
	"no master key is set, so the identity keys cannot be kept in the database: "+
		"set KEYWARD_MASTER_KEY (or KEYWARD_MASTER_KEY_FILE), or give every node KEYWARD_IDENTITY_KEY")

// IdentityKeys returns the identity keys, oldest first. When there are
// none, the first caller (a node starting, or the CLI) creates the current
// one; nodes starting at once agree on one. These are the secrets
// upstreams verify with: only the node and the CLI, which hold the master
// key, may read them.
func (s *Service) IdentityKeys(ctx context.Context) ([]IdentityKey, error) {
	if s.keyring == nil {
		return nil, errIdentityNoMasterKey
	}
	keys, err := s.db.Read().IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	if !hasCurrent(keys) {
		if _, err := s.insertIdentityKey(ctx, store.IdentityKeyCurrent); err != nil {
			return nil, err
		}
		if keys, err = s.db.Read().IdentityKeys(ctx); err != nil {
			return nil, err
		}
	}
	return s.openIdentityKeys(keys)
}

func hasCurrent(keys []store.IdentityKey) bool {
	for _, k := range keys {
		if k.State == store.IdentityKeyCurrent {
			return true
		}
	}
	return false
}

// CurrentIdentityKey returns the key that signs among keys.
func CurrentIdentityKey(keys []IdentityKey) (IdentityKey, bool) {
	for _, k := range keys {
		if k.State == store.IdentityKeyCurrent {
			return k, true
		}
	}
	return IdentityKey{}, false
}

func (s *Service) openIdentityKeys(keys []store.IdentityKey) ([]IdentityKey, error) {
	out := make([]IdentityKey, 0, len(keys))
	for _, k := range keys {
		secret, err := s.keyring.Open(seal.Sealed(k.Sealed), identityKeyPlace(k.ID))
		if err != nil {
			return nil, &keyward.Error{Code: keyward.EInternal, Message: "identity key " + k.ID + " does not open", Err: err}
		}
		out = append(out, IdentityKey{ID: k.ID, State: k.State, Secret: string(secret), CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt})
	}
	return out, nil
}

// insertIdentityKey creates a key in state (current or next), unless
// one holds that state already; it reports the key it created, if any.
func (s *Service) insertIdentityKey(ctx context.Context, state string) (*IdentityKey, error) {
	var b [32]byte
	rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	now := s.now()
	k := IdentityKey{ID: identity.KeyID([]byte(secret)), State: state, Secret: secret, CreatedAt: now}
	if state == store.IdentityKeyCurrent {
		k.ActivatedAt = &now
	}
	inserted := false
	err := s.db.Write(ctx, func(q *store.Q) error {
		var err error
		inserted, err = q.InsertIdentityKey(ctx, store.IdentityKey{
			ID: k.ID, Sealed: string(s.keyring.Seal([]byte(secret), identityKeyPlace(k.ID))),
			State: state, CreatedAt: now, ActivatedAt: k.ActivatedAt,
		})
		if err != nil || !inserted {
			return err
		}
		return q.AppendChange(ctx, "", identityKeyChange, k.ID, now)
	})
	if err != nil || !inserted {
		return nil, err
	}
	s.changed(ctx)
	return &k, nil
}

// RotateIdentityKey begins a rotation: it creates the next key, which no
// node signs with until ActivateIdentityKey, so that it can first be
// given to every upstream. A rotation under way (a next key) or not
// finished (a previous key not retired) is a conflict: at most two keys
// are ever in use.
func (s *Service) RotateIdentityKey(ctx context.Context) (*IdentityKey, error) {
	keys, err := s.IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		switch k.State {
		case store.IdentityKeyNext:
			return nil, keyward.Errorf(keyward.EConflict, "identity key %s is already waiting to sign: give it to the upstreams, then activate it, or retire it", k.ID)
		case store.IdentityKeyPrevious:
			return nil, keyward.Errorf(keyward.EConflict, "identity key %s, replaced by the last rotation, still verifies: retire it before rotating again", k.ID)
		}
	}
	k, err := s.insertIdentityKey(ctx, store.IdentityKeyNext)
	if err == nil && k == nil {
		err = keyward.Errorf(keyward.EConflict, "another rotation of the identity key began meanwhile; list the keys and continue it")
	}
	return k, err
}

// ActivateIdentityKey makes the next key the one every node signs with;
// the key it replaces becomes previous, and upstreams keep accepting it
// until RetireIdentityKeys. Nodes take the change up from the change log.
func (s *Service) ActivateIdentityKey(ctx context.Context) (*IdentityKey, error) {
	keys, err := s.IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	var next *IdentityKey
	for i := range keys {
		if keys[i].State == store.IdentityKeyNext {
			next = &keys[i]
		}
	}
	if next == nil {
		return nil, keyward.Errorf(keyward.EConflict, "no identity key is waiting to sign: rotate first")
	}
	now := s.now()
	err = s.db.Write(ctx, func(q *store.Q) error {
		ok, err := q.ActivateIdentityKey(ctx, next.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return errIdentityKeysMoved
		}
		return q.AppendChange(ctx, "", identityKeyChange, next.ID, now)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	next.State, next.ActivatedAt = store.IdentityKeyCurrent, &now
	return next, nil
}

var errIdentityKeysMoved = keyward.Errorf(keyward.EConflict, "the identity keys changed meanwhile; list them and try again")

// RetireIdentityKeys removes every identity key but the current one: the
// previous key after a rotation, which upstreams then stop accepting, or
// a next key not yet activated, which ends its rotation. It returns the
// ids removed.
func (s *Service) RetireIdentityKeys(ctx context.Context) ([]string, error) {
	keys, err := s.IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, k := range keys {
		if k.State != store.IdentityKeyCurrent {
			gone = append(gone, k.ID)
		}
	}
	if len(gone) == 0 {
		return nil, keyward.Errorf(keyward.EConflict, "only the current identity key is kept: there is nothing to retire")
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		for _, id := range gone {
			if err := q.DeleteIdentityKey(ctx, id); err != nil {
				return err
			}
			if err := q.AppendChange(ctx, "", identityKeyChange, id, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return gone, nil
}

// IsIdentityKeyChange reports whether a change-log entry of kind means
// the identity keys changed.
func IsIdentityKeyChange(kind string) bool { return kind == identityKeyChange }
