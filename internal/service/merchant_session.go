package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// MerchantSession is a merchant portal session; the id a browser holds is
// returned only once, by SignInAny, and stored as its SHA-256.
type MerchantSession = store.MerchantSession

// SignInResult is the outcome of a sign-in on the shared sign-in page:
// either a staff session (possibly waiting for its second factor) or a
// merchant portal session. Token is the session id the browser keeps.
type SignInResult struct {
	Staff    *Session
	Merchant *MerchantSession
	Token    string
}

// SignInAny signs in a staff user or, when the e-mail address and
// password fit no staff user, a merchant user with a portal password.
// Both share SignInTo's throttling: the attempt is counted once, by
// SignInTo, and forgotten when a merchant user's password fits. Either
// way two password checks are made, so the answer takes about as long
// whoever the address belongs to.
func (s *Service) SignInAny(ctx context.Context, domain, email, password, address string) (*SignInResult, error) {
	ses, token, err := s.SignInTo(ctx, domain, email, password, address)
	if err == nil {
		return &SignInResult{Staff: ses, Token: token}, nil
	}
	if keyward.ErrorCode(err) != keyward.EUnauthenticated {
		return nil, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	domain = strings.ToLower(strings.TrimSpace(domain))
	u, merr := s.merchantSignInUser(ctx, domain, email, password)
	if keyward.ErrorCode(merr) == keyward.EUnauthenticated {
		return nil, err
	}
	if keyward.ErrorCode(merr) == keyward.EInvalid {
		// The password was right: not a failure.
		if werr := s.db.Write(ctx, func(q *store.Q) error { return forgetFailedAttempt(ctx, q, email, address, s.now()) }); werr != nil {
			return nil, werr
		}
		return nil, merr
	}
	if merr != nil {
		return nil, merr
	}
	// With a second factor on, the session waits for the code on the same
	// page staff use.
	seed, _, err := s.db.Read().MerchantUserTOTP(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var mses *MerchantSession
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := forgetFailedAttempt(ctx, q, email, address, s.now()); err != nil {
			return err
		}
		if err := q.DeleteStaleMerchantSessions(ctx, s.now(), s.now().Add(-SessionIdle)); err != nil {
			return err
		}
		mses, token, err = s.openMerchantSession(ctx, q, u, address, seed != "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return &SignInResult{Merchant: mses, Token: token}, nil
}

// forgetFailedAttempt forgets the attempt SignInTo counted as a failure
// for email from address: the account's failures from this address end,
// and the address loses its newest failure.
func forgetFailedAttempt(ctx context.Context, q *store.Q, email, address string, now time.Time) error {
	for i, l := range signInLimits(email, address) {
		if i == 0 {
			if err := q.ClearSignInFailures(ctx, l.subject); err != nil {
				return err
			}
			continue
		}
		fs, err := q.SignInFailures(ctx, l.subject, now.Add(-SignInWindow))
		if err != nil {
			return err
		}
		if len(fs) > 0 {
			if err := q.DropSignInFailure(ctx, l.subject, fs[len(fs)-1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// merchantSignInUser finds the merchant user of email (in the tenant of
// domain, when given) whose portal password is password. The password is
// checked against every merchant user holding the address, or against a
// dummy hash when none does.
func (s *Service) merchantSignInUser(ctx context.Context, domain, email, password string) (*keyward.MerchantUser, error) {
	cands, err := s.db.Read().MerchantUsersByEmail(ctx, email, domain)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		s.checkPassword(s.hasher.DummyHash(), password)
		return nil, wrongCredentials()
	}
	var match *keyward.MerchantUser
	fits := 0
	for _, c := range cands {
		hash := c.Hash
		if hash == "" {
			hash = s.hasher.DummyHash()
		}
		ok, _, err := s.checkPassword(hash, password)
		if err != nil && !errors.Is(err, secret.ErrPasswordTooLong) {
			s.log.Error("check password: stored hash unusable", "merchant_user", c.User.ID, "err", err)
		}
		if ok && c.Hash != "" && password != "" {
			fits++
			match = c.User
		}
	}
	switch {
	case fits == 0:
		return nil, wrongCredentials()
	case fits > 1:
		return nil, keyward.Invalid("tenant", "This e-mail address signs in to more than one tenant. Enter the domain of the tenant to sign in to.")
	}
	return match, nil
}

// openMerchantSession inserts a new portal session for u and, unless it
// waits for a second factor, records the sign-in in the audit log.
func (s *Service) openMerchantSession(ctx context.Context, q *store.Q, u *keyward.MerchantUser, address string, pending bool) (*MerchantSession, string, error) {
	token := secret.Generate(secret.KindSession)
	d := secret.Digest(token)
	now := s.now()
	ses := &MerchantSession{
		ID: keyward.NewID("mss"), Digest: d[:], TenantID: u.TenantID, MerchantUserID: u.ID,
		Address: address, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionLifetime), PendingMFA: pending,
	}
	if pending {
		ses.ExpiresAt = now.Add(SecondFactorWindow)
	}
	if err := q.InsertMerchantSession(ctx, ses); err != nil {
		return nil, "", err
	}
	if pending {
		return ses, token, nil
	}
	a := merchantActor(u, "", address)
	if err := s.audit(ctx, q, a, u.TenantID, "merchant_user.sign_in", "merchant_user", u.ID, nil); err != nil {
		return nil, "", err
	}
	return ses, token, nil
}

func merchantActor(u *keyward.MerchantUser, domain, address string) *keyward.Actor {
	return &keyward.Actor{Kind: keyward.ActorMerchant, TenantID: u.TenantID, Domain: domain, UserID: u.ID, Email: u.Email, MerchantID: u.MerchantID, Address: address}
}

// merchantSessionByToken finds the portal session of a session id; nil
// when the id is malformed or unknown.
func (s *Service) merchantSessionByToken(ctx context.Context, token string) (*MerchantSession, error) {
	if kind, err := secret.Parse(token); err != nil || kind != secret.KindSession {
		return nil, nil
	}
	d := secret.Digest(token)
	ses, err := s.db.Read().MerchantSessionByDigest(ctx, d[:])
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return nil, nil
	}
	return ses, err
}

// PortalAPISettings is held by a merchant portal actor who may open API
// Settings (a Merchant Level 2 user with API access), so the portal's menu
// can show it. It is no back-office feature: every administrators' call
// refuses merchant actors whatever they hold.
const PortalAPISettings keyward.Feature = "portal_api_settings"

// WebActor resolves a back-office session id to its caller: a staff user
// (see SessionActor) or a merchant user signed in to the portal, with the
// same idle and absolute limits. A merchant actor holds no features, so
// every administrators' page refuses it.
func (s *Service) WebActor(ctx context.Context, token, address string) (*keyward.Actor, error) {
	a, err := s.SessionActor(ctx, token, address)
	if keyward.ErrorCode(err) != keyward.EUnauthenticated {
		return a, err
	}
	ses, merr := s.merchantSessionByToken(ctx, token)
	if merr != nil {
		return nil, merr
	}
	if ses == nil || ses.PendingMFA {
		// A sign-in waiting for its code opens nothing.
		return nil, err
	}
	now := s.now()
	end := func() (*keyward.Actor, error) {
		if err := s.db.Write(ctx, func(q *store.Q) error { return q.DeleteMerchantSession(ctx, ses.ID) }); err != nil {
			return nil, err
		}
		return nil, sessionEnded()
	}
	if !now.Before(ses.ExpiresAt) || now.Sub(ses.LastSeenAt) >= SessionIdle {
		return end()
	}
	q := s.db.Read()
	u, err := q.MerchantUserByID(ctx, ses.MerchantUserID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return end()
	}
	t, err := q.TenantByID(ctx, u.TenantID)
	if err != nil {
		return nil, err
	}
	a = merchantActor(u, t.Domain, address)
	a.TokenID = ses.ID
	if u.Level == keyward.MerchantLevel2 && u.APIAccess {
		a.Features = keyward.FeatureSet{PortalAPISettings}
	}
	if now.Sub(ses.LastSeenAt) >= time.Second {
		if err := s.db.Write(ctx, func(q *store.Q) error { return q.TouchMerchantSession(ctx, ses.ID, now) }); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// SignOutAny ends the staff or portal session of a session id. An unknown
// or ended session is not an error: the browser is signed out either way.
func (s *Service) SignOutAny(ctx context.Context, token, address string) error {
	ses, err := s.merchantSessionByToken(ctx, token)
	if err != nil {
		return err
	}
	if ses == nil {
		return s.SignOut(ctx, token, address)
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if err := q.DeleteMerchantSession(ctx, ses.ID); err != nil {
			return err
		}
		u, err := q.MerchantUserByID(ctx, ses.MerchantUserID)
		if err != nil || u == nil {
			return err
		}
		return s.audit(ctx, q, merchantActor(u, "", address), u.TenantID, "merchant_user.sign_out", "merchant_user", u.ID, nil)
	})
}

// portalActor returns the caller, who must be a merchant user signed in
// to the portal.
func portalActor(ctx context.Context) (*keyward.Actor, error) {
	a := keyward.ActorFrom(ctx)
	if a == nil {
		return nil, sessionEnded()
	}
	if a.Kind != keyward.ActorMerchant {
		return nil, keyward.Errorf(keyward.EForbidden, "The merchant portal is for merchant users. Staff work in the back office.")
	}
	return a, nil
}

// Portal is what the merchant portal shows its user.
type Portal struct {
	User     *keyward.MerchantUser
	Merchant *keyward.Merchant
	// Stores are the stores the merchant works in.
	Stores []*keyward.Store
	// APISettings says whether the user may see API Settings: Merchant
	// Level 2 users with API access only.
	APISettings bool
	// Suspended says the tenant has no active licence, so the user's API
	// Auth Key is refused until it has one.
	Suspended bool
}

// MerchantPortal returns the calling merchant user's portal: who they
// are, their merchant and its stores, and whether API Settings is theirs.
func (s *Service) MerchantPortal(ctx context.Context) (*Portal, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.Read()
	u, err := q.MerchantUser(ctx, a.TenantID, a.UserID)
	if err != nil {
		return nil, err
	}
	m, err := q.Merchant(ctx, a.TenantID, u.MerchantID)
	if err != nil {
		return nil, err
	}
	p := &Portal{User: u, Merchant: m, APISettings: u.Level == keyward.MerchantLevel2 && u.APIAccess}
	l, err := q.Licence(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	p.Suspended = !l.Active(s.now())
	for _, id := range m.StoreIDs {
		st, err := q.Store(ctx, a.TenantID, id)
		if err != nil {
			return nil, err
		}
		p.Stores = append(p.Stores, st)
	}
	return p, nil
}

// apiSettingsOnly explains why a portal user cannot open API Settings.
func apiSettingsOnly() error {
	return keyward.Errorf(keyward.EForbidden, "API Settings is for Merchant Level 2 users with API access. Ask the tenant's administrators to grant you API access.")
}

// RegenerateOwnAuthKey gives the calling merchant user (Level 2, with API
// access) a new API Auth Key, returned once in the answer's AuthKey; the
// old key stops working at once, or after in.Grace.
func (s *Service) RegenerateOwnAuthKey(ctx context.Context, in keyward.AuthKeyRegenerate) (*keyward.MerchantUser, error) {
	a, err := portalActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
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
		if err := s.requireLicence(ctx, q, a.TenantID); err != nil {
			return err
		}
		s.regenerateAuthKey(u, time.Duration(in.Grace))
		u.UpdatedAt = s.now()
		if err := q.UpdateMerchantUser(ctx, u); err != nil {
			return err
		}
		return s.logChange(ctx, q, a, a.TenantID, "merchant_user.regenerate_key", "merchant_user", u.ID, regenerateChanges(u, time.Duration(in.Grace)))
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return u, nil
}

// SetMerchantUserPassword gives a merchant user a new generated portal
// password, returned once; it needs the Merchants feature. The user's
// portal sessions end, and their two-factor sign-in is turned off: this is
// how a merchant user who lost their authenticator app gets back in (they
// have no recovery codes), and they can turn it on again.
func (s *Service) SetMerchantUserPassword(ctx context.Context, merchantID, userID string) (string, error) {
	a, err := tenantActor(ctx, keyward.FeatureMerchants)
	if err != nil {
		return "", err
	}
	password := secret.GeneratePassword()
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return "", err
	}
	err = s.db.Write(ctx, func(q *store.Q) error {
		u, err := merchantUserOf(ctx, q, a.TenantID, merchantID, userID)
		if err != nil {
			return err
		}
		if err := q.SetMerchantUserPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := q.DeleteMerchantUserSessions(ctx, u.ID); err != nil {
			return err
		}
		seed, _, err := q.MerchantUserTOTP(ctx, u.ID)
		if err != nil {
			return err
		}
		var changes map[string]any
		if seed != "" {
			if err := q.SetMerchantUserTOTP(ctx, u.ID, "", 0); err != nil {
				return err
			}
			changes = map[string]any{"totp": "off"}
		}
		return s.audit(ctx, q, a, a.TenantID, "merchant_user.set_password", "merchant_user", u.ID, changes)
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// MerchantUserCanSignIn reports whether a merchant user has a portal
// password; it needs the Merchants feature.
func (s *Service) MerchantUserCanSignIn(ctx context.Context, userID string) (bool, error) {
	if _, err := tenantActor(ctx, keyward.FeatureMerchants); err != nil {
		return false, err
	}
	return s.db.Read().MerchantUserHasPassword(ctx, userID)
}
