package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
	"github.com/keyward/keyward/internal/webhook"
)

// arrivals is a slow receiver on 127.0.0.1 noting when each request
// arrives, by path. It holds every request until it is opened.
type arrivals struct {
	srv  *httptest.Server
	gate chan struct{}
	open func()
	mu   sync.Mutex
	at   map[string][]arrival
}

type arrival struct {
	id string // webhook-id
	at time.Time
}

func newArrivals(t *testing.T) *arrivals {
	a := &arrivals{at: map[string][]arrival{}, gate: make(chan struct{})}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.at[r.URL.Path] = append(a.at[r.URL.Path], arrival{r.Header.Get("webhook-id"), time.Now()})
		a.mu.Unlock()
		// Slow, so that deliveries queue up on the dispatcher behind the
		// requests under way.
		select {
		case <-a.gate:
		case <-r.Context().Done():
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	a.open = sync.OnceFunc(func() { close(a.gate) })
	t.Cleanup(a.srv.Close)
	t.Cleanup(a.open)
	return a
}

func (a *arrivals) of(path string) []arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]arrival(nil), a.at[path]...)
}

// count runs a COUNT query with one argument on either engine.
func count(t *testing.T, db *store.DB, query, arg string) int {
	t.Helper()
	if db.Engine() == store.Postgres {
		query = strings.ReplaceAll(query, "?", "$1")
	}
	var n int
	if err := db.SQL().QueryRow(query, arg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Endpoints deleted, disabled or moved to another URL while the dispatcher
// is sending to them: once the call returns, no request starts to them (to
// the old URL), nothing is logged at ERROR, a deleted endpoint leaves no
// delivery or attempt behind, a disabled one's pending deliveries end
// cancelled (failed, to be replayed), and the other endpoints are served
// as usual.
func TestStoppingEndpointsWhileSending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// Enough workers for every endpoint to have its fill: requests
		// under way, more claimed behind them and more in the outbox.
		f := newFixtureWith(t, db, loopback, func(c *webhook.Config) {
			c.Workers = 256
			c.Timeout = 5 * time.Minute // requests wait for the receiver to open
		})
		rcv := newArrivals(t)
		defer func() {
			if errs := f.errs.lines(); len(errs) > 0 {
				t.Errorf("logged at ERROR:\n%s", strings.Join(errs, "\n"))
			}
		}()
		const perEndpoint = 40
		const (
			deleted = iota
			deleted2
			disabled
			disabled2
			moved
			kept
			endpoints
		)
		eps := make([]*keyward.WebhookEndpoint, endpoints)
		for i := range eps {
			eps[i] = f.endpoint(keyward.WebhookCreate{URL: fmt.Sprintf("%s/hook/%d", rcv.srv.URL, i), Events: []string{"*"}})
		}
		start := f.clock.now()
		for range perEndpoint {
			for _, ep := range eps {
				if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		path := func(i int) string { return fmt.Sprintf("/hook/%d", i) }
		off, movedURL := false, rcv.srv.URL+"/hook/moved"
		stops := map[int]func() error{
			deleted:  func() error { return f.svc.DeleteWebhook(f.ctx, eps[deleted].ID) },
			deleted2: func() error { return f.svc.DeleteWebhook(f.ctx, eps[deleted2].ID) },
			disabled: func() error {
				_, err := f.svc.UpdateWebhook(f.ctx, eps[disabled].ID, keyward.WebhookUpdate{Enabled: &off})
				return err
			},
			disabled2: func() error {
				_, err := f.svc.UpdateWebhook(f.ctx, eps[disabled2].ID, keyward.WebhookUpdate{Enabled: &off})
				return err
			},
			moved: func() error {
				_, err := f.svc.UpdateWebhook(f.ctx, eps[moved].ID, keyward.WebhookUpdate{URL: &movedURL})
				return err
			},
		}
		// The endpoints are stopped at once while the receiver holds as
		// many requests to each as the dispatcher sends at a time, and
		// lets them go once every change has committed.
		for i := range eps {
			waitUntil(t, func() bool { return len(rcv.of(path(i))) >= webhook.DefaultPerEndpoint })
		}
		returned := make([]time.Time, endpoints)
		var wg sync.WaitGroup
		for i, stop := range stops {
			wg.Go(func() {
				if err := stop(); err != nil {
					t.Errorf("stopping endpoint %d: %v", i, err)
				}
				returned[i] = time.Now()
			})
		}
		waitUntil(t, func() bool {
			for _, i := range []int{deleted, deleted2} {
				if _, err := f.svc.Webhook(f.ctx, eps[i].ID); keyward.ErrorCode(err) != keyward.ENotFound {
					return false
				}
			}
			for _, i := range []int{disabled, disabled2} {
				if w, err := f.svc.Webhook(f.ctx, eps[i].ID); err != nil || w.Enabled {
					return false
				}
			}
			w, err := f.svc.Webhook(f.ctx, eps[moved].ID)
			return err == nil && w.URL == movedURL
		})
		rcv.open()
		wg.Wait()

		// The endpoints left are served in full: the one kept, and the
		// moved one at its new URL.
		f.allSucceed(eps[kept].ID, perEndpoint)
		f.allSucceed(eps[moved].ID, perEndpoint)
		if n := len(rcv.of("/hook/moved")); n == 0 || n+len(rcv.of(path(moved))) < perEndpoint {
			t.Errorf("the moved endpoint got %d deliveries at its new URL and %d at its old one, want %d in all", n, len(rcv.of(path(moved))), perEndpoint)
		}
		for i := range stops {
			got := rcv.of(path(i))
			if len(got) >= perEndpoint {
				t.Errorf("endpoint %d received all %d deliveries before it was stopped; the test proves nothing", i, len(got))
			}
			for _, a := range got {
				if a.at.After(returned[i]) {
					t.Errorf("endpoint %d: delivery %s arrived %s after the call stopping it returned", i, a.id, a.at.Sub(returned[i]))
				}
			}
		}
		for _, i := range []int{deleted, deleted2} {
			if _, err := items(f.svc.ListDeliveries(f.ctx, eps[i].ID, service.DeliveryFilter{})); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Errorf("the deliveries of a deleted endpoint: %v, want not found", err)
			}
			for _, table := range []string{"webhook_deliveries", "webhook_attempts"} {
				if n := count(t, db, "SELECT COUNT(*) FROM "+table+" WHERE endpoint_id = ?", eps[i].ID); n != 0 {
					t.Errorf("%d rows of %s left for a deleted endpoint", n, table)
				}
			}
		}
		for _, i := range []int{disabled, disabled2} {
			// Each request that arrived is in the log once, as succeeded;
			// the rest were cancelled and not sent.
			sent := len(rcv.of(path(i)))
			waitUntil(t, func() bool {
				as, _ := items(f.svc.ListAttempts(f.ctx, eps[i].ID, service.AttemptFilter{Limit: 100}))
				return len(as) == sent
			})
			ds, err := items(f.svc.ListDeliveries(f.ctx, eps[i].ID, service.DeliveryFilter{Limit: 100}))
			if err != nil {
				t.Fatal(err)
			}
			var ok, cancelled int
			for _, d := range ds {
				switch {
				case d.Status == keyward.DeliverySucceeded:
					ok++
				case d.Status == keyward.DeliveryFailed && strings.HasPrefix(d.LastError, "Cancelled:") && d.NextAttemptAt == nil:
					cancelled++
				default:
					t.Errorf("a delivery of a disabled endpoint: %+v, want succeeded or cancelled", d)
				}
			}
			if ok != sent || ok+cancelled != perEndpoint {
				t.Errorf("disabled endpoint %d: %d received, %d succeeded, %d cancelled; want %d in all", i, sent, ok, cancelled, perEndpoint)
			}
		}
		// Enabled again and replayed, a disabled endpoint gets what was
		// cancelled.
		on := true
		if _, err := f.svc.UpdateWebhook(f.ctx, eps[disabled].ID, keyward.WebhookUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		before := len(rcv.of(path(disabled)))
		n, err := f.svc.Replay(f.ctx, eps[disabled].ID, "", start)
		if err != nil || n != perEndpoint-before {
			t.Fatalf("replaying the cancelled deliveries: %d, %v; want %d", n, err, perEndpoint-before)
		}
		f.allSucceed(eps[disabled].ID, perEndpoint)
	})
}

// allSucceed waits for an endpoint's n deliveries to have succeeded.
func (f *fixture) allSucceed(endpointID string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := items(f.svc.ListDeliveries(f.ctx, endpointID, service.DeliveryFilter{Limit: 100}))
		if err != nil {
			f.t.Fatal(err)
		}
		ok := 0
		for _, d := range ds {
			if d.Status == keyward.DeliverySucceeded {
				ok++
			}
		}
		if ok == n && len(ds) == n {
			return
		}
		if time.Now().After(deadline) {
			var states []string
			for _, d := range ds {
				if d.Status != keyward.DeliverySucceeded {
					states = append(states, fmt.Sprintf("%s attempts=%d next=%v error=%q", d.Status, d.Attempts, d.NextAttemptAt, d.LastError))
				}
			}
			f.t.Fatalf("after 30s, %d of %d deliveries succeeded; the others:\n%s", ok, n, strings.Join(states, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stopping node waits for the requests under way at most Drain, then
// cuts them, and hands every delivery it held back to the outbox: none is
// left claimed for the lease, none is recorded as an attempt.
func TestStoppingDispatcherHandsDeliveriesBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixtureWith(t, db, loopback, func(c *webhook.Config) {
			c.Timeout = 5 * time.Minute // the receiver never answers on its own
			c.Drain = 300 * time.Millisecond
			c.Lease = time.Hour
		})
		rcv := newArrivals(t)
		ep := f.endpoint(keyward.WebhookCreate{URL: rcv.srv.URL + "/hook", Events: []string{"*"}})
		const sent = 40
		for range sent {
			if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(rcv.of("/hook")) < webhook.DefaultPerEndpoint {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests under way", len(rcv.of("/hook")))
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		f.stop()
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("stopping took %s with a drain of 300ms", d)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? AND claimed_until IS NULL AND status = 'pending'`, ep.ID); n != sent {
			t.Errorf("%d of %d deliveries handed back", n, sent)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM webhook_attempts WHERE endpoint_id = ?`, ep.ID); n != 0 {
			t.Errorf("%d attempts recorded for requests the stop cut", n)
		}
		if errs := f.errs.lines(); len(errs) > 0 {
			t.Errorf("logged at ERROR:\n%s", strings.Join(errs, "\n"))
		}
	})
}
