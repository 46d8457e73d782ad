package quota_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/quota"
	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
)

var day = &keyward.Quota{Limit: 3, Period: keyward.QuotaDay}

func take(c *quota.Counter, key string, n int) (allowed int) {
	for range n {
		if c.Take(context.Background(), key, day, true).Allowed {
			allowed++
		}
	}
	return allowed
}

// With Redis unreachable the counter still holds the budget, from its
// own count, and a look (consume false) takes nothing.
func TestCountsOnItsOwnWhenRedisFails(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	c := quota.NewRedis(db, dead, quota.WithRedisTimeout(50*time.Millisecond))
	if r := c.Take(context.Background(), "key_a", day, false); !r.Allowed || r.Remaining != 3 {
		t.Fatalf("a look: %+v", r)
	}
	if got := take(c, "key_a", 5); got != 3 {
		t.Fatalf("%d of 5 allowed with Redis down, want the budget of 3", got)
	}
}

// Two counters sharing Redis allow the budget exactly; after Redis loses
// its count, the next request seeds it from the counts written to the
// database, so the budget is not granted twice.
func TestRedisCountIsSharedAndSeededFromTheDatabase(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t, client)
	db := storetest.Open(t, store.SQLite)
	a := quota.NewRedis(db, client, quota.WithPrefix(prefix))
	b := quota.NewRedis(db, client, quota.WithPrefix(prefix))
	if got := take(a, "key_b", 2) + take(b, "key_b", 2); got != 3 {
		t.Fatalf("%d of 4 allowed across two counters, want 3", got)
	}
	ctx := context.Background()
	for _, c := range []*quota.Counter{a, b} {
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("Redis keys: %v %v", keys, err)
	}
	client.Del(ctx, keys...)
	c := quota.NewRedis(db, client, quota.WithPrefix(prefix))
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := take(c, "key_b", 2); got != 0 {
		t.Fatalf("%d allowed after Redis lost the count, want 0", got)
	}
}
