package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// pruneBatch and prunePause keep each pruning transaction short and leave
// writers room between them.
const (
	pruneBatch = 500
	prunePause = 20 * time.Millisecond
)

// startPruning applies the retention settings, and destroys the sealed
// secrets of one-time links that expired unopened, every --prune-interval
// until ctx ends. Nodes sharing a database may prune at once: every batch
// takes only rows that are still there.
func (m *Main) startPruning(ctx context.Context) {
	r := m.Config.Retention
	if m.Config.PruneInterval <= 0 {
		return
	}
	m.background.Go(func() {
		t := time.NewTicker(m.Config.PruneInterval)
		defer t.Stop()
		for {
			if r != (store.Retention{}) {
				prune(ctx, m.DB, r)
			}
			if n, err := m.Service.ExpireHandovers(ctx, pruneBatch); err != nil && ctx.Err() == nil {
				slog.Warn("destroying the secrets of expired one-time links stopped for now; it runs again at the next interval", "err", err)
			} else if n > 0 {
				slog.Info("destroyed the sealed secrets of expired one-time links", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// prune runs batches until one touches nothing, then logs what went.
func prune(ctx context.Context, db *store.DB, r store.Retention) {
	start := time.Now()
	var all store.Pruned
	for ctx.Err() == nil {
		p, err := db.Prune(ctx, r, time.Now(), pruneBatch)
		all.Add(p)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("retention stopped for now; it runs again at the next interval", "err", err)
			}
			return
		}
		if p.Total() == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(prunePause):
		}
	}
	if all.Total() > 0 {
		slog.Info("retention applied", "changes", all.Changes, "usage_rolled_up", all.UsageRolledUp,
			"usage_deleted", all.UsageDeleted, "webhook_events", all.WebhookEvents, "took", time.Since(start).Round(time.Millisecond).String())
	}
}
