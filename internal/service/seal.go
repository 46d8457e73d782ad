package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// WithKeyring sets the master keyring that seals secrets kept at rest,
// such as webhook signing secrets. Without one, nothing can be sealed and
// creating a webhook endpoint is refused as unavailable.
func WithKeyring(kr *seal.Keyring) Option { return func(s *Service) { s.keyring = kr } }

// Keyring returns the master keyring, or nil when none is set.
func (s *Service) Keyring() *seal.Keyring { return s.keyring }

// canaryPlace is where the canary is sealed; canaryText is what it holds.
var canaryPlace = seal.Place{RecordID: "canary", Field: "seal_canary.sealed"}

const canaryText = "keyward seal canary"

// ErrWrongMasterKey is returned at start when the master keyring cannot
// open what this database holds sealed.
var ErrWrongMasterKey = errors.New("the master key cannot open the secrets this database holds sealed: " +
	"KEYWARD_MASTER_KEY (or KEYWARD_MASTER_KEY_FILE) is not the key they were sealed with; " +
	"after a rotation, keep the old key in the keyring until \"keyward secrets rotate\" has finished")

// ErrNoMasterKey is returned at start when the database holds sealed
// secrets and no master key is set.
var ErrNoMasterKey = errors.New("this database holds sealed secrets but no master key is set: " +
	"set KEYWARD_MASTER_KEY or KEYWARD_MASTER_KEY_FILE to the key they were sealed with")

// CheckSealing checks at start that the keyring opens what is sealed. With
// a keyring, it opens the canary, sealing one first when the database has
// none; a canary that does not open is ErrWrongMasterKey. It then seals
// any TOTP seed an earlier version stored in clear. Without a
// keyring, it returns ErrNoMasterKey when anything sealed is stored.
func (s *Service) CheckSealing(ctx context.Context) error {
	if s.keyring == nil {
		has, err := s.db.Read().HasSealedData(ctx)
		if err != nil {
			return err
		}
		if has {
			return ErrNoMasterKey
		}
		return nil
	}
	err := s.db.Write(ctx, func(q *store.Q) error {
		c, err := q.SealCanary(ctx)
		if err != nil || c != "" {
			return err
		}
		return q.InsertSealCanary(ctx, string(s.keyring.Seal([]byte(canaryText), canaryPlace)), s.now())
	})
	if err != nil {
		return err
	}
	c, err := s.db.Read().SealCanary(ctx)
	if err != nil {
		return err
	}
	got, err := s.keyring.Open(seal.Sealed(c), canaryPlace)
	if err != nil || string(got) != canaryText {
		return ErrWrongMasterKey
	}
	// TOTP seeds stored in clear by earlier versions are sealed in place.
	n, err := s.sealClearTOTP(ctx)
	if n > 0 {
		s.log.Info("sealed TOTP seeds kept in clear by an earlier version", "count", n)
	}
	return err
}

// webhookSecretPlace is where a webhook endpoint's signing secret is sealed.
func webhookSecretPlace(tenantID, endpointID string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: endpointID, Field: "webhook_endpoints.secret_sealed"}
}

// webhookPreviousSecretPlace is where the secret a roll replaced is
// sealed while it keeps signing.
func webhookPreviousSecretPlace(tenantID, endpointID string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: endpointID, Field: "webhook_endpoints.previous_secret_sealed"}
}

func sealedOf(v string) seal.Sealed { return seal.Sealed(v) }

// WebhookSigningSecrets returns the signing secrets of a tenant's webhook
// endpoint, for signing deliveries: the current one, then the one a roll
// replaced while its overlap lasts. It checks no caller, so it is for the
// control plane's own work, never for a request's answer. An endpoint
// created before secrets were kept has none, and must be created again.
func (s *Service) WebhookSigningSecrets(ctx context.Context, tenantID, endpointID string) ([]string, error) {
	v, err := s.db.Read().WebhookSealedSecrets(ctx, tenantID, endpointID)
	if err != nil {
		return []string{}, err
	}
	return s.openWebhookSecrets(tenantID, endpointID, v)
}

func (s *Service) openWebhookSecrets(tenantID, endpointID string, v store.WebhookSecrets) ([]string, error) {
	out := []string{}
	if v.Current == "" {
		return out, nil
	}
	if s.keyring == nil {
		return nil, keyward.Errorf(keyward.EUnavailable, "no master key is set, so webhook signing secrets cannot be opened")
	}
	plain, err := s.keyring.Open(seal.Sealed(v.Current), webhookSecretPlace(tenantID, endpointID))
	if err != nil {
		return nil, &keyward.Error{Code: keyward.EInternal, Message: "the signing secret of webhook endpoint " + endpointID + " does not open", Err: err}
	}
	out = append(out, string(plain))
	if v.Previous != "" && v.PreviousUntil != nil && s.now().Before(*v.PreviousUntil) {
		prev, err := s.keyring.Open(seal.Sealed(v.Previous), webhookPreviousSecretPlace(tenantID, endpointID))
		if err != nil {
			return nil, &keyward.Error{Code: keyward.EInternal, Message: "the previous signing secret of webhook endpoint " + endpointID + " does not open", Err: err}
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// RewrapProgress reports a rotation's progress: values on the primary
// master key so far (Done) out of Total, and how many this run rewrapped.
type RewrapProgress struct {
	Done, Total, Rewrapped int
}

// RewrapSealed moves every sealed value to the keyring's primary master
// key, batch values at a time, each batch in one transaction: a data key
// is unwrapped with the older key and wrapped with the primary, and the
// value itself is unchanged. Values already on the primary are skipped, so
// a run that stops half way can be run again. After each batch, progress
// is called; an error from it stops the run after that committed batch.
func (s *Service) RewrapSealed(ctx context.Context, batch int, progress func(RewrapProgress) error) (RewrapProgress, error) {
	var p RewrapProgress
	if s.keyring == nil {
		return p, ErrNoMasterKey
	}
	if batch < 1 {
		batch = 100
	}
	for _, f := range store.SealedFields {
		n, err := s.db.Read().CountSealed(ctx, f)
		if err != nil {
			return p, err
		}
		p.Total += n
	}
	for _, f := range store.SealedFields {
		after := ""
		for {
			var last string
			var n int
			err := s.db.Write(ctx, func(q *store.Q) error {
				vs, err := q.SealedBatch(ctx, f, after, batch)
				if err != nil {
					return err
				}
				n = len(vs)
				rewrapped := 0
				for _, v := range vs {
					last = v.ID
					if s.keyring.Current(seal.Sealed(v.Value)) {
						continue
					}
					nv, err := s.keyring.Rewrap(seal.Sealed(v.Value))
					if err != nil {
						return fmt.Errorf("%s %s: %w", f.Table, v.ID, err)
					}
					if _, err := q.ReplaceSealed(ctx, f, v.ID, v.Value, string(nv)); err != nil {
						return err
					}
					rewrapped++
				}
				p.Rewrapped += rewrapped
				return nil
			})
			if err != nil {
				return p, err
			}
			if n == 0 {
				break
			}
			p.Done += n
			after = last
			if progress != nil {
				if err := progress(p); err != nil {
					return p, err
				}
			}
			if n < batch {
				break
			}
		}
	}
	return p, nil
}
