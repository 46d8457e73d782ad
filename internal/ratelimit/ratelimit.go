package ratelimit

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Result is the answer for one request.
type Result struct {
	// Allowed reports whether the request may go ahead.
	Allowed bool
	// Limit is the limit applied, in requests per second; 0 when none.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// ResetAfter is the time until the bucket is full again.
	ResetAfter time.Duration
	// RetryAfter is the time until the next request would be allowed; 0
	// when this one was.
	RetryAfter time.Duration
}

// Defaults of the options.
const (
	DefaultMaxKeys      = 100_000
	DefaultPrefix       = "keyward:"
	DefaultRedisTimeout = 250 * time.Millisecond
)

const (
	shardCount = 64
	// idleFull is how long a bucket takes to refill from empty (burst over
	// rate); a bucket idle that long equals a new one.
	idleFull = time.Second
	// sweepEvery is how often a shard drops its idle buckets.
	sweepEvery = time.Minute
	// redisBackoff is how long the limiter stays in process after a Redis
	// failure before trying Redis again, so a dead server costs one
	// timeout per interval rather than one per request.
	redisBackoff = time.Second
	logEvery     = time.Minute
)

// Option configures a Limiter.
type Option func(*Limiter)

// WithMaxKeys bounds the number of in-process buckets (default
// DefaultMaxKeys). The bound is split evenly over 64 shards, so it is
// rounded down to a multiple of 64, and is at least 64.
func WithMaxKeys(n int) Option { return func(l *Limiter) { l.maxKeys = n } }

// WithPrefix sets the prefix of the Redis keys (default DefaultPrefix);
// redis_rate adds its own "rate:" in front.
func WithPrefix(p string) Option { return func(l *Limiter) { l.prefix = p } }

// WithRedisTimeout bounds each Redis call (default DefaultRedisTimeout);
// a call that takes longer counts as a failure.
func WithRedisTimeout(d time.Duration) Option { return func(l *Limiter) { l.timeout = d } }

// WithLogger sets the logger for Redis failures (default slog.Default()).
func WithLogger(lg *slog.Logger) Option { return func(l *Limiter) { l.log = lg } }

// WithClock sets the clock of the in-process buckets, for tests.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// Limiter decides whether a request under a key is within its limit. It is
// safe for concurrent use.
type Limiter struct {
	now      func() time.Time
	log      *slog.Logger
	maxKeys  int
	perShard int
	seed     maphash.Seed
	shards   [shardCount]shard

	rdb       *redis_rate.Limiter
	prefix    string
	timeout   time.Duration
	redisDown atomic.Int64 // unix nanoseconds until which Redis is skipped
	lastLog   atomic.Int64 // unix nanoseconds of the last failure logged
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   int64 // unix nanoseconds
}

type bucket struct {
	lim       *rate.Limiter
	perSecond int
	used      int64 // unix nanoseconds; guarded by the shard's mutex
}

// New returns an in-process limiter.
func New(opts ...Option) *Limiter {
	l := &Limiter{
		now: time.Now, log: slog.Default(), maxKeys: DefaultMaxKeys,
		seed: maphash.MakeSeed(), prefix: DefaultPrefix, timeout: DefaultRedisTimeout,
	}
	for _, o := range opts {
		o(l)
	}
	l.perShard = max(1, l.maxKeys/shardCount)
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// NewRedis returns a limiter whose buckets live in Redis, shared by every
// node using the same server and prefix. Give the client short dial and
// read timeouts: each request waits for it.
func NewRedis(client *redis.Client, opts ...Option) *Limiter {
	l := New(opts...)
	l.rdb = redis_rate.NewLimiter(client)
	return l
}

// Allow takes one request from the bucket of key, which holds perSecond
// tokens and refills at perSecond per second. perSecond ≤ 0 means no
// limit: the request is allowed and Limit is 0.
func (l *Limiter) Allow(ctx context.Context, key string, perSecond int) Result {
	if perSecond <= 0 {
		return Result{Allowed: true}
	}
	if l.rdb != nil {
		if res, ok := l.allowRedis(ctx, key, perSecond); ok {
			return res
		}
	}
	return l.allowLocal(key, perSecond)
}

// Peek tells what Allow would answer for key without taking a request
// from its bucket.
func (l *Limiter) Peek(ctx context.Context, key string, perSecond int) Result {
	if perSecond <= 0 {
		return Result{Allowed: true}
	}
	if l.rdb != nil {
		if res, ok := l.peekRedis(ctx, key, perSecond); ok {
			return res
		}
	}
	return l.peekLocal(key, perSecond)
}

// Take is Allow when consume is set and Peek otherwise.
func (l *Limiter) Take(ctx context.Context, key string, perSecond int, consume bool) Result {
	if consume {
		return l.Allow(ctx, key, perSecond)
	}
	return l.Peek(ctx, key, perSecond)
}

func (l *Limiter) peekRedis(ctx context.Context, key string, perSecond int) (Result, bool) {
	now := time.Now().UnixNano()
	if now < l.redisDown.Load() {
		return Result{}, false
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	// A cost of 0 reads the bucket without taking from it.
	r, err := l.rdb.AllowN(cctx, l.prefix+key, redis_rate.PerSecond(perSecond), 0)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			l.redisDown.Store(now + int64(redisBackoff))
		}
		return Result{}, false
	}
	res := Result{
		Allowed:    r.Remaining >= 1,
		Limit:      perSecond,
		Remaining:  max(0, r.Remaining),
		ResetAfter: max(0, r.ResetAfter),
	}
	if !res.Allowed {
		res.RetryAfter = max(0, r.RetryAfter) + time.Second/time.Duration(perSecond)
	}
	return res, true
}

func (l *Limiter) peekLocal(key string, perSecond int) Result {
	now := l.now()
	s := &l.shards[maphash.String(l.seed, key)%shardCount]
	s.mu.Lock()
	b := s.buckets[key]
	s.mu.Unlock()
	tokens := float64(perSecond)
	if b != nil && b.perSecond == perSecond {
		tokens = min(max(b.lim.TokensAt(now), 0), float64(perSecond))
	}
	res := Result{
		Allowed:    tokens >= 1,
		Limit:      perSecond,
		Remaining:  int(math.Floor(tokens)),
		ResetAfter: secondsToDuration((float64(perSecond) - tokens) / float64(perSecond)),
	}
	if !res.Allowed {
		res.RetryAfter = max(secondsToDuration((1-tokens)/float64(perSecond)), time.Nanosecond)
	}
	return res
}

func (l *Limiter) allowRedis(ctx context.Context, key string, perSecond int) (Result, bool) {
	now := time.Now().UnixNano()
	if now < l.redisDown.Load() {
		return Result{}, false
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	r, err := l.rdb.Allow(cctx, l.prefix+key, redis_rate.PerSecond(perSecond))
	cancel()
	if err != nil {
		// A request abandoned by its client says nothing about Redis.
		if ctx.Err() == nil {
			l.redisDown.Store(now + int64(redisBackoff))
			if last := l.lastLog.Load(); now-last >= int64(logEvery) && l.lastLog.CompareAndSwap(last, now) {
				l.log.Warn("rate limiter: Redis failed; enforcing limits per node until it answers", "err", err)
			}
		}
		return Result{}, false
	}
	return Result{
		Allowed:    r.Allowed > 0,
		Limit:      perSecond,
		Remaining:  max(0, r.Remaining),
		ResetAfter: max(0, r.ResetAfter),
		RetryAfter: max(0, r.RetryAfter),
	}, true
}

func (l *Limiter) allowLocal(key string, perSecond int) Result {
	now := l.now()
	ns := now.UnixNano()
	s := &l.shards[maphash.String(l.seed, key)%shardCount]
	s.mu.Lock()
	b := s.buckets[key]
	switch {
	case b == nil:
		if len(s.buckets) >= l.perShard || ns-s.swept >= int64(sweepEvery) {
			s.evict(ns, l.perShard)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSecond), perSecond), perSecond: perSecond}
		s.buckets[strings.Clone(key)] = b
	case b.perSecond != perSecond:
		b.lim.SetLimitAt(now, rate.Limit(perSecond))
		b.lim.SetBurstAt(now, perSecond)
		b.perSecond = perSecond
	}
	b.used = ns
	s.mu.Unlock()

	ok := b.lim.AllowN(now, 1)
	tokens := min(max(b.lim.TokensAt(now), 0), float64(perSecond))
	res := Result{
		Allowed:    ok,
		Limit:      perSecond,
		Remaining:  int(math.Floor(tokens)),
		ResetAfter: secondsToDuration((float64(perSecond) - tokens) / float64(perSecond)),
	}
	if !ok {
		res.RetryAfter = max(secondsToDuration((1-tokens)/float64(perSecond)), time.Nanosecond)
	}
	return res
}

// evict drops the buckets idle long enough to have refilled; if the shard
// is still full it drops the least recently used one. Called with s.mu held.
func (s *shard) evict(now int64, limit int) {
	s.swept = now
	for k, b := range s.buckets {
		if now-b.used >= int64(idleFull) {
			delete(s.buckets, k)
		}
	}
	if len(s.buckets) < limit {
		return
	}
	var oldest string
	first := true
	var at int64
	for k, b := range s.buckets {
		if first || b.used < at {
			oldest, at, first = k, b.used, false
		}
	}
	delete(s.buckets, oldest)
}

// Len returns the number of in-process buckets.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func secondsToDuration(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}
