package replica

import (
	"context"
	"errors"
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
	var down time.Time // when the database stopped answering; zero while it answers
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		err := r.syncWithin(ctx, max(5*time.Second, interval))
		if errors.Is(err, ErrBehind) {
			r.log.Warn("the change log no longer holds every change since this node's last sync; loading the replica again")
			err = r.Load(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && down.IsZero():
			down = time.Now()
			r.log.Error("database unavailable; the data plane answers from memory until the replica is stale",
				"err", err, "last_sync", r.LastSync())
		case err != nil:
			r.log.Debug("replica sync failed", "err", err)
		case !down.IsZero():
			r.log.Info("database recovered", "unavailable_for", time.Since(down).Round(time.Millisecond).String())
			down = time.Time{}
		}
	}
}

// syncWithin syncs, giving up after d so that a database that hangs
// rather than refuses is noticed too.
func (r *Replica) syncWithin(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return r.Sync(ctx)
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
