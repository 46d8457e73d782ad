package service

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/store"
)

// RetrySchedule is the wait before each retry of a failed delivery, after
// the first attempt at once: about a day in all, as Svix has it. A
// delivery failing every attempt ends failed, and can be replayed.
var RetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DisableAfter is how long an endpoint's deliveries may fail without a
// single success before keyward disables the endpoint.
const DisableAfter = 5 * 24 * time.Hour

// maxRetryAfter bounds how long a receiver's Retry-After can delay a retry.
const maxRetryAfter = 24 * time.Hour

// Due is a claimed delivery, ready to be signed and sent.
type Due struct {
	ID, TenantID, EndpointID, EventID, URL string
	// Attempt is the number of this attempt, from 1.
	Attempt int
	Payload []byte
	// Secrets sign the delivery: the current one first.
	Secrets []string
}

// ClaimDeliveries holds up to limit due deliveries for this node until
// lease ends and returns them with what sending them takes. Deliveries to
// the endpoints in busy are left for later. Nodes sharing a PostgreSQL
// database never claim the same delivery at once; a delivery whose node
// dies is claimed again when its lease ends, and sent with the same
// webhook-id. It checks no caller: it is the dispatcher's.
func (s *Service) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration, busy []string) ([]Due, error) {
	now := s.now()
	var claimed []store.DueDelivery
	err := s.db.Write(ctx, func(q *store.Q) error {
		var err error
		claimed, err = q.ClaimDeliveries(ctx, now, now.Add(lease), limit, busy)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Due, 0, len(claimed))
	opened := map[string][]string{} // per endpoint: a claim often holds many of one
	for _, c := range claimed {
		secrets, ok := opened[c.EndpointID]
		if !ok {
			var err error
			if secrets, err = s.openWebhookSecrets(c.TenantID, c.EndpointID, c.Secrets); err != nil {
				s.log.Error("webhook delivery cannot be signed", "endpoint", c.EndpointID, "delivery", c.ID, "err", err)
				secrets = nil
			}
			opened[c.EndpointID] = secrets
		}
		out = append(out, Due{ID: c.ID, TenantID: c.TenantID, EndpointID: c.EndpointID, EventID: c.EventID, URL: c.URL,
			Attempt: c.Attempts + 1, Payload: c.Payload, Secrets: secrets})
	}
	return out, nil
}

// Outcome is what one attempt at a delivery gave.
type Outcome struct {
	Due        *Due
	At         time.Time
	StatusCode int // 0 when no answer came
	Latency    time.Duration
	Err        string // why it failed, for the delivery log
	Response   string // the start of the answer's body
	RetryAfter time.Duration
	// Dropped is set when the delivery was not sent because its endpoint
	// was stopped (deleted, disabled or moved) after it was claimed: no
	// attempt is recorded, and the claim is given up.
	Dropped bool
}

// OK reports whether the receiver accepted the delivery (a 2xx answer).
func (o *Outcome) OK() bool { return o.StatusCode >= 200 && o.StatusCode < 300 }

// retryAt is when a failed delivery is tried again, or nil when it
// has had every attempt. Waits are jittered by up to a fifth either way so
// retries after an outage do not arrive together, and a longer
// Retry-After from the receiver is honoured.
func retryAt(o *Outcome) *time.Time {
	if o.Due.Attempt > len(RetrySchedule) {
		return nil
	}
	wait := RetrySchedule[o.Due.Attempt-1]
	wait += time.Duration((rand.Float64()*0.4 - 0.2) * float64(wait))
	if o.RetryAfter > wait {
		wait = min(o.RetryAfter, maxRetryAfter)
	}
	t := o.At.Add(wait)
	return &t
}

// RecordOutcomes writes attempts in one transaction: each goes to the
// delivery log and moves its delivery on (succeeded, retried later or
// failed). An endpoint whose deliveries have failed for DisableAfter
// without a success is disabled, with the reason recorded and audited.
//
// The outcomes' endpoints are locked first, so that none is deleted or
// disabled while they are written. Outcomes of an endpoint deleted since
// its deliveries were claimed are not recorded: its deliveries and log
// went with it. A failed attempt at a delivery of a disabled endpoint is
// not retried. A dropped delivery's claim is given up.
func (s *Service) RecordOutcomes(ctx context.Context, outs []Outcome) error {
	return s.db.Write(ctx, func(q *store.Q) error {
		var ids []string
		for i := range outs {
			if !slices.Contains(ids, outs[i].Due.EndpointID) {
				ids = append(ids, outs[i].Due.EndpointID)
			}
		}
		enabled, err := q.LockWebhooks(ctx, ids)
		if err != nil {
			return err
		}
		// Each endpoint's failure record moves once per batch: on its
		// last outcome, or cleared by any success.
		last := map[string]*Outcome{}
		attempts := make([]*store.Attempt, 0, len(outs))
		var release []string
		for i := range outs {
			o := &outs[i]
			on, exists := enabled[o.Due.EndpointID]
			switch {
			case !exists:
				continue
			case o.Dropped:
				release = append(release, o.Due.ID)
				continue
			}
			if prev := last[o.Due.EndpointID]; on && (prev == nil || !prev.OK()) {
				last[o.Due.EndpointID] = o
			}
			a := &store.Attempt{DeliveryID: o.Due.ID, EndpointID: o.Due.EndpointID, Attempt: o.Due.Attempt, At: o.At,
				StatusCode: o.StatusCode, Latency: o.Latency, Error: o.Err, Response: o.Response}
			if o.OK() {
				a.Status = keyward.DeliverySucceeded
			} else if a.Next = retryAt(o); on && a.Next != nil {
				a.Status = keyward.DeliveryPending
			} else {
				a.Status, a.Next = keyward.DeliveryFailed, nil
			}
			attempts = append(attempts, a)
		}
		if err := q.RecordAttempts(ctx, attempts); err != nil {
			return err
		}
		if err := q.ReleaseDeliveries(ctx, release); err != nil {
			return err
		}
		for _, o := range last {
			if err := s.trackEndpoint(ctx, q, o); err != nil {
				return err
			}
		}
		return nil
	})
}

// trackEndpoint keeps an endpoint's failure record and disables it once
// it has failed for DisableAfter.
func (s *Service) trackEndpoint(ctx context.Context, q *store.Q, o *Outcome) error {
	if o.OK() {
		_, err := q.MarkEndpointFailing(ctx, o.Due.EndpointID, nil)
		return err
	}
	since, err := q.MarkEndpointFailing(ctx, o.Due.EndpointID, &o.At)
	if err != nil || since == nil || o.At.Sub(*since) < DisableAfter {
		return err
	}
	w, err := q.Webhook(ctx, o.Due.TenantID, o.Due.EndpointID)
	if err != nil || !w.Enabled {
		return err
	}
	w.Enabled = false
	w.DisabledReason = "Disabled by keyward: every delivery failed from " + since.Format(time.RFC3339) + " to " + o.At.Format(time.RFC3339) +
		" (last: " + o.Err + "). Fix the receiver, enable the endpoint and replay the failed deliveries."
	w.UpdatedAt = o.At
	if err := q.UpdateWebhook(ctx, w); err != nil {
		return err
	}
	n, err := q.CancelDeliveries(ctx, w.ID, cancelledDisabled)
	if err != nil {
		return err
	}
	// The dispatcher records this from its own loop: it stops sending to
	// the endpoint without waiting for the sends under way.
	q.AfterCommit(func() { s.stopDispatch(stopped, w.ID) })
	sys := &keyward.Actor{Kind: keyward.ActorSystem, TenantID: w.TenantID, Address: "dispatcher"}
	return s.audit(ctx, q, sys, w.TenantID, "webhook.auto_disable", "webhook", w.ID,
		map[string]any{"enabled": false, "reason": w.DisabledReason, "cancelled_deliveries": n})
}

// cancelledDisabled is the last error of a delivery cancelled because its
// endpoint was disabled.
const cancelledDisabled = "Cancelled: the endpoint was disabled before this delivery was sent. Enable it and replay the failed deliveries to send it."

// stopped is a context already ended, for stopping the dispatcher's sends
// to an endpoint without waiting for those under way.
var stopped = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// WithDispatchStop sets a function called once an endpoint is deleted,
// disabled or given a new URL: this node's dispatcher must start no more
// sends to it of what it claimed before, and return when the sends under
// way to it have ended or ctx ends.
func WithDispatchStop(fn func(ctx context.Context, endpointID string)) Option {
	return func(s *Service) { s.onStop = fn }
}

func (s *Service) stopDispatch(ctx context.Context, endpointID string) {
	if s.onStop != nil {
		s.onStop(ctx, endpointID)
	}
}
