package replica

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Follow keeps the replica current until ctx ends: it syncs every
// interval, and on PostgreSQL also as soon as a change is notified.
func (r *Replica) Follow(ctx context.Context, interval time.Duration) {
	wake := make(chan struct{}, 1)
	if url := r.db.URL(); url != "" {
		go r.listen(ctx, url, wake)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("replica sync failed; answering from memory until it is stale", "err", err, "last_sync", r.LastSync())
		}
	}
}

// listen waits for change notifications, reconnecting after failures.
func (r *Replica) listen(ctx context.Context, url string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN keyward_changes")
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
