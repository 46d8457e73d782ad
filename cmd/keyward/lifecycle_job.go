package main

import (
	"context"
	"log/slog"
	"time"
)

// startLifecycle sends due expiry warnings and inactivity reports, and
// disables keys unused past their tenant's rule, at start and every
// --lifecycle-interval until ctx ends. Nodes sharing a database may all
// run it: each notice is recorded once, by the transaction sending it.
func (m *Main) startLifecycle(ctx context.Context) {
	every := m.Config.LifecycleInterval
	if every <= 0 {
		return
	}
	m.background.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			run, err := m.Service.RunLifecycle(asOperator(ctx))
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				slog.Warn("key lifecycle stopped for now; it runs again at the next interval", "err", err)
			case run.Warned+run.Reported+run.Disabled > 0:
				slog.Info("key lifecycle applied", "expiry_warnings", run.Warned, "inactivity_reports", run.Reported, "disabled_inactive", run.Disabled)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}
