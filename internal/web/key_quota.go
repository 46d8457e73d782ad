package web

import (
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// quotaLimit reads the typed limit, allowing the digits to be grouped
// with commas, spaces or dots ("10,000").
func (f keyForm) quotaLimit() (int64, bool) {
	s := strings.NewReplacer(",", "", " ", "", ".", "", "\u00a0", "").Replace(f.QuotaLimit)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// quota is the quota typed; nil when the limit is left empty.
func (f keyForm) quota() *keyward.Quota {
	if f.QuotaLimit == "" {
		return nil
	}
	n, _ := f.quotaLimit()
	return &keyward.Quota{Limit: n, Period: f.QuotaPeriod}
}

// checkQuota refuses a limit that is not a whole number; the service
// checks the rest.
func (f keyForm) checkQuota() error {
	if _, ok := f.quotaLimit(); f.QuotaLimit != "" && !ok {
		return keyward.Invalid("quota", "Write the quota as a whole number of requests, such as 10,000, or leave it empty for no quota.")
	}
	return nil
}

// quotaPeriod is one choice of the key form's quota period.
type quotaPeriod struct {
	Value, Label string
	Selected     bool
}

// QuotaPeriods are the choices of the key form's quota, in its words,
// with the typed one selected (a day when none is).
func (f keyForm) QuotaPeriods() []quotaPeriod {
	out := []quotaPeriod{{keyward.QuotaDay, "a day", false}, {keyward.QuotaMonth, "a month", false}, {keyward.QuotaNone, "in total", false}}
	for i := range out {
		out[i].Selected = out[i].Value == f.QuotaPeriod || (i == 0 && f.QuotaPeriod == "")
	}
	return out
}
