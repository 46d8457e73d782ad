package main

import (
	"context"
	"log/slog"

	"github.com/keyward/keyward/internal/quota"
)

// startQuota makes the quota counter the data plane shares, counting in
// Redis too with --redis, and writes its counts every --usage-flush
// until ctx ends.
func (m *Main) startQuota(ctx context.Context) {
	if m.redis != nil {
		m.Quota = quota.NewRedis(m.DB, m.redis, quota.WithLogger(slog.Default()))
	} else {
		m.Quota = quota.New(m.DB, quota.WithLogger(slog.Default()))
	}
	m.background.Add(1)
	go func() { defer m.background.Done(); m.Quota.Run(ctx, m.Config.UsageFlush) }()
}
