package web

import (
	"time"

	"github.com/keyward/keyward"
)

// expiryNotice is the banner of a credential expiring within the early
// warning period (7 days) or expired: what happens, and when; "" for one
// with longer to go or no expiry. what names it, e.g. "This key".
func expiryNotice(what, todo string, exp *time.Time, now time.Time) string {
	if !keyward.ExpiringSoon(exp, now) {
		return ""
	}
	if !exp.After(now) {
		return what + " expired on " + when(*exp) + " and is refused. " + todo
	}
	left := exp.Sub(now)
	in := "in less than a day"
	if d := int(left / (24 * time.Hour)); d == 1 {
		in = "in 1 day"
	} else if d > 1 {
		in = "in " + number(int64(d)) + " days"
	}
	return what + " expires on " + when(*exp) + " (" + in + ") and is refused after that. " + todo
}

// previousAuthKey is when a merchant user's replaced API Auth Key stops;
// nil when none is working: once stopped, as intended, it needs no banner.
func previousAuthKey(u *keyward.MerchantUser, now time.Time) *time.Time {
	if u == nil || !u.APIAccess || u.PreviousKeyExpiresAt == nil || !u.PreviousKeyExpiresAt.After(now) {
		return nil
	}
	return u.PreviousKeyExpiresAt
}
