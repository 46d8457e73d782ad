package keyward

import (
	"strconv"
	"time"
)

// Quota periods: a budget per UTC day, per UTC month, or a one-off credit
// that never refills (an administrator tops it up by raising the limit).
const (
	QuotaDay   = "day"
	QuotaMonth = "month"
	QuotaNone  = "none"
)

// Quota is a key's request budget: at most Limit requests allowed in each
// Period. Days and months are UTC; a budget refills at the start of the
// next one.
type Quota struct {
	Limit  int64  `json:"limit"`
	Period string `json:"period"`
}

// MaxQuota is the largest budget a key may have.
const MaxQuota = 1_000_000_000_000

// Validate checks a quota's limit and period.
func (q *Quota) Validate() error {
	switch q.Period {
	case QuotaDay, QuotaMonth, QuotaNone:
	default:
		return Invalid("quota", "quota.period must be \"day\", \"month\" or \"none\" (a one-off credit), not %q", q.Period)
	}
	if q.Limit < 1 || q.Limit > MaxQuota {
		return Invalid("quota", "quota.limit must be between 1 and %d requests", int64(MaxQuota))
	}
	return nil
}

// Start returns the start of the period holding t: midnight UTC of its
// day, the first of its month, or the zero Unix time for a credit.
func (q *Quota) Start(t time.Time) time.Time {
	t = t.UTC()
	switch q.Period {
	case QuotaDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case QuotaMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Unix(0, 0).UTC()
}

// Reset returns when the budget of the period holding t refills: the
// start of the next day or month; the zero time for a credit, which
// never refills.
func (q *Quota) Reset(t time.Time) time.Time {
	switch q.Period {
	case QuotaDay:
		return q.Start(t).AddDate(0, 0, 1)
	case QuotaMonth:
		return q.Start(t).AddDate(0, 1, 0)
	}
	return time.Time{}
}

// String says the quota in plain words, such as "At most 10,000 requests
// a day".
func (q *Quota) String() string {
	s := "At most " + GroupDigits(q.Limit) + " requests"
	if q.Limit == 1 {
		s = "At most 1 request"
	}
	switch q.Period {
	case QuotaDay:
		return s + " a day"
	case QuotaMonth:
		return s + " a month"
	}
	return s + " in total"
}

// GroupDigits writes n in decimal with commas between groups of three
// digits, such as 10,000.
func GroupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// QuotaUsage is how much of a key's quota its current period has used,
// as the database knows it: nodes write their counts every few seconds.
type QuotaUsage struct {
	Used      int64 `json:"used"`
	Remaining int64 `json:"remaining"`
	// ResetAt is when the budget refills; absent for a credit.
	ResetAt *time.Time `json:"reset_at,omitempty"`
}
