package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/catalog"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/service"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/webhook"
)

// webhookReceiver answers every delivery 204 at once and records the lag
// from each event's commit (its timestamp) to the first attempt at it.
type webhookReceiver struct {
	mu       sync.Mutex
	lag      hist
	seen     map[string]bool
	received atomic.Int64
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	var ev struct {
		Timestamp time.Time `json:"timestamp"`
	}
	body, _ := io.ReadAll(req.Body)
	json.Unmarshal(body, &ev)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	if !r.seen[id] {
		r.seen[id] = true
		r.lag.Record(at.Sub(ev.Timestamp))
		r.received.Add(1)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// webhooksScenario measures one node's dispatch: platform events are sent
// (POST /v1/events' service call, one transaction each) at each offered
// rate for the run's duration while the node's dispatcher delivers them to
// a receiver on 127.0.0.1; it reports the rate delivered and the lag from
// commit to first attempt.
func webhooksScenario(ctx context.Context, o *options, dir string, out, progress io.Writer) error {
	dbURL := o.webhooksDB
	db, err := store.Open(ctx, dbURL, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	kr, err := seal.ParseKeyring(seal.GenerateKey())
	if err != nil {
		return err
	}
	dial := outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowHTTP: true}
	var disp *webhook.Dispatcher
	svc := service.New(db, catalog.Builtin(), service.WithKeyring(kr), service.WithOutbound(dial),
		service.WithDispatchWake(func() {
			if disp != nil {
				disp.Wake()
			}
		}))
	if _, err := svc.SeedDemo(ctx); err != nil {
		return err
	}
	ten, err := svc.TenantByDomain(ctx, service.DemoDomain)
	if err != nil {
		return err
	}
	actx := keyward.WithActor(ctx, service.SystemActor(ten, "keyward-bench"))
	rcv := &webhookReceiver{seen: map[string]bool{}}
	srv, err := serve(rcv)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := svc.CreateWebhook(actx, keyward.WebhookCreate{URL: "http://" + srv.addr + "/hook", Events: []string{"*"}}); err != nil {
		return err
	}
	if disp, err = webhook.New(svc, webhook.Config{Outbound: dial}); err != nil {
		return err
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { disp.Run(dctx); close(done) }()
	defer func() { stop(); <-done }()

	engine := "SQLite"
	if dbURL != "" {
		engine = "PostgreSQL"
	}
	fmt.Fprintf(out, "\n## Webhooks: one node, %s, %d dispatch workers, 8 at once per endpoint, receiver on 127.0.0.1 answering 204\n\n", engine, webhook.DefaultWorkers)
	fmt.Fprintln(out, "Events are sent as POST /v1/events records them (one transaction each, 16 senders) at the offered rate for")
	fmt.Fprintf(out, "%s; lag is from the event's commit to its first attempt arriving.\n\n", o.duration)
	fmt.Fprintf(out, "CPU is this process's (senders, node and receiver together) per event delivered. %d round(s), the rates\n", o.rounds)
	fmt.Fprintln(out, "alternating; each cell is the median over rounds, with delivered events/s and lag p99 per round after it.")
	fmt.Fprintln(out)
	type run struct {
		sent, delivered, window float64
		p50, p99, cpu           time.Duration
		left                    int64
	}
	runs := make([][]run, len(o.webhookRates))
	for r := 1; r <= o.rounds; r++ {
		for i, rate := range o.webhookRates {
			if err := ctx.Err(); err != nil {
				return err
			}
			rcv.mu.Lock()
			rcv.lag.Reset()
			rcv.mu.Unlock()
			before := rcv.received.Load()
			cpu0 := processCPU()
			fmt.Fprintf(progress, "webhooks: round %d, %d events/s offered for %s\n", r, rate, o.duration)
			sent, sendErr := offerEvents(ctx, svc, ten.ID, rate, o.duration)
			if sendErr != nil {
				return sendErr
			}
			window := rcv.received.Load() - before
			deadline := time.Now().Add(10 * time.Second)
			for rcv.received.Load()-before < sent && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			rcv.mu.Lock()
			p50, p99 := rcv.lag.Quantile(0.50), rcv.lag.Quantile(0.99)
			rcv.mu.Unlock()
			secs := o.duration.Seconds()
			delivered := rcv.received.Load() - before
			x := run{sent: float64(sent) / secs, window: float64(window) / secs, p50: p50, p99: p99, left: sent - delivered}
			if delivered > 0 {
				x.cpu = (processCPU() - cpu0) / time.Duration(delivered)
			}
			runs[i] = append(runs[i], x)
		}
	}
	fmt.Fprintln(out, "| offered events/s | sent events/s | delivered events/s | lag p50 | lag p99 | undelivered 10 s after | CPU per event | per round: delivered/s, p99 |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for i, rate := range o.webhookRates {
		rs := runs[i]
		med := func(f func(run) float64) float64 {
			v := make([]float64, len(rs))
			for k, x := range rs {
				v[k] = f(x)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		var left int64
		var per []string
		for _, x := range rs {
			left += x.left
			per = append(per, fmt.Sprintf("%.0f, %s", x.window, x.p99.Round(time.Millisecond)))
		}
		fmt.Fprintf(out, "| %d | %.0f | %.0f | %s | %s | %d | %s | %s |\n", rate,
			med(func(x run) float64 { return x.sent }), med(func(x run) float64 { return x.window }),
			time.Duration(med(func(x run) float64 { return float64(x.p50) })).Round(100*time.Microsecond),
			time.Duration(med(func(x run) float64 { return float64(x.p99) })).Round(100*time.Microsecond),
			left, time.Duration(med(func(x run) float64 { return float64(x.cpu) })).Round(time.Microsecond), strings.Join(per, "; "))
	}
	return nil
}

// offerEvents sends platform events at rate per second for d from 16
// senders and returns how many were committed.
func offerEvents(ctx context.Context, svc *service.Service, tenantID string, rate int, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tokens := make(chan struct{}, 256)
	go func() {
		defer close(tokens)
		start, n := time.Now(), 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int(time.Since(start).Seconds() * float64(rate))
			for ; n < due; n++ {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var sent atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	data := json.RawMessage(`{"id":"job_1","status":"new"}`)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				_, err := svc.SendEvent(context.Background(), tenantID, keyward.EventSend{Type: "job.created", Store: "main", Data: data})
				if err != nil {
					once.Do(func() { firstErr = err })
					cancel()
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	return sent.Load(), firstErr
}

// webhooksDatabaseEnv is the environment variable --webhooks-database
// defaults to.
const webhooksDatabaseEnv = "KEYWARD_BENCH_WEBHOOKS_DATABASE"
