package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/redistest"
)

// clock is a movable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func count(l *ratelimit.Limiter, key string, perSecond, n int) (allowed int, last ratelimit.Result) {
	for range n {
		last = l.Allow(context.Background(), key, perSecond)
		if last.Allowed {
			allowed++
		}
	}
	return allowed, last
}

func TestInProcessBucket(t *testing.T) {
	cases := []struct {
		name      string
		perSecond int
		first     int           // requests at once
		wait      time.Duration // then
		second    int           // requests at once
		want      int           // allowed in all
	}{
		{name: "burst equals the rate", perSecond: 5, first: 20, want: 5},
		{name: "one token per fifth of a second", perSecond: 5, first: 5, wait: 200 * time.Millisecond, second: 5, want: 6},
		{name: "full again after a second", perSecond: 5, first: 5, wait: time.Second, second: 10, want: 10},
		{name: "never more than the burst", perSecond: 5, first: 1, wait: time.Hour, second: 10, want: 6},
		{name: "rate one", perSecond: 1, first: 3, wait: 999 * time.Millisecond, second: 1, want: 1},
		{name: "no limit", perSecond: 0, first: 100, want: 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			l := ratelimit.New(ratelimit.WithClock(clk.now))
			a, _ := count(l, "k", c.perSecond, c.first)
			clk.advance(c.wait)
			b, _ := count(l, "k", c.perSecond, c.second)
			if a+b != c.want {
				t.Fatalf("%d allowed, want %d", a+b, c.want)
			}
		})
	}
}

func TestInProcessResult(t *testing.T) {
	clk := newClock()
	l := ratelimit.New(ratelimit.WithClock(clk.now))
	cases := []struct {
		name       string
		advance    time.Duration
		allowed    bool
		remaining  int
		retryAfter time.Duration
		resetAfter time.Duration
	}{
		{name: "first", allowed: true, remaining: 3, resetAfter: 250 * time.Millisecond},
		{name: "second", allowed: true, remaining: 2, resetAfter: 500 * time.Millisecond},
		{name: "third", allowed: true, remaining: 1, resetAfter: 750 * time.Millisecond},
		{name: "fourth", allowed: true, remaining: 0, resetAfter: time.Second},
		{name: "refused", allowed: false, remaining: 0, retryAfter: 250 * time.Millisecond, resetAfter: time.Second},
		{name: "after a token", advance: 250 * time.Millisecond, allowed: true, remaining: 0, resetAfter: time.Second},
		{name: "half a token later", advance: 125 * time.Millisecond, allowed: false, remaining: 0, retryAfter: 125 * time.Millisecond, resetAfter: 875 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk.advance(c.advance)
			r := l.Allow(context.Background(), "k", 4)
			if r.Allowed != c.allowed || r.Limit != 4 || r.Remaining != c.remaining || r.RetryAfter != c.retryAfter || r.ResetAfter != c.resetAfter {
				t.Fatalf("%+v, want allowed=%v remaining=%d retry=%s reset=%s", r, c.allowed, c.remaining, c.retryAfter, c.resetAfter)
			}
		})
	}
}

func TestKeysAreIndependentAndLimitsChange(t *testing.T) {
	clk := newClock()
	l := ratelimit.New(ratelimit.WithClock(clk.now))
	if a, _ := count(l, "k:a", 3, 10); a != 3 {
		t.Fatalf("a: %d allowed", a)
	}
	if b, _ := count(l, "k:b", 3, 10); b != 3 {
		t.Fatalf("b, beside an exhausted a: %d allowed", b)
	}
	clk.advance(time.Second)
	// A raised limit refills at the new rate from the tokens held.
	if a, r := count(l, "k:a", 10, 20); a != 3 || r.Limit != 10 {
		t.Fatalf("a raised to 10: %d allowed at once, limit %d; want the 3 held", a, r.Limit)
	}
	clk.advance(time.Second)
	if a, _ := count(l, "k:a", 10, 20); a != 10 {
		t.Fatalf("a a second after the raise: %d allowed, want 10", a)
	}
	if a, _ := count(l, "k:a", 2, 20); a != 0 {
		t.Fatalf("a lowered to 2 when exhausted: %d allowed", a)
	}
}

func TestInProcessMapIsBounded(t *testing.T) {
	cases := []struct {
		name    string
		step    time.Duration // between keys
		maxKeys int
	}{
		{name: "busy keys evicted least recently used first", step: 0, maxKeys: 640},
		{name: "idle keys evicted", step: 10 * time.Millisecond, maxKeys: 640},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			l := ratelimit.New(ratelimit.WithClock(clk.now), ratelimit.WithMaxKeys(c.maxKeys))
			for i := range 20 * c.maxKeys {
				l.Allow(context.Background(), "k:"+strconv.Itoa(i), 5)
				clk.advance(c.step)
			}
			if n := l.Len(); n > c.maxKeys || n == 0 {
				t.Fatalf("%d buckets held, bound %d", n, c.maxKeys)
			}
		})
	}
	t.Run("swept after idling", func(t *testing.T) {
		clk := newClock()
		l := ratelimit.New(ratelimit.WithClock(clk.now))
		for i := range 1000 {
			l.Allow(context.Background(), "k:"+strconv.Itoa(i), 5)
		}
		clk.advance(2 * time.Minute)
		for i := range 1000 {
			l.Allow(context.Background(), "new:"+strconv.Itoa(i), 5)
		}
		if n := l.Len(); n >= 2000 {
			t.Fatalf("%d buckets held; the idle ones were not swept", n)
		}
	})
}

func TestInProcessExistingKeyDoesNotAllocate(t *testing.T) {
	l := ratelimit.New()
	key := "k:" + "key_abcdefghijklmnopqrstuvwxyz"
	l.Allow(context.Background(), key, 1000)
	if n := testing.AllocsPerRun(1000, func() { l.Allow(context.Background(), key, 1000) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	cases := []struct {
		name    string
		maxKeys int
		check   bool // the shared key is never evicted, so its count is exact
	}{
		{name: "room for every key", maxKeys: ratelimit.DefaultMaxKeys, check: true},
		{name: "evicting", maxKeys: 128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			l := ratelimit.New(ratelimit.WithClock(clk.now), ratelimit.WithMaxKeys(c.maxKeys))
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := range 500 {
						if l.Allow(context.Background(), "shared", 50).Allowed {
							allowed.Add(1)
						}
						l.Allow(context.Background(), "w:"+strconv.Itoa(w*1000+i%200), 5)
					}
				})
			}
			wg.Wait()
			if got := allowed.Load(); c.check && got != 50 {
				t.Fatalf("%d allowed on a frozen clock, want the burst of 50", got)
			}
			if n := l.Len(); n > c.maxKeys {
				t.Fatalf("%d buckets held, bound %d", n, c.maxKeys)
			}
		})
	}
}

func TestRedisSharedBetweenLimiters(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t, client)
	nodes := []*ratelimit.Limiter{ratelimit.NewRedis(client, ratelimit.WithPrefix(prefix)), ratelimit.NewRedis(client, ratelimit.WithPrefix(prefix))}
	allowed := 0
	var last ratelimit.Result
	for i := range 20 {
		last = nodes[i%2].Allow(context.Background(), "k:shared", 5)
		if last.Allowed {
			allowed++
		}
	}
	if allowed < 5 || allowed > 6 {
		t.Fatalf("%d of 20 allowed across two limiters, want 5 or 6", allowed)
	}
	if last.Allowed || last.Limit != 5 || last.RetryAfter <= 0 || last.ResetAfter <= 0 {
		t.Fatalf("last result %+v", last)
	}
	if n := nodes[0].Len() + nodes[1].Len(); n != 0 {
		t.Fatalf("%d in-process buckets used while Redis answered", n)
	}
	keys, err := client.Keys(context.Background(), "*"+prefix+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("redis keys %q, %v", keys, err)
	}
}

// TestPeekTakesNothing checks Peek answers what Allow would, in process
// and in Redis, without using the bucket.
func TestPeekTakesNothing(t *testing.T) {
	client := redistest.Client(t)
	clk := newClock()
	for name, l := range map[string]*ratelimit.Limiter{
		"in process": ratelimit.New(ratelimit.WithClock(clk.now)),
		"redis":      ratelimit.NewRedis(client, ratelimit.WithPrefix(redistest.Prefix(t, client))),
	} {
		ctx := context.Background()
		for range 10 {
			if r := l.Peek(ctx, "k:p", 3); !r.Allowed || r.Remaining != 3 || r.Limit != 3 {
				t.Fatalf("%s: peek on a full bucket: %+v", name, r)
			}
		}
		for range 3 {
			l.Allow(ctx, "k:p", 3)
		}
		if r := l.Peek(ctx, "k:p", 3); r.Allowed || r.Remaining != 0 || r.RetryAfter <= 0 {
			t.Fatalf("%s: peek on an empty bucket: %+v", name, r)
		}
		if r := l.Take(ctx, "k:p", 3, false); r.Allowed {
			t.Fatalf("%s: Take without consuming: %+v", name, r)
		}
	}
}

func TestRedisDownFallsBackInProcess(t *testing.T) {
	// Nothing listens on port 1 of the loopback address.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	var logs bytes.Buffer
	clk := newClock()
	l := ratelimit.NewRedis(client, ratelimit.WithClock(clk.now), ratelimit.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	allowed, last := count(l, "k:down", 5, 20)
	if allowed != 5 || last.Allowed || last.RetryAfter <= 0 {
		t.Fatalf("%d of 20 allowed with Redis down, last %+v; want the in-process limit of 5", allowed, last)
	}
	if n := bytes.Count(logs.Bytes(), []byte("Redis failed")); n != 1 {
		t.Fatalf("logged %d times, want once: %s", n, logs.String())
	}
}
