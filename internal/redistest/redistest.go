// Package redistest connects tests to a real Redis server.
//
// Redis is found at KEYWARD_TEST_REDIS_ADDR, or at 127.0.0.1:6379 when that
// is unset. When it cannot be reached the Redis tests skip with a message,
// unless CI or KEYWARD_TEST_REQUIRE_REDIS is set: then they fail.
package redistest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultAddr is used when KEYWARD_TEST_REDIS_ADDR is unset.
const DefaultAddr = "127.0.0.1:6379"

// Addr returns the Redis server tests use.
func Addr() string {
	if a := os.Getenv("KEYWARD_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return DefaultAddr
}

// RequireRedis reports whether Redis tests must run rather than skip.
func RequireRedis() bool {
	return os.Getenv("CI") != "" || os.Getenv("KEYWARD_TEST_REQUIRE_REDIS") != ""
}

var (
	pingOnce sync.Once
	pingErr  error
)

// SkipWithoutRedis skips (or, where Redis is required, fails) tb when the
// test server cannot be reached.
func SkipWithoutRedis(tb testing.TB) {
	tb.Helper()
	pingOnce.Do(func() {
		c := redis.NewClient(&redis.Options{Addr: Addr(), DialTimeout: 2 * time.Second, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pingErr = c.Ping(ctx).Err()
	})
	if pingErr == nil {
		return
	}
	msg := fmt.Sprintf("Redis not reachable at %s (%v); set KEYWARD_TEST_REDIS_ADDR to run these tests", Addr(), pingErr)
	if RequireRedis() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Client returns a client of the test server, closed when tb ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	SkipWithoutRedis(tb)
	c := redis.NewClient(&redis.Options{Addr: Addr()})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key prefix unique to this run of tb; every key holding
// it is deleted when tb ends, so tests sharing a server never meet.
func Prefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	p := "kwtest:" + strings.ToLower(rand.Text()[:12]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, "*"+p+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("redistest: listing keys of %s: %v", p, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("redistest: deleting keys of %s: %v", p, err)
			}
		}
	})
	return p
}
