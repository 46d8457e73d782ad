package quota

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// Result is the answer for one request under a quota.
type Result struct {
	// Allowed reports whether the quota covers the request.
	Allowed bool
	// Limit is the quota's budget per period.
	Limit int64
	// Remaining is how many more requests the period covers.
	Remaining int64
	// Reset is when the budget refills; zero for a credit, which never
	// refills.
	Reset time.Time
	// ResetAfter is the time until Reset; 0 for a credit.
	ResetAfter time.Duration
}

// Defaults of the options.
const (
	DefaultPrefix       = "keyward:"
	DefaultRedisTimeout = 250 * time.Millisecond
)

const (
	// redisBackoff is how long the counter answers from its own view after
	// a Redis failure before trying Redis again.
	redisBackoff = time.Second
	logEvery     = time.Minute
	// creditTTL is how long Redis keeps a credit's count unused; after
	// that it is seeded again from the database's.
	creditTTL = 30 * 24 * time.Hour
)

// Option configures a Counter.
type Option func(*Counter)

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(c *Counter) { c.now = now } }

// WithPrefix sets the prefix of the Redis keys (default DefaultPrefix).
func WithPrefix(p string) Option { return func(c *Counter) { c.prefix = p } }

// WithRedisTimeout bounds each Redis call (default DefaultRedisTimeout).
func WithRedisTimeout(d time.Duration) Option { return func(c *Counter) { c.timeout = d } }

// WithLogger sets the logger for Redis and database failures.
func WithLogger(lg *slog.Logger) Option { return func(c *Counter) { c.log = lg } }

// period names one period of one key's quota.
type period struct {
	keyID string
	kind  string
	start int64 // unix seconds
}

// count is what a node knows of one period.
type count struct {
	base    int64 // every node's total in the database at the last flush
	local   int64 // allowed here since the last flush began
	writing int64 // allowed here and being written
}

func (n *count) used() int64 { return n.base + n.local + n.writing }

// Counter counts requests under quotas. It is safe for concurrent use.
type Counter struct {
	db  *store.DB
	now func() time.Time
	log *slog.Logger

	rdb       *redis.Client
	prefix    string
	timeout   time.Duration
	redisDown atomic.Int64 // unix nanoseconds until which Redis is skipped
	lastLog   atomic.Int64

	mu     sync.Mutex
	counts map[period]*count
}

// New returns a counter whose nodes share counts through db.
func New(db *store.DB, opts ...Option) *Counter {
	c := &Counter{db: db, now: time.Now, log: slog.Default(), prefix: DefaultPrefix, timeout: DefaultRedisTimeout,
		counts: map[period]*count{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NewRedis returns a counter that keeps each period's count in Redis too,
// exact across every node using the same server and prefix.
func NewRedis(db *store.DB, client *redis.Client, opts ...Option) *Counter {
	c := New(db, opts...)
	c.rdb = client
	return c
}

// Take counts one request under quota q of key keyID when the quota
// covers it; with consume false it only looks.
func (c *Counter) Take(ctx context.Context, keyID string, q *keyward.Quota, consume bool) Result {
	now := c.now()
	p := period{keyID: keyID, kind: q.Period, start: q.Start(now).Unix()}
	res := Result{Limit: q.Limit, Reset: q.Reset(now)}
	if !res.Reset.IsZero() {
		res.ResetAfter = res.Reset.Sub(now)
	}
	c.mu.Lock()
	n := c.counts[p]
	if n == nil {
		n = &count{}
		c.counts[p] = n
	}
	used := n.used()
	c.mu.Unlock()
	shared, ok := int64(0), false
	if c.rdb != nil {
		shared, res.Allowed, ok = c.takeRedis(ctx, p, q, used, res.Reset, consume)
	}
	c.mu.Lock()
	if n = c.counts[p]; n == nil {
		// Forgotten by a flush at the end of its period meanwhile.
		n = &count{}
		c.counts[p] = n
	}
	if !ok {
		// What this node knows: the database's total and its own since.
		shared = n.used()
		res.Allowed = shared < q.Limit
		if res.Allowed && consume {
			shared++
		}
	}
	if res.Allowed && consume {
		n.local++
	}
	c.mu.Unlock()
	res.Remaining = max(0, q.Limit-shared)
	return res
}

// takeScript reads a period's count, setting it to the node's view
// (ARGV[1]) with expiry ARGV[2] seconds when it is missing, and raises it
// when it is below the limit (ARGV[3]) and ARGV[4] is "1". It returns
// whether the request is covered and the count after it.
var takeScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '-1')
if n < 0 then
  n = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], n, 'EX', ARGV[2])
end
if n < tonumber(ARGV[3]) then
  if ARGV[4] == '1' then n = redis.call('INCR', KEYS[1]) end
  return {1, n}
end
return {0, n}`)

func (c *Counter) takeRedis(ctx context.Context, p period, q *keyward.Quota, seed int64, reset time.Time, consume bool) (used int64, allowed, ok bool) {
	now := time.Now().UnixNano()
	if now < c.redisDown.Load() {
		return 0, false, false
	}
	ttl := creditTTL
	if !reset.IsZero() {
		// Kept an hour past the period, for nodes whose clocks lag.
		ttl = reset.Sub(c.now()) + time.Hour
	}
	key := c.prefix + "quota:" + p.keyID + ":" + p.kind + ":" + strconv.FormatInt(p.start, 10)
	take := "0"
	if consume {
		take = "1"
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	v, err := takeScript.Run(cctx, c.rdb, []string{key}, seed, int64(ttl/time.Second)+1, q.Limit, take).Int64Slice()
	cancel()
	if err != nil || len(v) != 2 {
		if ctx.Err() == nil {
			c.redisDown.Store(now + int64(redisBackoff))
			if last := c.lastLog.Load(); now-last >= int64(logEvery) && c.lastLog.CompareAndSwap(last, now) {
				c.log.Warn("quota counter: Redis failed; counting quotas per node until it answers", "err", err)
			}
		}
		return 0, false, false
	}
	return v[1], v[0] == 1, true
}

// Flush writes what this node allowed since its last flush and, in the
// same transaction, reads every node's totals for the current periods.
// On failure the counts are kept for the next flush.
func (c *Counter) Flush(ctx context.Context) error {
	type written struct {
		p period
		n int64
	}
	var batch []written
	c.mu.Lock()
	for p, n := range c.counts {
		if n.local > 0 {
			batch = append(batch, written{p, n.local})
			n.writing += n.local
			n.local = 0
		}
	}
	c.mu.Unlock()
	now := c.now()
	day := (&keyward.Quota{Period: keyward.QuotaDay}).Start(now)
	month := (&keyward.Quota{Period: keyward.QuotaMonth}).Start(now)
	var totals []store.QuotaCount
	err := c.db.Write(ctx, func(q *store.Q) error {
		for _, w := range batch {
			if err := q.AddQuotaUse(ctx, store.QuotaCount{KeyID: w.p.keyID, Period: w.p.kind, Start: time.Unix(w.p.start, 0), Used: w.n}); err != nil {
				return err
			}
		}
		var err error
		totals, err = q.QuotaCounts(ctx, day, month)
		return err
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range batch {
		n := c.counts[w.p]
		n.writing -= w.n
		if err != nil {
			n.local += w.n
		}
	}
	if err != nil {
		return err
	}
	for _, t := range totals {
		p := period{keyID: t.KeyID, kind: t.Period, start: t.Start.Unix()}
		n := c.counts[p]
		if n == nil {
			n = &count{}
			c.counts[p] = n
		}
		n.base = t.Used
	}
	// Periods that ended are forgotten once written.
	for p, n := range c.counts {
		if n.local == 0 && n.writing == 0 && ((p.kind == keyward.QuotaDay && p.start < day.Unix()) || (p.kind == keyward.QuotaMonth && p.start < month.Unix())) {
			delete(c.counts, p)
		}
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes once more.
func (c *Counter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := c.Flush(fctx); err != nil {
				c.log.Warn("quota counts not written at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := c.Flush(ctx); err != nil {
				c.log.Warn("quota counts not written; kept for the next flush", "err", err)
			}
		}
	}
}
