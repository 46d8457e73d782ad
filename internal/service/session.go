package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Session lifetimes, chosen for an administration tool that hands out
// credentials: a session ends after 15 minutes without a request, and 8
// hours after sign-in however active it is.
const (
	SessionIdle     = 15 * time.Minute
	SessionLifetime = 8 * time.Hour
	// SecondFactorWindow is how long a password-checked sign-in waits for
	// its TOTP code.
	SecondFactorWindow = 5 * time.Minute
)

// Sign-in throttling. Failures are counted per account and client
// address together, so guesses from one address slow down that address
// only: an attacker elsewhere cannot lock the real user out. After
// SignInMaxFailures failures within SignInWindow, each further attempt
// waits SignInBaseDelay after the last failure, doubling with every
// failure up to SignInWindow. One address is also limited across all
// accounts, to SignInAddressMaxFailures, so it cannot guess one password
// against many accounts. An attempt is counted before its password is
// checked, in one transaction with the count, so parallel attempts cannot
// all pass on the same count; a successful one is then forgotten.
const (
	SignInMaxFailures        = 5
	SignInAddressMaxFailures = 20
	SignInWindow             = 15 * time.Minute
	SignInBaseDelay          = time.Minute
)

// Session is a back-office session; the id a browser holds is returned
// only once, by SignIn, and stored as its SHA-256.
type Session = store.Session

// TOTPSetup is a new TOTP seed offered to a user, with the otpauth URI an
// authenticator app reads.
type TOTPSetup struct {
	Secret string
	URI    string
}

// totpOpts are RFC 6238's defaults, which every authenticator app uses.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func wrongCredentials() error {
	return keyward.Errorf(keyward.EUnauthenticated, "The e-mail address or the password is wrong.")
}

func sessionEnded() error {
	return keyward.Errorf(keyward.EUnauthenticated, "Your session has ended. Sign in again.")
}

// SignIn checks an e-mail address and password and opens a session,
// returning it with the session id, which only the browser keeps. An
// unknown address, an inactive user and a wrong password get the same
// answer in about the same time. When the user has a second factor the
// session is pending until SignInSecondFactor accepts a code. When the
// e-mail address and password fit users of several tenants, it asks for
// the tenant: see SignInTo.
func (s *Service) SignIn(ctx context.Context, email, password, address string) (*Session, string, error) {
	return s.SignInTo(ctx, "", email, password, address)
}

// SignInTo is SignIn for the user of one tenant, named by its domain (""
// for whichever tenant's user the password fits). An e-mail address is
// unique within a tenant only; when the password fits users of several
// tenants and no domain is given, the answer is an invalid "tenant" field,
// so the sign-in form asks for it. Someone without the password learns
// nothing about which tenants an address belongs to.
func (s *Service) SignInTo(ctx context.Context, domain, email, password, address string) (*Session, string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	domain = strings.ToLower(strings.TrimSpace(domain))
	att, err := s.attempt(ctx, signInLimits(email, address))
	if err != nil {
		return nil, "", err
	}
	u, rehash, err := s.signInUser(ctx, domain, email, password)
	if keyward.ErrorCode(err) == keyward.EInvalid {
		// The password was right: not a failure.
		if rerr := s.db.Write(ctx, func(q *store.Q) error { return att.succeeded(ctx, q) }); rerr != nil {
			return nil, "", rerr
		}
		return nil, "", err
	}
	if err != nil {
		return nil, "", err
	}
	if rehash {
		if u.PasswordHash, err = s.hasher.Hash(password); err != nil {
			return nil, "", err
		}
	}
	seed, _, err := s.db.Read().UserTOTP(ctx, u.ID)
	if err != nil {
		return nil, "", err
	}
	var ses *Session
	var token string
	err = s.db.Write(ctx, func(q *store.Q) error {
		if err := att.succeeded(ctx, q); err != nil {
			return err
		}
		if rehash {
			if err := q.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		if err := q.DeleteStaleSessions(ctx, s.now(), s.now().Add(-SessionIdle)); err != nil {
			return err
		}
		ses, token, err = s.openSession(ctx, q, u, seed != "", address)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return ses, token, nil
}

// signInUser finds the active user of email (in the tenant of domain, when
// given) whose password is password, and whether its hash wants renewing.
// The password is checked against every user holding the address, or
// against a dummy hash when none does.
func (s *Service) signInUser(ctx context.Context, domain, email, password string) (*keyward.User, bool, error) {
	users, err := s.db.Read().UsersByEmail(ctx, email, domain)
	if err != nil {
		return nil, false, err
	}
	if len(users) == 0 {
		s.checkPassword(s.hasher.DummyHash(), password)
		return nil, false, wrongCredentials()
	}
	var match *keyward.User
	var matchRehash bool
	fits := 0
	for _, u := range users {
		ok, rehash, err := s.checkPassword(u.PasswordHash, password)
		if err != nil && !errors.Is(err, secret.ErrPasswordTooLong) {
			s.log.Error("check password: stored hash unusable", "user", u.ID, "err", err)
		}
		if ok && u.Active && password != "" {
			fits++
			match, matchRehash = u, rehash
		}
	}
	switch {
	case fits == 0:
		return nil, false, wrongCredentials()
	case fits > 1:
		return nil, false, keyward.Invalid("tenant", "This e-mail address signs in to more than one tenant. Enter the domain of the tenant to sign in to.")
	}
	return match, matchRehash, nil
}

// openSession inserts a new session for u and, unless it waits for a
// second factor, records the sign-in in the audit log.
func (s *Service) openSession(ctx context.Context, q *store.Q, u *keyward.User, pending bool, address string) (*Session, string, error) {
	token := secret.Generate(secret.KindSession)
	d := secret.Digest(token)
	now := s.now()
	ses := &Session{
		ID: keyward.NewID("ses"), Digest: d[:], TenantID: u.TenantID, UserID: u.ID, PendingMFA: pending,
		Address: address, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionLifetime), CheckedAt: &now,
	}
	if pending {
		ses.ExpiresAt, ses.CheckedAt = now.Add(SecondFactorWindow), nil
	} else {
		p, err := q.Profile(ctx, u.TenantID, u.ProfileID)
		if err != nil {
			return nil, "", err
		}
		ses.GrantHash = grantHash(u.ProfileID, p.Features, u.MustChangePassword)
	}
	if err := q.InsertSession(ctx, ses); err != nil {
		return nil, "", err
	}
	if !pending {
		a := &keyward.Actor{Kind: keyward.ActorUser, TenantID: u.TenantID, UserID: u.ID, Email: u.Email, Address: address}
		if err := s.audit(ctx, q, a, u.TenantID, "user.sign_in", "user", u.ID, nil); err != nil {
			return nil, "", err
		}
	}
	return ses, token, nil
}

// SignInSecondFactor completes a pending sign-in with a TOTP code. The
// pending session is replaced by a new one with a new id; each code is
// accepted once.
func (s *Service) SignInSecondFactor(ctx context.Context, pendingToken, code, address string) (*Session, string, error) {
	expired := keyward.Errorf(keyward.EUnauthenticated, "The sign-in has expired. Sign in again with your e-mail address and password.")
	pending, err := s.sessionByToken(ctx, pendingToken)
	if err != nil {
		return nil, "", err
	}
	if pending == nil || !pending.PendingMFA || !s.now().Before(pending.ExpiresAt) {
		return nil, "", expired
	}
	u, err := s.db.Read().User(ctx, pending.TenantID, pending.UserID)
	if err != nil || !u.Active {
		return nil, "", expired
	}
	var ses *Session
	var token string
	err = s.checkTOTP(ctx, u.TenantID, u.ID, address, "", code, func(q *store.Q) error {
		if err := q.DeleteSession(ctx, pending.ID); err != nil {
			return err
		}
		ses, token, err = s.openSession(ctx, q, u, false, address)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return ses, token, nil
}

// sessionByToken finds the session of a session id; nil when the id is
// malformed or unknown.
func (s *Service) sessionByToken(ctx context.Context, token string) (*Session, error) {
	if kind, err := secret.Parse(token); err != nil || kind != secret.KindSession {
		return nil, nil
	}
	d := secret.Digest(token)
	ses, err := s.db.Read().SessionByDigest(ctx, d[:])
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return nil, nil
	}
	return ses, err
}

// SessionActor resolves a session id to its user, with the features the
// user's profile holds on this request, so a profile change applies at
// once. The session ends when idle for SessionIdle, after
// SessionLifetime, or when its user is deactivated. The actor's TokenID is
// the session's id.
func (s *Service) SessionActor(ctx context.Context, token, address string) (*keyward.Actor, error) {
	ses, err := s.sessionByToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if ses == nil || ses.PendingMFA {
		return nil, sessionEnded()
	}
	now := s.now()
	end := func() (*keyward.Actor, error) {
		if err := s.db.Write(ctx, func(q *store.Q) error { return q.DeleteSession(ctx, ses.ID) }); err != nil {
			return nil, err
		}
		return nil, sessionEnded()
	}
	if !now.Before(ses.ExpiresAt) || now.Sub(ses.LastSeenAt) >= SessionIdle {
		return end()
	}
	a, err := s.userActor(ctx, ses.TenantID, ses.UserID, address)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return end()
	}
	a.TokenID = ses.ID
	if now.Sub(ses.LastSeenAt) >= time.Second {
		if err := s.db.Write(ctx, func(q *store.Q) error { return q.TouchSession(ctx, ses.ID, now) }); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// RenewSession gives a back-office session a new id when what its user
// is allowed changed since the id was issued (their profile or its
// features) or when their password or second factor changed in it, and
// returns the new id; the old one stops working at once. It returns ""
// when the id stays, and for ids that are not a live session, which
// SessionActor then refuses.
func (s *Service) RenewSession(ctx context.Context, token string) (string, error) {
	ses, err := s.sessionByToken(ctx, token)
	if err != nil || ses == nil || ses.PendingMFA {
		return "", err
	}
	q := s.db.Read()
	u, err := q.User(ctx, ses.TenantID, ses.UserID)
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return "", nil
	} else if err != nil {
		return "", err
	}
	p, err := q.Profile(ctx, u.TenantID, u.ProfileID)
	if err != nil {
		return "", err
	}
	grant := grantHash(u.ProfileID, p.Features, u.MustChangePassword)
	if grant == ses.GrantHash {
		return "", nil
	}
	renewed := secret.Generate(secret.KindSession)
	d := secret.Digest(renewed)
	if err := s.db.Write(ctx, func(q *store.Q) error { return q.RenewSession(ctx, ses.ID, d[:], grant) }); err != nil {
		return "", err
	}
	return renewed, nil
}

// grantHash names what a user is allowed: their profile, its features and
// whether they must change their password. A session's id is renewed when
// it changes.
func grantHash(profileID string, features keyward.FeatureSet, mustChange bool) string {
	parts := []string{profileID, strconv.FormatBool(mustChange)}
	for _, f := range features {
		parts = append(parts, string(f))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// SignOutEverywhere ends every session of the caller, this one included,
// in every browser.
func (s *Service) SignOutEverywhere(ctx context.Context) error {
	a, err := selfActor(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if err := q.DeleteUserSessions(ctx, a.UserID, ""); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.sign_out_everywhere", "user", a.UserID, nil)
	})
}

// SignOut ends the session of a session id. An unknown or ended session
// is not an error: the browser is signed out either way.
func (s *Service) SignOut(ctx context.Context, token, address string) error {
	ses, err := s.sessionByToken(ctx, token)
	if err != nil || ses == nil {
		return err
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if err := q.DeleteSession(ctx, ses.ID); err != nil {
			return err
		}
		if ses.PendingMFA {
			return nil
		}
		u, err := q.User(ctx, ses.TenantID, ses.UserID)
		if err != nil {
			return err
		}
		a := &keyward.Actor{Kind: keyward.ActorUser, TenantID: u.TenantID, UserID: u.ID, Email: u.Email, Address: address}
		return s.audit(ctx, q, a, u.TenantID, "user.sign_out", "user", u.ID, nil)
	})
}

// limit is one throttled subject: what is counted, and how many
// failures it may have within SignInWindow before attempts slow down.
type limit struct {
	subject string
	max     int
}

// signInLimits are the subjects a password sign-in counts against: the
// account from this address, and, when the address is known, the address
// across all accounts.
func signInLimits(email, address string) []limit {
	ls := []limit{{"account:" + email + "|" + address, SignInMaxFailures}}
	if address != "" {
		ls = append(ls, limit{"address:" + address, SignInAddressMaxFailures})
	}
	return ls
}

// totpLimits are the subjects a second-factor check counts against.
func totpLimits(userID, address string) []limit {
	ls := []limit{{"totp:" + userID + "|" + address, SignInMaxFailures}}
	if address != "" {
		ls = append(ls, limit{"address:" + address, SignInAddressMaxFailures})
	}
	return ls
}

// attemptRecord is an attempt counted as a failure until it succeeds.
type attemptRecord struct {
	limits []limit
	at     time.Time
}

// succeeded forgets the attempt: the account's failures from this address
// end, and the address keeps its other failures.
func (a *attemptRecord) succeeded(ctx context.Context, q *store.Q) error {
	for i, l := range a.limits {
		var err error
		if i == 0 {
			err = q.ClearSignInFailures(ctx, l.subject)
		} else {
			err = q.DropSignInFailure(ctx, l.subject, a.at)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// attempt counts an attempt against limits, refusing it when any subject
// must still wait. Counting, checking and recording happen in one
// transaction holding the subjects' locks, so however many attempts
// arrive together, no more pass than the limits allow. The attempt stays
// recorded as a failure unless succeeded forgets it.
func (s *Service) attempt(ctx context.Context, limits []limit) (*attemptRecord, error) {
	now := s.now()
	var until time.Time
	err := s.db.Write(ctx, func(q *store.Q) error {
		subjects := make([]string, len(limits))
		for i, l := range limits {
			subjects[i] = l.subject
		}
		if err := q.LockSignInSubjects(ctx, subjects...); err != nil {
			return err
		}
		for _, l := range limits {
			fs, err := q.SignInFailures(ctx, l.subject, now.Add(-SignInWindow))
			if err != nil {
				return err
			}
			if t := nextAttempt(fs, l.max); t.After(now) && t.After(until) {
				until = t
			}
		}
		if !until.IsZero() {
			return nil
		}
		if err := q.PruneSignInFailures(ctx, now.Add(-SignInWindow)); err != nil {
			return err
		}
		for _, sub := range subjects {
			if err := q.AddSignInFailure(ctx, sub, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !until.IsZero() {
		return nil, throttledError(now, until)
	}
	return &attemptRecord{limits: limits, at: now}, nil
}

// nextAttempt returns when the next attempt may be made after failures
// (oldest first, all within the window): at once below max, else
// SignInBaseDelay after the last failure, doubled for each failure past
// max, and never more than SignInWindow.
func nextAttempt(failures []time.Time, max int) time.Time {
	n := len(failures)
	if n < max {
		return time.Time{}
	}
	delay := SignInBaseDelay
	for i := max; i < n && delay < SignInWindow; i++ {
		delay *= 2
	}
	return failures[n-1].Add(min(delay, SignInWindow))
}

func throttledError(now, until time.Time) error {
	minutes := int(math.Ceil(until.Sub(now).Minutes()))
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	return &keyward.Error{
		Code:    keyward.ERateLimited,
		Message: "Too many failed attempts from this address. Wait " + itoa(int64(minutes)) + " " + unit + " and try again.",
		Details: map[string]any{"retry_after": until.Format(time.RFC3339)},
	}
}

// totpStep returns the time step at which code is valid for seed, allowing
// one step of clock drift either way.
func totpStep(seed, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / int64(totpOpts.Period)
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(seed, time.Unix((step+d)*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// checkTOTP checks a code for the user's second factor (or, when seed is
// given, for that seed, which then becomes the user's, sealed), accepts
// its time step once, and runs then in the same transaction. Attempts
// count towards the user's throttle from this address, as sign-ins do.
func (s *Service) checkTOTP(ctx context.Context, tenantID, userID, address, seed, code string, then func(q *store.Q) error) error {
	return s.checkFactor(ctx, secondFactor{
		userID: userID, place: totpPlace(tenantID, userID),
		stored: func(q *store.Q) (string, int64, error) { return q.UserTOTP(ctx, userID) },
		set:    func(q *store.Q, sealed string, step int64) error { return q.SetUserTOTP(ctx, userID, sealed, step) },
		accept: func(q *store.Q, step int64) (bool, error) { return q.AcceptTOTPStep(ctx, userID, step) },
	}, address, seed, code, then)
}

// secondFactor is where one person's TOTP seed is kept: staff users and
// merchant users each have a table of their own.
type secondFactor struct {
	userID string     // whose; guesses are throttled by it
	place  seal.Place // where the seed is sealed
	stored func(q *store.Q) (sealed string, lastStep int64, err error)
	set    func(q *store.Q, sealed string, step int64) error
	accept func(q *store.Q, step int64) (bool, error)
}

// checkFactor checks code against f's seed, or against seed when it is
// given (a new seed, kept sealed once the code proves it), accepts each
// time step once, throttles guesses per user and address, and runs then
// in the transaction that records the step.
func (s *Service) checkFactor(ctx context.Context, f secondFactor, address, seed, code string, then func(q *store.Q) error) error {
	att, err := s.attempt(ctx, totpLimits(f.userID, address))
	if err != nil {
		return err
	}
	wrong := keyward.Invalid("code", "The code is wrong or has already been used. Enter the current 6-digit code from your authenticator app.")
	stored, _, err := f.stored(s.db.Read())
	if err != nil {
		return err
	}
	var sealed string
	if seed != "" {
		if sealed, err = s.sealTOTP(f.place, seed); err != nil {
			return err
		}
	} else if seed, err = s.openTOTP(f.place, stored); err != nil {
		return err
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	step, ok := totpStep(seed, code, s.now())
	if seed == "" || !ok {
		return wrong
	}
	return s.db.Write(ctx, func(q *store.Q) error {
		if stored == "" {
			// A new seed: it becomes the user's with this step already used.
			if err := f.set(q, sealed, step); err != nil {
				return err
			}
		} else if accepted, err := f.accept(q, step); err != nil {
			return err
		} else if !accepted {
			return wrong
		}
		if err := att.succeeded(ctx, q); err != nil {
			return err
		}
		return then(q)
	})
}

// totpPlace is where a user's TOTP seed is sealed.
func totpPlace(tenantID, userID string) seal.Place {
	return seal.Place{TenantID: tenantID, RecordID: userID, Field: "users.totp_sealed"}
}

// sealTOTP seals a user's new TOTP seed. Without a master key nothing can
// be sealed, and a second factor cannot be turned on.
func (s *Service) sealTOTP(place seal.Place, seed string) (string, error) {
	if s.keyring == nil {
		return "", keyward.Errorf(keyward.EUnavailable, "Two-factor sign-in needs a master key to keep its seed sealed, and none is set. Ask your platform operator to set KEYWARD_MASTER_KEY.")
	}
	return string(s.keyring.Seal([]byte(seed), place)), nil
}

// openTOTP returns the seed of a stored value: sealed, or kept in clear
// by an earlier version until the first start with a master key seals it.
func (s *Service) openTOTP(place seal.Place, stored string) (string, error) {
	if !strings.HasPrefix(stored, seal.Version+".") {
		return stored, nil
	}
	if s.keyring == nil {
		return "", keyward.Errorf(keyward.EUnavailable, "no master key is set, so the TOTP seed cannot be opened")
	}
	b, err := s.keyring.Open(seal.Sealed(stored), place)
	if err != nil {
		return "", &keyward.Error{Code: keyward.EInternal, Message: "the TOTP seed of " + place.Field + " " + place.RecordID + " does not open", Err: err}
	}
	return string(b), nil
}

// sealClearTOTP seals, in place, every TOTP seed an earlier version
// stored in clear.
func (s *Service) sealClearTOTP(ctx context.Context) (int, error) {
	n := 0
	for {
		var batch []store.ClearTOTPSeed
		err := s.db.Write(ctx, func(q *store.Q) error {
			var err error
			if batch, err = q.ClearTOTPSeeds(ctx, 200); err != nil {
				return err
			}
			for _, c := range batch {
				sealed := s.keyring.Seal([]byte(c.Seed), totpPlace(c.TenantID, c.UserID))
				if err := q.SealTOTPSeed(ctx, c.UserID, c.Seed, string(sealed)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(batch)
		if len(batch) < 200 {
			return n, nil
		}
	}
}

// userCaller returns the caller, who must be a signed-in tenant user.
func userCaller(ctx context.Context) (*keyward.Actor, error) {
	a, err := tenantActor(ctx, "")
	if err != nil {
		return nil, err
	}
	if a.Kind != keyward.ActorUser {
		return nil, keyward.Errorf(keyward.EForbidden, "Only a signed-in user can change their own second factor.")
	}
	return a, nil
}

// TOTPEnabled reports whether the caller has a second factor.
func (s *Service) TOTPEnabled(ctx context.Context) (bool, error) {
	a, err := userCaller(ctx)
	if err != nil {
		return false, err
	}
	seed, _, err := s.db.Read().UserTOTP(ctx, a.UserID)
	return seed != "", err
}

// NewTOTP makes a fresh TOTP seed for the caller to load into an
// authenticator app. Nothing is stored until EnableTOTP confirms a code.
func (s *Service) NewTOTP(ctx context.Context) (*TOTPSetup, error) {
	a, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	return newTOTPSetup(a)
}

// newTOTPSetup makes a fresh TOTP seed named after the actor's tenant and
// e-mail address, for staff and merchant users alike.
func newTOTPSetup(a *keyward.Actor) (*TOTPSetup, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "keyward " + a.Domain, AccountName: a.Email, Period: totpOpts.Period, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: k.Secret(), URI: k.URL()}, nil
}

// EnableTOTP makes seed the caller's second factor once code proves an
// authenticator app holds it, and returns RecoveryCodeCount one-time
// recovery codes, shown this once. The seed is kept sealed. The caller's
// other sessions end, and this one gets a new id.
func (s *Service) EnableTOTP(ctx context.Context, seed, code string) ([]string, error) {
	a, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	on, err := s.TOTPEnabled(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkNewSeed(seed, on); err != nil {
		return nil, err
	}
	codes, digests := newRecoveryCodes()
	err = s.checkTOTP(ctx, a.TenantID, a.UserID, a.Address, seed, code, func(q *store.Q) error {
		if err := s.factorChanged(ctx, q, a); err != nil {
			return err
		}
		if err := s.putRecoveryCodes(ctx, q, a.TenantID, a.UserID, digests); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.totp_enable", "user", a.UserID, map[string]any{"recovery_codes": len(codes)})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// checkNewSeed refuses a setup key that is not a seed newTOTPSetup made, and
// a new seed for someone whose second factor is already on.
func checkNewSeed(seed string, on bool) error {
	if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(b) < 16 {
		return keyward.Invalid("secret", "The setup key is not valid. Reload the page to get a new one.")
	}
	if on {
		return keyward.Errorf(keyward.EConflict, "Two-factor sign-in is already on. Turn it off first to use another authenticator.")
	}
	return nil
}

// factorChanged ends the caller's other sessions and gives this one a
// new id on its next request, after a change of password or second factor.
func (s *Service) factorChanged(ctx context.Context, q *store.Q, a *keyward.Actor) error {
	if err := q.DeleteUserSessions(ctx, a.UserID, a.TokenID); err != nil {
		return err
	}
	return q.ExpireSessionGrant(ctx, a.TokenID)
}

// DisableTOTP turns the caller's second factor off, given a current code;
// the recovery codes go with it. The caller's other sessions end, and this
// one gets a new id.
func (s *Service) DisableTOTP(ctx context.Context, code string) error {
	a, err := userCaller(ctx)
	if err != nil {
		return err
	}
	if on, err := s.TOTPEnabled(ctx); err != nil {
		return err
	} else if !on {
		return nil
	}
	return s.checkTOTP(ctx, a.TenantID, a.UserID, a.Address, "", code, func(q *store.Q) error {
		if err := q.SetUserTOTP(ctx, a.UserID, "", 0); err != nil {
			return err
		}
		if err := q.DeleteRecoveryCodes(ctx, a.UserID); err != nil {
			return err
		}
		if err := s.factorChanged(ctx, q, a); err != nil {
			return err
		}
		return s.audit(ctx, q, a, a.TenantID, "user.totp_disable", "user", a.UserID, nil)
	})
}

// Require returns the caller if it is a tenant user holding feature (any
// tenant user for ""), or the error any service call needing it answers.
// Surfaces use it to refuse a page before drawing it.
func Require(ctx context.Context, feature keyward.Feature) (*keyward.Actor, error) {
	return tenantActor(ctx, feature)
}

// CheckKeyLicence returns nil when the caller's tenant holds an active
// licence, else the licence_required error that creating or changing a key
// would answer, so a page can say so before the form is filled in.
func (s *Service) CheckKeyLicence(ctx context.Context) error {
	_, _, err := s.keyActor(ctx, s.db.Read(), true)
	return err
}
