// Package quota counts the requests allowed under keys' quotas (a budget
// per UTC day, per UTC month or a one-off credit) and answers whether one
// more is covered.
//
// Every node counts what it allows in memory and writes its counts to the
// database in batches (Flush); in the same transaction it reads every
// node's totals for the current periods, so each node's view of a period
// is the database's total as of its last flush plus what it allowed since.
// A node never counts a request that was not allowed, so it never refuses
// a request the budget still covers; it may allow more than the budget by
// what other nodes allowed that it has not read yet: at most the key's
// requests over two flush intervals.
//
// Built with NewRedis, the count of each key's period lives in Redis as
// well (one script call per request: seeded from the node's view when the
// period's count is missing, raised only when the request is allowed), so
// every node answers from one exact count. When Redis fails the counter
// answers from its own view until Redis answers again, as the rate
// limiter does.
package quota
