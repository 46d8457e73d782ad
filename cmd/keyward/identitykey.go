package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/keyward/keyward/identity"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
)

// signs reports whether the node sends identity headers upstream: it runs
// the gateway (an upstream, or the demo's) or forward-auth.
func (m *Main) signs() bool {
	c := m.Config
	return c.Upstream != "" || c.Demo || c.Observe.AuthzAddr != "" || c.Observe.AuthzGRPCAddr != ""
}

// openIdentity sets up the key signing identity headers. KEYWARD_IDENTITY_KEY,
// when set, is the one key. Otherwise the keys are kept in the database,
// sealed with the master key, so that every node of the database signs
// with the same key across restarts; the first node creates it, and a
// rotation reaches every node through the change log.
func (m *Main) openIdentity(ctx context.Context) error {
	if !m.signs() {
		return nil
	}
	if m.Config.IdentityKey != "" {
		s, err := identity.NewSigner([]byte(m.Config.IdentityKey))
		if err != nil {
			return fmt.Errorf("KEYWARD_IDENTITY_KEY: %w", err)
		}
		m.obs.signer = s
		return nil
	}
	keys, err := m.Service.IdentityKeys(ctx)
	if err != nil {
		return fmt.Errorf("identity key: %w", err)
	}
	cur, _ := service.CurrentIdentityKey(keys)
	if m.obs.signer, err = identity.NewSigner([]byte(cur.Secret)); err != nil {
		return err
	}
	if m.obs.verifier, err = identity.NewKeySetVerifier(identitySecrets(keys), identity.Options{}); err != nil {
		return err
	}
	m.Replica.OnOther = func(ctx context.Context, c store.Change) error {
		if !service.IsIdentityKeyChange(c.Kind) {
			return nil
		}
		return m.reloadIdentity(ctx)
	}
	return nil
}

// reloadIdentity reads the identity keys again after a rotation: the node
// signs with the current key, and the demo platform API accepts every
// key listed.
func (m *Main) reloadIdentity(ctx context.Context) error {
	keys, err := m.Service.IdentityKeys(ctx)
	if err != nil {
		return err
	}
	cur, _ := service.CurrentIdentityKey(keys)
	if was := m.obs.signer.KeyID(); was != cur.ID {
		slog.Info("identity key rotated: signing with the new key", "kid", cur.ID, "previous_kid", was)
	}
	if err := m.obs.signer.SetKey([]byte(cur.Secret)); err != nil {
		return err
	}
	return m.obs.verifier.SetKeys(identitySecrets(keys))
}

func identitySecrets(keys []service.IdentityKey) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k.Secret)
	}
	return out
}
