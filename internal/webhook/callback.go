package webhook

import (
	"context"
	"time"

	"github.com/keyward/keyward/internal/service"
)

// callbackBatch bounds the approved keys one pass sends to integrators'
// callbacks.
const callbackBatch = 16

// runCallbacks sends approved keys to the callbacks of the integrators
// that asked for them, signed and retried as deliveries are, until ctx
// ends. Keys are few and rare next to events, so one pass at a time sends
// them in turn.
func (d *Dispatcher) runCallbacks(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		due, err := d.svc.ClaimCallbacks(ctx, callbackBatch, d.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhook dispatcher cannot read the key request callbacks", "err", err)
		}
		if len(due) > 0 {
			outs := make([]service.Outcome, 0, len(due))
			for i := range due {
				if d.stopping.Load() || ctx.Err() != nil {
					outs = append(outs, service.Outcome{Due: &due[i], At: d.now(), Dropped: true})
					continue
				}
				outs = append(outs, d.send(&due[i]))
			}
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := d.svc.RecordCallbacks(rctx, outs); err != nil {
				d.log.Error("webhook dispatcher cannot record key request callbacks; they will be sent again when their lease ends", "err", err)
			}
			cancel()
			if len(due) == callbackBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
