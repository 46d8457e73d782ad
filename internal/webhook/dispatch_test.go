package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/storetest"
	"github.com/keyward/keyward/internal/webhook"
)

// clock is a test clock that starts at the real time (receivers check
// timestamps against it) and moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UTC().UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// loopback lets tests reach their receivers on 127.0.0.1 over HTTP.
var loopback = outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowHTTP: true}

// fixture is the demo tenant with a keyring, a dispatcher and a receiver.
type fixture struct {
	t     *testing.T
	db    *store.DB
	svc   *service.Service
	clock *clock
	ctx   context.Context // the demo tenant's administrator
	disp  *webhook.Dispatcher
	rcv   *receiver
	errs  *errorLog // what the service and the dispatcher log at ERROR
	// stop stops the dispatcher as a stopping node does, and waits for it.
	stop func()
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	return newFixtureWith(t, db, loopback)
}

// newFixtureWith runs the dispatcher under dial, while endpoints may be
// saved for loopback receivers.
func newFixtureWith(t *testing.T, db *store.DB, dial outbound.Config, tune ...func(*webhook.Config)) *fixture {
	t.Helper()
	kr, err := seal.ParseKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, clock: newClock(), rcv: newReceiver(t), errs: &errorLog{}}
	var disp atomic.Pointer[webhook.Dispatcher]
	f.svc = service.New(db, catalog.Builtin(), service.WithClock(f.clock.now), service.WithKeyring(kr), service.WithOutbound(loopback),
		service.WithLogger(slog.New(f.errs)),
		service.WithDispatchWake(func() {
			if d := disp.Load(); d != nil {
				d.Wake()
			}
		}),
		service.WithDispatchStop(func(ctx context.Context, endpointID string) {
			if d := disp.Load(); d != nil {
				d.Stop(ctx, endpointID)
			}
		}))
	ctx := context.Background()
	if _, err := f.svc.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	ten, err := f.svc.TenantByDomain(ctx, service.DemoDomain)
	if err != nil {
		t.Fatal(err)
	}
	f.ctx = keyward.WithActor(ctx, service.SystemActor(ten, "test"))
	cfg := webhook.Config{Outbound: dial, Poll: 20 * time.Millisecond, Timeout: 5 * time.Second, Logger: slog.New(f.errs)}
	for _, fn := range tune {
		fn(&cfg)
	}
	if f.disp, err = webhook.New(f.svc, cfg); err != nil {
		t.Fatal(err)
	}
	disp.Store(f.disp)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.disp.Run(runCtx); close(done) }()
	f.stop = sync.OnceFunc(func() { stop(); <-done })
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) endpoint(in keyward.WebhookCreate) *keyward.WebhookEndpoint {
	f.t.Helper()
	if in.URL == "" {
		in.URL = f.rcv.srv.URL + "/hook"
	}
	w, err := f.svc.CreateWebhook(f.ctx, in)
	if err != nil {
		f.t.Fatalf("create endpoint: %v", err)
	}
	return w
}

func (f *fixture) store(code string) *keyward.Store {
	f.t.Helper()
	st, err := f.svc.CreateStore(f.ctx, keyward.StoreCreate{Code: code, Name: code})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// errorLog is a slog handler keeping the records at ERROR and above.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler               { return l }
func (l *errorLog) WithGroup(string) slog.Handler                    { return l }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.errs = append(l.errs, line)
	l.mu.Unlock()
	return nil
}

func (l *errorLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// receiver records what arrives and answers as told.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(n int) (int, http.Header)
	seen   chan struct{}
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, seen: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), body})
		n := len(r.got)
		answer := r.answer
		r.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			var h http.Header
			status, h = answer(n)
			for k, v := range h {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"received":true}`)
		r.seen <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(fn func(n int) (int, http.Header)) {
	r.mu.Lock()
	r.answer = fn
	r.mu.Unlock()
}

// wait waits for n more deliveries to arrive and returns all received.
func (r *receiver) wait(n int) []delivery {
	r.t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.seen:
		case <-time.After(10 * time.Second):
			r.t.Fatalf("waited 10s for delivery %d of %d", i+1, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// quiet checks that nothing more arrives for a moment.
func (r *receiver) quiet() {
	r.t.Helper()
	select {
	case <-r.seen:
		r.mu.Lock()
		last := r.got[len(r.got)-1]
		r.mu.Unlock()
		r.t.Fatalf("an unexpected delivery arrived: %s", last.body)
	case <-time.After(300 * time.Millisecond):
	}
}

type payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Stores    []string        `json:"stores"`
	Data      json.RawMessage `json:"data"`
}

func decode(t *testing.T, d delivery) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatalf("payload %s: %v", d.body, err)
	}
	return p
}

// Deliveries are signed as Standard Webhooks specifies: the official
// library verifies them with the secret shown at creation, and refuses
// them with another secret or a changed body.
func TestDeliveriesVerifyWithTheStandardWebhooksLibrary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"key.*"}})
		k, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "THQ", Permissions: keyward.Permissions{"orders": "read"}})
		if err != nil {
			t.Fatal(err)
		}
		got := f.rcv.wait(1)
		d := got[0]
		wh, err := standardwebhooks.NewWebhook(ep.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Fatalf("the Standard Webhooks library refuses the delivery: %v\nheaders: %v", err, d.header)
		}
		p := decode(t, d)
		if p.Type != "key.created" || d.header.Get("webhook-id") != p.ID || !strings.HasPrefix(p.ID, "msg_") {
			t.Errorf("delivery = %s with webhook-id %q", d.body, d.header.Get("webhook-id"))
		}
		if !strings.Contains(string(p.Data), k.ID) || strings.Contains(string(d.body), "kw") && strings.Contains(string(d.body), "secret") {
			t.Errorf("key.created data = %s", p.Data)
		}
		other, _ := standardwebhooks.NewWebhook("whsec_" + strings.Repeat("A", 43) + "=")
		if err := other.Verify(d.body, d.header); err == nil {
			t.Error("another secret verifies the delivery")
		}
		if err := wh.Verify(append([]byte(" "), d.body...), d.header); err == nil {
			t.Error("a changed body verifies")
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
	})
}

// An endpoint receives only the event types it subscribes to, and only
// events about its stores (or about the whole tenant).
func TestEndpointsReceiveTheirStoresAndTypesOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		north, south := f.store("north"), f.store("south")
		f.endpoint(keyward.WebhookCreate{Store: "north", Events: []string{"key.created", "key.deleted"}})
		sel := func(ids ...string) keyward.StoreAccess {
			return keyward.StoreAccess{Access: keyward.StoresSelected, IDs: ids}
		}
		create := func(name string, st keyward.StoreAccess) *keyward.Key {
			k, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: name, Permissions: keyward.Permissions{"orders": "read"}, Stores: st})
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		create("south-only", sel(south.ID))
		n := create("north-only", sel(north.ID))
		create("everywhere", keyward.StoreAccess{})
		got := f.rcv.wait(2)
		f.rcv.quiet()
		names := []string{}
		for _, d := range got {
			var data struct {
				Key struct{ Name string } `json:"key"`
			}
			json.Unmarshal(decode(t, d).Data, &data)
			names = append(names, data.Key.Name)
		}
		slices.Sort(names) // deliveries are concurrent: order is not promised
		if strings.Join(names, ",") != "everywhere,north-only" {
			t.Errorf("the north endpoint received keys %v, want north-only and everywhere (all stores)", names)
		}
		// Not subscribed to key.updated.
		off := false
		if _, err := f.svc.UpdateKey(f.ctx, n.ID, keyward.KeyUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		f.rcv.quiet()
		if err := f.svc.DeleteKey(f.ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		if p := decode(t, f.rcv.wait(1)[2]); p.Type != "key.deleted" || len(p.Stores) != 1 || p.Stores[0] != north.ID {
			t.Errorf("third delivery = %+v, want key.deleted about the north store", p)
		}
	})
}

// A failed delivery is retried on the schedule, later when the receiver
// asks with Retry-After, with the same webhook-id; every attempt is in the
// delivery log.
func TestFailedDeliveriesAreRetriedWithTheSameID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.rcv.setAnswer(func(n int) (int, http.Header) {
			if n == 1 {
				return http.StatusServiceUnavailable, http.Header{"Retry-After": {"120"}}
			}
			return http.StatusOK, nil
		})
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		f.rcv.wait(1)
		var ds []*keyward.WebhookDelivery
		waitUntil(t, func() bool {
			ds, _ = items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{}))
			return len(ds) == 1 && ds[0].Attempts == 1
		})
		d := ds[0]
		if d.Status != keyward.DeliveryPending || d.LastStatus != 503 || d.NextAttemptAt == nil {
			t.Fatalf("after a 503: %+v", d)
		}
		if wait := d.NextAttemptAt.Sub(*d.LastAttemptAt); wait < 120*time.Second {
			t.Errorf("retry in %s, want at least the 120s Retry-After asked", wait)
		}
		f.rcv.quiet()
		f.clock.advance(121 * time.Second)
		f.disp.Wake()
		got := f.rcv.wait(1)
		if got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
			t.Errorf("a retry has webhook-id %q, the first attempt %q", got[1].header.Get("webhook-id"), got[0].header.Get("webhook-id"))
		}
		var log []*keyward.WebhookAttempt
		waitUntil(t, func() bool {
			log, _ = items(f.svc.ListAttempts(f.ctx, ep.ID, service.AttemptFilter{}))
			return len(log) == 2
		})
		if log[0].StatusCode != 200 || log[1].StatusCode != 503 || log[1].NextRetryAt == nil || log[0].EventType != "webhook.test" ||
			!strings.Contains(log[0].Response, "received") || log[1].Error == "" {
			t.Errorf("delivery log = %+v, %+v", log[0], log[1])
		}
	})
}

// A delivery failing every attempt ends failed after the schedule (about
// a day); an endpoint failing for days is disabled with the reason kept,
// and replaying a failed delivery sends it again.
func TestGivingUpDisablingAndReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		var failing atomic.Bool
		failing.Store(true)
		f.rcv.setAnswer(func(int) (int, http.Header) {
			if failing.Load() {
				return http.StatusInternalServerError, nil
			}
			return http.StatusNoContent, nil
		})
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
		start := f.clock.now()
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		attempts := len(service.RetrySchedule) + 1
		for i := 0; i < attempts; i++ {
			if i > 0 {
				f.clock.advance(service.RetrySchedule[i-1] * 13 / 10)
				f.disp.Wake()
			}
			f.rcv.wait(1)
			waitUntil(t, func() bool {
				ds, _ := items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{}))
				return ds[0].Attempts == i+1
			})
		}
		ds, _ := items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{}))
		if ds[0].Status != keyward.DeliveryFailed || ds[0].NextAttemptAt != nil {
			t.Fatalf("after %d attempts: %+v, want failed with no next attempt", attempts, ds[0])
		}
		if took := f.clock.now().Sub(start); took < 20*time.Hour || took > 48*time.Hour {
			t.Errorf("the attempts spanned %s, want about a day", took)
		}
		f.clock.advance(service.DisableAfter)
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		f.rcv.wait(1)
		waitUntil(t, func() bool {
			w, _ := f.svc.Webhook(f.ctx, ep.ID)
			return !w.Enabled
		})
		w, _ := f.svc.Webhook(f.ctx, ep.ID)
		if !strings.Contains(w.DisabledReason, "every delivery failed") {
			t.Errorf("disabled reason = %q", w.DisabledReason)
		}
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); keyward.ErrorCode(err) != keyward.EConflict {
			t.Errorf("a test event to a disabled endpoint: %v", err)
		}
		// Fixed, enabled and replayed: the failed delivery arrives, same id.
		failing.Store(false)
		on := true
		if _, err := f.svc.UpdateWebhook(f.ctx, ep.ID, keyward.WebhookUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		n, err := f.svc.Replay(f.ctx, ep.ID, ds[0].ID, time.Time{})
		if err != nil || n != 1 {
			t.Fatalf("replay: %d, %v", n, err)
		}
		got := f.rcv.wait(1)
		last := got[len(got)-1]
		if last.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
			t.Error("a replayed delivery has a new webhook-id")
		}
		waitUntil(t, func() bool {
			d, _ := items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{Status: keyward.DeliverySucceeded}))
			return len(d) == 1
		})
		// The second test event's delivery was cancelled when the endpoint
		// was disabled; replaying the failed ones since the start sends it,
		// and nothing more.
		cancelled, _ := items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{Status: keyward.DeliveryFailed}))
		if len(cancelled) != 1 || !strings.HasPrefix(cancelled[0].LastError, "Cancelled:") {
			t.Fatalf("failed deliveries after the endpoint was disabled and one replayed: %+v, want the one cancelled", cancelled)
		}
		if n, err := f.svc.Replay(f.ctx, ep.ID, "", start); err != nil || n != 1 {
			t.Errorf("replay failed since start: %d, %v; want the cancelled one", n, err)
		}
		f.rcv.wait(1)
		waitUntil(t, func() bool {
			d, _ := items(f.svc.ListDeliveries(f.ctx, ep.ID, service.DeliveryFilter{Status: keyward.DeliverySucceeded}))
			return len(d) == 2
		})
		f.rcv.quiet()
	})
}

// Rolling a secret keeps the old one signing beside the new one for the
// overlap, so a receiver holding either accepts; afterwards only the new.
func TestRolledSecretsOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
		rolled, err := f.svc.RollWebhookSecret(f.ctx, ep.ID, keyward.WebhookRoll{Overlap: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		if rolled.Secret == ep.Secret || rolled.PreviousSecretUntil == nil {
			t.Fatalf("roll = %+v", rolled)
		}
		send := func() delivery {
			if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
				t.Fatal(err)
			}
			got := f.rcv.wait(1)
			return got[len(got)-1]
		}
		verifies := func(secret string, d delivery) bool {
			wh, _ := standardwebhooks.NewWebhook(secret)
			return wh.VerifyIgnoringTimestamp(d.body, d.header) == nil
		}
		d := send()
		if !verifies(ep.Secret, d) || !verifies(rolled.Secret, d) || len(strings.Fields(d.header.Get("webhook-signature"))) != 2 {
			t.Errorf("during the overlap: signature %q, want one by each secret", d.header.Get("webhook-signature"))
		}
		f.clock.advance(time.Hour + time.Second)
		d = send()
		if verifies(ep.Secret, d) || !verifies(rolled.Secret, d) {
			t.Errorf("after the overlap the old secret still verifies, or the new does not")
		}
		if _, err := f.svc.RollWebhookSecret(f.ctx, ep.ID, keyward.WebhookRoll{Overlap: "200h"}); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("an overlap over 7 days: %v", err)
		}
	})
}

// An event is recorded with its change or not at all: a change refused
// sends nothing, and platform events are checked against their schema.
func TestEventsCommitWithTheirChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
		if _, err := f.svc.CreateKey(f.ctx, keyward.KeyCreate{Name: "bad name!"}); err == nil {
			t.Fatal("a bad key name was accepted")
		}
		ten, _ := f.svc.TenantByDomain(context.Background(), service.DemoDomain)
		for _, bad := range []keyward.EventSend{
			{Type: "job.created", Store: "main", Data: json.RawMessage(`{"merchant_id":"m1"}`)}, // no id
			{Type: "job.created", Store: "main", Data: json.RawMessage(`[1]`)},
			{Type: "job.exploded", Store: "main", Data: json.RawMessage(`{"id":"j1"}`)},
			{Type: "key.created", Store: "main", Data: json.RawMessage(`{"key":{}}`)}, // keyward's own
			{Type: "job.created", Store: "nowhere", Data: json.RawMessage(`{"id":"j1"}`)},
		} {
			if _, err := f.svc.SendEvent(context.Background(), ten.ID, bad); keyward.ErrorCode(err) != keyward.EInvalid {
				t.Errorf("SendEvent(%s %s) = %v, want invalid", bad.Type, bad.Data, err)
			}
		}
		f.rcv.quiet()
		e, err := f.svc.SendEvent(context.Background(), ten.ID, keyward.EventSend{Type: "job.created", Store: "main", Data: json.RawMessage(`{"id":"j1","status":"new"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if p := decode(t, f.rcv.wait(1)[0]); p.ID != e.ID || p.Type != "job.created" || string(p.Data) != `{"id":"j1","status":"new"}` {
			t.Errorf("platform event delivered as %+v", p)
		}
	})
}

// The dispatcher dials only what the operator allows, checked on the
// address dialled: an endpoint saved while loopback was allowed gets
// nothing once the dispatcher allows it no more, and the delivery log
// says why. Saving checks as dialling will.
func TestDispatcherRefusesAddressesNotAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixtureWith(t, db, outbound.Config{AllowHTTP: true})
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}, URL: strings.Replace(f.rcv.srv.URL, "127.0.0.1", "localhost", 1) + "/hook"})
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		var log []*keyward.WebhookAttempt
		waitUntil(t, func() bool {
			log, _ = items(f.svc.ListAttempts(f.ctx, ep.ID, service.AttemptFilter{}))
			return len(log) == 1
		})
		if log[0].StatusCode != 0 || !strings.Contains(log[0].Error, "not allowed") {
			t.Errorf("attempt on a refused address: %+v", log[0])
		}
		f.rcv.quiet()
		bare := service.New(f.db, catalog.Builtin(), service.WithKeyring(mustKeyring(t)))
		for _, u := range []string{"https://127.0.0.1/x", "https://10.0.0.8/x", "https://169.254.169.254/latest", "http://example.com/x",
			"https://[::1]/x", "https://user:pw@example.com/x", "ftp://example.com/x", "https://2130706433/x"} {
			if _, err := bare.CreateWebhook(f.ctx, keyward.WebhookCreate{URL: u, Events: []string{"*"}}); keyward.ErrorCode(err) != keyward.EInvalid {
				t.Errorf("endpoint %s: %v, want refused", u, err)
			}
		}
	})
}

func mustKeyring(t *testing.T) *seal.Keyring {
	kr, err := seal.ParseKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A slow receiver gets at most PerEndpoint deliveries at once from a node,
// however many are due.
func TestConcurrencyPerEndpointIsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixtureWith(t, db, loopback, func(c *webhook.Config) { c.PerEndpoint = 3 })
		var now, most atomic.Int32
		f.rcv.setAnswer(func(int) (int, http.Header) {
			n := now.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(30 * time.Millisecond)
			now.Add(-1)
			return http.StatusOK, nil
		})
		ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
		for range 24 {
			if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
				t.Fatal(err)
			}
		}
		f.rcv.wait(24)
		if m := most.Load(); m > 3 || m < 2 {
			t.Errorf("the receiver had %d deliveries at once, want 2 or 3 (PerEndpoint 3)", m)
		}
	})
}

// Every attempt is counted for /metrics by outcome.
func TestAttemptsAreCounted(t *testing.T) {
	f := newFixture(t, storetest.Open(t, store.SQLite))
	delivered := testutil.ToFloat64(metrics.WebhookDeliveries.WithLabelValues("delivered"))
	failed := testutil.ToFloat64(metrics.WebhookDeliveries.WithLabelValues("failed"))
	f.rcv.setAnswer(func(n int) (int, http.Header) {
		if n == 1 {
			return http.StatusBadGateway, nil
		}
		return http.StatusOK, nil
	})
	ep := f.endpoint(keyward.WebhookCreate{Events: []string{"*"}})
	for range 2 {
		if _, err := f.svc.SendTestEvent(f.ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.rcv.wait(2)
	waitUntil(t, func() bool {
		return testutil.ToFloat64(metrics.WebhookDeliveries.WithLabelValues("delivered"))-delivered == 1 &&
			testutil.ToFloat64(metrics.WebhookDeliveries.WithLabelValues("failed"))-failed == 1
	})
}

// items is a page's items, for a test reading a short list whole.
func items[T any](p *service.Page[T], err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}
