// Package ratelimit enforces requests-per-second limits with token buckets
// whose burst equals the rate, so a limit of 5 admits 5 requests at once
// and then one every 200 ms.
//
// By default the buckets live in the process, one per key, in sharded maps
// bounded in size: a bucket idle for a second is full again and is dropped
// first when a shard fills, so eviction rarely changes an answer. Built
// with NewRedis, the buckets live in Redis (GCRA through redis_rate), so
// every node behind a load balancer enforces one shared limit. When Redis
// fails the limiter answers from its in-process buckets, so limits stay
// enforced per node until Redis is back.
package ratelimit
