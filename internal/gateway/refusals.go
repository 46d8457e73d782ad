package gateway

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// RefusalSummaryEvery is how often, at most, the gateway logs how many
// requests it answered itself with a problem. A refusal writes no log line
// of its own, so a flood of unknown keys costs no logging per request.
const RefusalSummaryEvery = time.Minute

// summaryCodes are the problem codes a refusal summary counts one by one;
// any other code is counted as "other".
var summaryCodes = [...]string{
	keyward.CodeNotFound, keyward.CodeDisabled, keyward.CodeExpired, keyward.CodeLicenceInactive,
	keyward.CodeUnknownMethod, keyward.CodeMethodNotAllowed, keyward.CodeInsufficientPermission,
	keyward.CodeStoreNotAllowed, keyward.CodeStoreRequired, keyward.CodeRateLimited, keyward.CodeUnavailable,
	keyward.CodeInvalidRequest, keyward.CodeStoreAmbiguous, string(keyward.EUnauthenticated), codeBadGateway,
}

// refusals counts the problems the gateway answers, by code, and logs
// their counts in one line at most once per interval: with the first
// problem answered after the interval has passed.
type refusals struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time
	// next is when, in unix nanoseconds, the next summary is due; since
	// when the current one counts.
	next, since atomic.Int64
	counts      [len(summaryCodes) + 1]atomic.Int64
}

func newRefusals(log *slog.Logger, every time.Duration, now func() time.Time) *refusals {
	r := &refusals{log: log, every: every, now: now}
	t := now().UnixNano()
	r.since.Store(t)
	r.next.Store(t + int64(every))
	return r
}

// note counts one problem answered with code.
func (r *refusals) note(code string) {
	i := len(summaryCodes)
	for j, c := range summaryCodes {
		if c == code {
			i = j
			break
		}
	}
	r.counts[i].Add(1)
	now := r.now().UnixNano()
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(r.every)) {
		return
	}
	// This caller won the summary; others keep counting into the next.
	since := r.since.Swap(now)
	attrs := make([]any, 0, 2*len(r.counts)+2)
	var total int64
	for j := range r.counts {
		n := r.counts[j].Swap(0)
		if n == 0 {
			continue
		}
		name := "other"
		if j < len(summaryCodes) {
			name = summaryCodes[j]
		}
		attrs = append(attrs, name, n)
		total += n
	}
	attrs = append(attrs, "seconds", (now-since)/int64(time.Second))
	r.log.Info("gateway: requests answered with a problem since the last summary", append([]any{"total", total}, attrs...)...)
}
