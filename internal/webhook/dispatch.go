package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/outbound"
	"github.com/keyward/keyward/internal/service"
)

// Defaults of a Dispatcher's settings.
const (
	DefaultWorkers     = 64
	DefaultPerEndpoint = 8
	DefaultPoll        = 250 * time.Millisecond
	DefaultLease       = 5 * time.Minute
	DefaultTimeout     = 15 * time.Second
	// ResponseExcerpt is how much of a receiver's answer the delivery log
	// keeps.
	ResponseExcerpt = 1024
)

// Config sets a Dispatcher up; zero values take the defaults.
type Config struct {
	// Workers bounds the deliveries this node sends at once.
	Workers int
	// PerEndpoint bounds the deliveries this node sends at once to one
	// endpoint, so a slow receiver cannot take every worker.
	PerEndpoint int
	// Poll is how often the outbox is read when nothing wakes the
	// dispatcher sooner.
	Poll time.Duration
	// Lease is how long a claimed delivery is held: a node that dies
	// holding it leaves it to be claimed again after this.
	Lease time.Duration
	// Timeout bounds one attempt, from dialling to the end of the answer.
	Timeout time.Duration
	// Outbound is the dialling policy (addresses, HTTPS); tests allow
	// 127.0.0.1 for their receivers.
	Outbound outbound.Config
	Logger   *slog.Logger
	// Drain bounds how long Run waits, once told to stop, for the
	// requests under way; those still running are then cut, and every
	// delivery not sent is handed back to the outbox at once.
	Drain time.Duration
}

// DefaultDrain is how long a stopping dispatcher lets requests finish.
const DefaultDrain = 30 * time.Second

// queuePerSlot is how many deliveries per send slot a node may hold for
// one endpoint at once.
const queuePerSlot = 4

// Dispatcher claims due deliveries, signs and sends them, and records what
// happened. Run one per node; nodes share the outbox.
type Dispatcher struct {
	svc    *service.Service
	client *outbound.Client
	cfg    Config
	log    *slog.Logger
	wake   chan struct{}
	now    func() time.Time

	mu       sync.Mutex
	inFlight map[string]int           // deliveries claimed and not yet recorded, per endpoint
	slots    map[string]chan struct{} // PerEndpoint sends at once, per endpoint
	total    int
	// A delivery is sent only if it was claimed after its endpoint was
	// last stopped (see Stop): claims counts the claims begun, stopped
	// holds that count at each endpoint's stop.
	claims  uint64
	stopped map[string]uint64
	sending map[string]*sendGroup // requests under way per endpoint, begun since its last stop

	results chan service.Outcome

	// stopping is set when Run is told to stop: deliveries not yet sent
	// are handed back. cut ends the requests under way once Drain passes.
	stopping atomic.Bool
	cut      context.Context
	cutNow   context.CancelFunc
}

// New returns a Dispatcher sending svc's outbox under cfg.
func New(svc *service.Service, cfg Config) (*Dispatcher, error) {
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	cfg.PerEndpoint = orDefault(cfg.PerEndpoint, DefaultPerEndpoint)
	cfg.Poll = orDefault(cfg.Poll, DefaultPoll)
	cfg.Lease = orDefault(cfg.Lease, DefaultLease)
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	cfg.Drain = orDefault(cfg.Drain, DefaultDrain)
	cfg.Outbound.Timeout = cfg.Timeout
	if cfg.Outbound.MaxResponseBytes == 0 {
		cfg.Outbound.MaxResponseBytes = 64 << 10
	}
	if cfg.Outbound.UserAgent == "" {
		cfg.Outbound.UserAgent = "keyward-webhooks/1"
	}
	client, err := outbound.NewClient(cfg.Outbound)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cut, cutNow := context.WithCancel(context.Background())
	return &Dispatcher{svc: svc, client: client, cfg: cfg, log: log, wake: make(chan struct{}, 1), now: svc.Now,
		inFlight: map[string]int{}, slots: map[string]chan struct{}{}, results: make(chan service.Outcome, cfg.Workers),
		stopped: map[string]uint64{}, sending: map[string]*sendGroup{}, cut: cut, cutNow: cutNow}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Wake makes the dispatcher look for due deliveries now rather than at
// its next poll. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends deliveries until ctx ends, then waits for the attempts under
// way and records them.
func (d *Dispatcher) Run(ctx context.Context) {
	var sends sync.WaitGroup
	recorded := make(chan struct{})
	go func() {
		d.record()
		close(recorded)
	}()
	callbacks := make(chan struct{})
	go func() { d.runCallbacks(ctx); close(callbacks) }()
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		if n := d.claim(ctx, &sends); n > 0 {
			continue // there may be more due at once
		}
		select {
		case <-ctx.Done():
			d.drain(&sends)
			close(d.results)
			<-recorded
			<-callbacks
			return
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// claim takes as many due deliveries as there are free workers and starts
// sending them; it returns how many it took.
func (d *Dispatcher) claim(ctx context.Context, sends *sync.WaitGroup) int {
	d.mu.Lock()
	d.claims++
	claim := d.claims
	for ep := range d.stopped {
		// Claims run one at a time: with none of its deliveries held, an
		// endpoint's stop concerns no claim any more.
		if d.inFlight[ep] == 0 {
			delete(d.stopped, ep)
		}
	}
	free := d.cfg.Workers - d.total
	var busy []string
	for ep, n := range d.inFlight {
		// An endpoint keeps a queue of a few rounds of sends, so its slots
		// never wait for a claim; beyond that its deliveries stay in the
		// outbox for other nodes or later.
		if n >= queuePerSlot*d.cfg.PerEndpoint {
			busy = append(busy, ep)
		}
	}
	d.mu.Unlock()
	if free <= 0 || ctx.Err() != nil {
		return 0
	}
	due, err := d.svc.ClaimDeliveries(ctx, free, d.cfg.Lease, busy)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("webhook dispatcher cannot read the outbox", "err", err)
		}
		return 0
	}
	for i := range due {
		dl := &due[i]
		d.mu.Lock()
		d.inFlight[dl.EndpointID]++
		d.total++
		slot := d.slots[dl.EndpointID]
		if slot == nil {
			slot = make(chan struct{}, d.cfg.PerEndpoint)
			d.slots[dl.EndpointID] = slot
		}
		d.mu.Unlock()
		sends.Add(1)
		go func() {
			defer sends.Done()
			slot <- struct{}{}
			o := d.sendUnlessStopped(dl, claim)
			<-slot
			d.results <- o
		}()
	}
	// A claim that filled the workers is not a sign of more work: wait for
	// a result or the next poll.
	if len(due) >= free {
		return 0
	}
	return len(due)
}

// drain lets the requests under way finish for at most Drain, then cuts
// them; deliveries not sent, cut ones included, are handed back to the
// outbox so that any node sends them at once rather than after the lease.
func (d *Dispatcher) drain(sends *sync.WaitGroup) {
	d.stopping.Store(true)
	d.mu.Lock()
	held := d.total
	d.mu.Unlock()
	d.log.Info("webhook dispatcher stopping: requests under way may finish, the other deliveries held go back to the outbox",
		"held", held, "drain", d.cfg.Drain.String())
	done := make(chan struct{})
	go func() { sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.cfg.Drain):
		d.log.Warn("webhook dispatcher: requests still under way after the drain were cut; their deliveries go back to the outbox")
		d.cutNow()
		<-done
	}
}

// record writes outcomes in batches: whatever has arrived, at least every
// 50 ms while sends go on.
func (d *Dispatcher) record() {
	batch := make([]service.Outcome, 0, 128)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		// The outcomes are written even while the node stops, so that the
		// deliveries sent are not sent again.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := d.svc.RecordOutcomes(ctx, batch)
		cancel()
		if err != nil {
			d.log.Error("webhook dispatcher cannot record attempts; they will be sent again when their lease ends", "err", err, "attempts", len(batch))
		}
		for _, o := range batch {
			if o.Dropped {
				continue
			}
			metrics.WebhookDeliveries.WithLabelValues(outcomeLabel(&o)).Inc()
			metrics.WebhookDeliverySeconds.Observe(o.Latency.Seconds())
		}
		d.mu.Lock()
		for _, o := range batch {
			d.total--
			if d.inFlight[o.Due.EndpointID]--; d.inFlight[o.Due.EndpointID] <= 0 {
				delete(d.inFlight, o.Due.EndpointID)
				delete(d.slots, o.Due.EndpointID)
			}
		}
		d.mu.Unlock()
		batch = batch[:0]
		d.Wake()
	}
	for o := range d.results {
		batch = append(batch, o)
	drain:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-d.results:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			case <-time.After(5 * time.Millisecond):
				break drain
			}
		}
		flush()
	}
	flush()
}

// outcomeLabel is an attempt's outcome as keyward_webhook_deliveries_total
// counts it.
func outcomeLabel(o *service.Outcome) string {
	switch {
	case o.OK():
		return "delivered"
	case o.Due.Attempt > len(service.RetrySchedule):
		return "abandoned"
	}
	return "failed"
}

// Stop makes the dispatcher start no more sends to an endpoint of the
// deliveries it claimed so far, and returns once the sends to it under way
// have ended, or when ctx ends. The service calls it once an endpoint is
// deleted, disabled or moved to another URL has committed, so that nothing
// claimed before reaches the endpoint afterwards. Deliveries claimed after
// Stop was called are sent as usual.
func (d *Dispatcher) Stop(ctx context.Context, endpointID string) {
	d.mu.Lock()
	d.stopped[endpointID] = d.claims
	g := d.sending[endpointID]
	delete(d.sending, endpointID) // sends begun from now on are not waited for
	d.mu.Unlock()
	if g == nil {
		return
	}
	select {
	case <-g.done:
	case <-ctx.Done():
	}
}

// sendGroup counts requests under way to one endpoint; done is closed when
// the last has ended.
type sendGroup struct {
	n    int
	done chan struct{}
}

// sendUnlessStopped sends a delivery taken by the given claim, or drops it
// if its endpoint was stopped since.
func (d *Dispatcher) sendUnlessStopped(dl *service.Due, claim uint64) service.Outcome {
	ep := dl.EndpointID
	d.mu.Lock()
	if at, ok := d.stopped[ep]; (ok && claim <= at) || d.stopping.Load() {
		d.mu.Unlock()
		return service.Outcome{Due: dl, At: d.now(), Dropped: true}
	}
	g := d.sending[ep]
	if g == nil {
		g = &sendGroup{done: make(chan struct{})}
		d.sending[ep] = g
	}
	g.n++
	d.mu.Unlock()
	o := d.send(dl)
	d.mu.Lock()
	if g.n--; g.n == 0 {
		close(g.done)
		if d.sending[ep] == g {
			delete(d.sending, ep)
		}
	}
	d.mu.Unlock()
	return o
}

// send makes one attempt at a delivery.
func (d *Dispatcher) send(dl *service.Due) service.Outcome {
	o := service.Outcome{Due: dl, At: d.now()}
	if len(dl.Secrets) == 0 {
		o.Err = "the endpoint has no signing secret (it was created before keyward kept them): roll its secret to sign and send its deliveries"
		return o
	}
	sig, err := Sign(dl.Secrets, dl.EventID, o.At, dl.Payload)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	ctx, cancel := context.WithTimeout(d.cut, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		o.Err = "the endpoint's URL is invalid"
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", dl.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(o.At.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := d.client.Do(req)
	o.Latency = time.Since(start)
	if d.cut.Err() != nil {
		// Cut by a stopping node: handed back, to be sent again.
		return service.Outcome{Due: dl, At: o.At, Dropped: true}
	}
	if err != nil {
		o.Err = describe(err)
		return o
	}
	o.StatusCode = resp.StatusCode
	o.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), o.At)
	excerpt, truncated, _ := outbound.ReadExcerpt(resp.Body, ResponseExcerpt)
	o.Response = string(bytes.ToValidUTF8(excerpt, []byte("�")))
	if truncated {
		o.Response += "…"
	}
	o.Latency = time.Since(start)
	if !o.OK() {
		o.Err = "the receiver answered " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	return o
}

// describe says why an attempt got no answer, in words for the log.
func describe(err error) string {
	var ue *outbound.URLError
	var ae *outbound.AddressError
	switch {
	case errors.As(err, &ue):
		return "the URL is not allowed: " + ue.Reason
	case errors.As(err, &ae):
		return "the address is not allowed: " + ae.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within the timeout"
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
