package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/leak"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Limits of a leak report.
const (
	MaxLeakReportBody   = 1 << 20
	maxLeakReportTokens = 1000
	maxLeakField        = 2048
)

// leakEvent is the event sent when a live secret is reported leaked.
var leakEvent = keyward.EventType{Type: "key.leaked",
	Description: "A live secret (an API key's, a merchant's Auth Key, a personal access token) was reported found where it should not be; the tenant's leak policy says whether it was disabled.",
	Schema: schema(`{"type":"object","required":["kind","hint","action","leak"],"properties":{
		"kind":{"type":"string"},"hint":{"type":"string"},"action":{"type":"string","enum":["disabled","notified","none"]},
		"key":{"type":"object"},"merchant_user_id":{"type":"string"},"token_id":{"type":"string"},
		"leak":{"type":"object","required":["type","url","source"],"properties":{"type":{"type":"string"},"url":{"type":"string"},"source":{"type":"string"}}}}}`)}

func init() { keywardEvents = append(keywardEvents, leakEvent) }

// errLeakSignature refuses a report whose signature does not verify.
var errLeakSignature = keyward.Errorf(keyward.EUnauthenticated,
	"A leak report must be signed: an ECDSA P-256 signature of the body in Github-Public-Key-Signature by a key the operator installed, named in Github-Public-Key-Identifier.")

// ReportLeaks handles a leak report in the secret scanning partner format.
// The signature is checked first: without a valid one nothing is read or
// changed. Each token is answered true_positive when it is a live keyward
// secret, else false_positive (unknown, failing its checksum, rolled or
// deleted alike: the answer tells nothing more, nor whose a secret is).
// For a live secret the tenant's leak policy applies, and the leak is
// recorded, audited and sent as a key.leaked event. A report whose body
// was accepted before gets the same answer and changes nothing.
func (s *Service) ReportLeaks(ctx context.Context, keys leak.Keys, signer, signature string, body []byte, address string) ([]keyward.LeakAnswer, error) {
	if !keys.Verify(signer, signature, body) {
		return nil, errLeakSignature
	}
	var items []keyward.LeakReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&items); err != nil || dec.More() {
		return nil, keyward.Invalid("", "the body must be a JSON array of {\"token\", \"type\", \"url\", \"source\"}")
	}
	if len(items) > maxLeakReportTokens {
		return nil, &keyward.Error{Code: keyward.ETooLarge, Message: fmt.Sprintf("a report may name at most %d tokens", maxLeakReportTokens)}
	}
	for i, it := range items {
		if it.Token == "" || len(it.Token) > maxLeakField || len(it.Type) > maxLeakField || len(it.URL) > maxLeakField || len(it.Source) > maxLeakField {
			return nil, keyward.Invalid(fmt.Sprintf("[%d]", i), "each token must be given, and each field at most %d bytes", maxLeakField)
		}
	}
	digest := sha256.Sum256(body)
	var answers []keyward.LeakAnswer
	changed := false
	err := s.db.Write(ctx, func(q *store.Q) error {
		answers, changed = nil, false
		if prev, ok, err := q.LeakReportAnswer(ctx, digest[:]); err != nil {
			return err
		} else if ok {
			return json.Unmarshal([]byte(prev), &answers)
		}
		seen := map[[32]byte]bool{}
		for _, it := range items {
			d := secret.Digest(it.Token)
			live := false
			if !seen[d] {
				seen[d] = true
				var err error
				if live, err = s.leaked(ctx, q, it, d, address); err != nil {
					return err
				}
				changed = changed || live
			} else {
				live = answerOf(answers, d) == "true_positive"
			}
			label := "false_positive"
			if live {
				label = "true_positive"
			}
			answers = append(answers, keyward.LeakAnswer{TokenHash: hex.EncodeToString(d[:]), TokenType: it.Type, Label: label})
		}
		raw, err := json.Marshal(answers)
		if err != nil {
			return err
		}
		return q.InsertLeakReport(ctx, digest[:], signer, string(raw), s.now())
	})
	if store.IsUnique(err) {
		// The same report, sent twice at once, was accepted by the other
		// request: this one rolled back and gets its answer.
		prev, ok, rerr := s.db.Read().LeakReportAnswer(ctx, digest[:])
		if rerr != nil || !ok {
			return nil, err
		}
		answers, changed = nil, false
		err = json.Unmarshal([]byte(prev), &answers)
	}
	if err != nil {
		return nil, err
	}
	if changed {
		s.changed(ctx)
	}
	return answers, nil
}

func answerOf(answers []keyward.LeakAnswer, d [32]byte) string {
	h := hex.EncodeToString(d[:])
	for _, a := range answers {
		if a.TokenHash == h {
			return a.Label
		}
	}
	return ""
}

// leaked records one reported token and, for a live secret, applies its
// tenant's policy; it reports whether the secret was live.
func (s *Service) leaked(ctx context.Context, q *store.Q, it keyward.LeakReport, d [32]byte, address string) (bool, error) {
	kind := secret.Check(it.Token)
	l := &keyward.Leak{ID: keyward.NewID("lek"), Kind: kind.Name(), Hint: secret.Hint(it.Token), Type: it.Type, URL: it.URL,
		Source: it.Source, Action: "none", FoundAt: s.now()}
	var (
		tenantID string
		apply    func(a *keyward.Actor, disable bool) (map[string]any, []string, error)
	)
	switch kind {
	case secret.KindAPIKey:
		keyID, tid, live, err := q.LiveKeySecret(ctx, d[:], s.now())
		if err != nil || !live {
			break
		}
		tenantID, l.ObjectType, l.ObjectID = tid, "key", keyID
		apply = func(a *keyward.Actor, disable bool) (map[string]any, []string, error) {
			return s.leakedKey(ctx, q, a, keyID, disable)
		}
	case secret.KindMerchantKey:
		u, err := q.MerchantUserByKeyDigest(ctx, d[:])
		if err != nil {
			return false, err
		}
		current := u != nil && secret.Equal(u.AuthKeyDigest, d[:])
		previous := u != nil && u.PreviousKeyExpiresAt != nil && s.now().Before(*u.PreviousKeyExpiresAt)
		if u == nil || !u.APIAccess || !(current || previous) {
			break
		}
		tenantID, l.ObjectType, l.ObjectID = u.TenantID, "merchant_user", u.ID
		apply = func(a *keyward.Actor, disable bool) (map[string]any, []string, error) {
			return s.leakedAuthKey(ctx, q, a, u, disable)
		}
	case secret.KindPersonalToken:
		t, err := q.TokenByDigest(ctx, d[:])
		if keyward.ErrorCode(err) == keyward.ENotFound || err == nil && t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt) {
			break
		} else if err != nil {
			return false, err
		}
		tenantID, l.ObjectType, l.ObjectID = t.TenantID, "token", t.ID
		apply = func(a *keyward.Actor, disable bool) (map[string]any, []string, error) {
			if disable {
				return map[string]any{"token_id": t.ID}, nil, q.DeleteToken(ctx, t.ID)
			}
			return map[string]any{"token_id": t.ID}, nil, nil
		}
	}
	if apply == nil {
		// Not a live secret of a tenant: recorded, nothing else.
		return false, q.InsertLeak(ctx, "", d[:], l)
	}
	t, err := q.TenantByID(ctx, tenantID)
	if err != nil {
		return false, err
	}
	policy, err := q.LeakPolicy(ctx, tenantID)
	if err != nil {
		return false, err
	}
	a := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: t.ID, Domain: t.Domain, Address: address}
	data, stores, err := apply(a, policy == keyward.LeakPolicyDisable)
	if err != nil {
		return false, err
	}
	l.Action = "notified"
	if policy == keyward.LeakPolicyDisable {
		l.Action = "disabled"
	}
	if err := q.InsertLeak(ctx, tenantID, d[:], l); err != nil {
		return false, err
	}
	where := map[string]any{"type": l.Type, "url": l.URL, "source": l.Source}
	data["kind"], data["hint"], data["action"], data["leak"] = l.Kind, l.Hint, l.Action, where
	if err := s.emit(ctx, q, tenantID, stores, leakEvent.Type, data); err != nil {
		return false, err
	}
	return true, s.audit(ctx, q, a, tenantID, "key.leaked", l.ObjectType, l.ObjectID,
		map[string]any{"kind": l.Kind, "hint": l.Hint, "action": l.Action, "type": l.Type, "url": l.URL, "source": l.Source})
}

// leakedKey disables a leaked API key when disable is set, as a disable
// by an administrator does (change log, audit, key.disabled), and returns
// what the key.leaked event says of it.
func (s *Service) leakedKey(ctx context.Context, q *store.Q, a *keyward.Actor, keyID string, disable bool) (map[string]any, []string, error) {
	k, err := q.Key(ctx, a.TenantID, keyID)
	if err != nil {
		return nil, nil, err
	}
	k.DisplayName = a.Domain + "-" + k.Name
	if disable && k.Enabled {
		k.Enabled, k.UpdatedAt = false, s.now()
		if err := q.UpdateKey(ctx, k); err != nil {
			return nil, nil, err
		}
		if err := version(ctx, q, "api_keys", k.ID, &k.Versioned); err != nil {
			return nil, nil, err
		}
		changes := map[string]any{"enabled": false}
		if err := s.emit(ctx, q, a.TenantID, keyStores(k), "key.disabled", keyEventData(k, changes)); err != nil {
			return nil, nil, err
		}
		if err := s.logChange(ctx, q, a, a.TenantID, "key.disable", "key", k.ID, changes); err != nil {
			return nil, nil, err
		}
	}
	return keyEventData(k, nil), keyStores(k), nil
}

// leakedAuthKey switches off a merchant user's API access when disable is
// set, as an administrator does.
func (s *Service) leakedAuthKey(ctx context.Context, q *store.Q, a *keyward.Actor, u *keyward.MerchantUser, disable bool) (map[string]any, []string, error) {
	m, err := q.Merchant(ctx, a.TenantID, u.MerchantID)
	if err != nil {
		return nil, nil, err
	}
	data := map[string]any{"merchant_id": m.ID, "merchant_user_id": u.ID, "api_account_id": u.AccountID}
	if !disable {
		return data, m.StoreIDs, nil
	}
	revokeAPIAccess(u)
	u.UpdatedAt = s.now()
	if err := q.UpdateMerchantUser(ctx, u); err != nil {
		return nil, nil, err
	}
	if err := version(ctx, q, "merchant_users", u.ID, &u.Versioned); err != nil {
		return nil, nil, err
	}
	if err := s.emitMerchantAccess(ctx, q, m, u, "merchant.api_access.deactivated"); err != nil {
		return nil, nil, err
	}
	return data, m.StoreIDs, s.logChange(ctx, q, a, a.TenantID, "merchant_user.update", "merchant_user", u.ID, map[string]any{"api_access": false})
}

// LeakPolicy returns the caller's tenant's leak policy.
func (s *Service) LeakPolicy(ctx context.Context) (*keyward.LeakPolicy, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	p, err := s.db.Read().LeakPolicy(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	return &keyward.LeakPolicy{OnLeak: p}, nil
}

// SetLeakPolicy sets the caller's tenant's leak policy.
func (s *Service) SetLeakPolicy(ctx context.Context, in keyward.LeakPolicy) (*keyward.LeakPolicy, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		cur, err := q.LeakPolicy(ctx, a.TenantID)
		if err != nil || cur == in.OnLeak {
			return err
		}
		if err := q.SetLeakPolicy(ctx, a.TenantID, in.OnLeak); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "tenant.leak_policy", "tenant", a.TenantID, map[string]any{"on_leak": in.OnLeak})
	})
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// KeyLeaks lists the leaks reported of one of the caller's tenant's keys,
// newest first, for the banner on the key's page.
func (s *Service) KeyLeaks(ctx context.Context, keyID string) ([]*keyward.Leak, error) {
	a, err := tenantActor(ctx, keyward.FeatureAPIManagement)
	if err != nil {
		return nil, err
	}
	return s.db.Read().Leaks(ctx, a.TenantID, keyID)
}
