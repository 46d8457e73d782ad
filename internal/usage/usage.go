// Package usage counts what the data plane allows: requests per key per
// minute and the last use of each secret. Counts are kept in memory and
// written to the database in batches, so no request waits on a write.
package usage

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/store"
)

type minuteKey struct {
	keyID  string
	minute int64 // unix seconds of the minute's start
}

// Recorder aggregates usage in memory. It is safe for concurrent use.
type Recorder struct {
	db  *store.DB
	now func() time.Time

	mu       sync.Mutex
	counts   map[minuteKey]int64
	lastUsed map[[32]byte]use // secret digest -> its last use

	// OnFlush, when set before Run, learns of every write: how many
	// requests it held and whether it failed.
	OnFlush func(requests int64, err error)
}

// use is a secret's last use: when, and from which client address (the
// zero Addr when not known). The address is kept as a netip.Addr, not a
// string, so recording a request allocates nothing.
type use struct {
	at   int64 // unix nanoseconds
	from netip.Addr
}

// New returns a recorder writing to db.
func New(db *store.DB, now func() time.Time) *Recorder {
	return &Recorder{db: db, now: now, counts: map[minuteKey]int64{}, lastUsed: map[[32]byte]use{}}
}

// Record counts one allowed request made with a key's secret, named by
// its digest, from the client address from.
func (r *Recorder) Record(keyID string, digest [32]byte, from netip.Addr) {
	t := r.now().UnixNano()
	k := minuteKey{keyID, t / int64(time.Second) / 60 * 60}
	r.mu.Lock()
	r.counts[k]++
	r.lastUsed[digest] = use{t, from}
	r.mu.Unlock()
}

// Flush writes what has been counted since the last flush in one
// transaction. On failure the counts are kept for the next flush.
func (r *Recorder) Flush(ctx context.Context) (err error) {
	r.mu.Lock()
	counts, last := r.counts, r.lastUsed
	r.counts, r.lastUsed = map[minuteKey]int64{}, map[[32]byte]use{}
	r.mu.Unlock()
	if len(counts) == 0 && len(last) == 0 {
		return nil
	}
	var requests int64
	for _, n := range counts {
		requests += n
	}
	if r.OnFlush != nil {
		defer func() { r.OnFlush(requests, err) }()
	}
	err = r.db.Write(ctx, func(q *store.Q) error {
		for k, n := range counts {
			if err := q.AddUsage(ctx, k.keyID, time.Unix(k.minute, 0), n); err != nil {
				return err
			}
		}
		for d, u := range last {
			var from string
			if u.from.IsValid() {
				from = u.from.Unmap().String()
			}
			if err := q.TouchKeySecret(ctx, d[:], time.Unix(0, u.at), from); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.mu.Lock()
		for k, n := range counts {
			r.counts[k] += n
		}
		for d, u := range last {
			if u.at > r.lastUsed[d].at {
				r.lastUsed[d] = u
			}
		}
		r.mu.Unlock()
	}
	return err
}

// Run flushes every interval until ctx ends, then flushes once more.
func (r *Recorder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.Flush(fctx); err != nil {
				slog.Warn("usage not written at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				slog.Warn("usage flush failed; kept for the next one", "err", err)
			}
		}
	}
}
