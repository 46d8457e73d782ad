package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/replica"
	"github.com/keyward/keyward/internal/tracing"
)

// Observer watches the gateway's and forward-auth's requests: Prometheus
// metrics, an access log line and a trace span per request, each optional.
// The metrics use pre-resolved label children, so a gateway with metrics on
// allocates no more per request than one without.
type Observer struct {
	// Metrics receives counts and latencies; nil counts nothing.
	Metrics *metrics.Registry
	// AccessLog receives one line per request: time, tenant, key id or
	// merchant, method, route, store, status, decision code, latency and
	// request id; nil logs nothing.
	AccessLog *slog.Logger
	// Tracer starts a span per request, continuing the client's W3C
	// trace context and passing it upstream; nil traces nothing.
	Tracer trace.Tracer

	exchanges sync.Pool // *exchange
}

// exchange is one request as the gateway saw it: the response writer it
// answers through, recording the status, and what the decision learned.
type exchange struct {
	http.ResponseWriter
	status int
	start  time.Time
	ctx    context.Context
	span   trace.Span
	name   string // the span's name before the route is known
	// What the decision learned; code is "" for a request passed unchecked.
	code, tenant, keyID, merchant, route, store, requestID string
}

// WriteHeader records the final status.
func (x *exchange) WriteHeader(s int) {
	if x.status == 0 && s >= 200 {
		x.status = s
	}
	x.ResponseWriter.WriteHeader(s)
}

func (x *exchange) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	return x.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController, and so ReverseProxy, reach the
// writer's Flush and Hijack.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// begin starts watching one request; o may be nil.
func (o *Observer) begin(ctx context.Context, h http.Header, name string) *exchange {
	if o == nil {
		return &exchange{ctx: ctx}
	}
	x, _ := o.exchanges.Get().(*exchange)
	if x == nil {
		x = new(exchange)
	}
	x.start, x.ctx = time.Now(), ctx
	if o.Tracer != nil {
		ctx = tracing.Propagator.Extract(ctx, propagation.HeaderCarrier(h))
		x.name = name
		x.ctx, x.span = o.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	}
	return x
}

// finish records a request the gateway answered; x is released.
func (o *Observer) finish(x *exchange, method string, m *metrics.HTTP) {
	if o == nil {
		return
	}
	d := time.Since(x.start)
	if o.Metrics != nil {
		m.Observe(method, x.status, d)
		if x.code != "" {
			o.Metrics.Decisions.Inc(x.tenant, x.code)
		}
	}
	if o.AccessLog != nil {
		o.log(x, method, d)
	}
	if x.span != nil {
		x.span.SetAttributes(
			attribute.String("http.request.method", method),
			attribute.Int("http.response.status_code", x.status),
			attribute.String("keyward.decision", x.code),
			attribute.String("keyward.tenant", x.tenant),
			attribute.String("keyward.key_id", x.keyID),
			attribute.String("keyward.merchant", x.merchant),
			attribute.String("keyward.route", x.route),
			attribute.String("keyward.store", x.store),
			attribute.String("keyward.request_id", x.requestID),
		)
		if x.route != "" {
			x.span.SetName(x.name + " " + x.route)
		}
		if x.status >= 500 {
			x.span.SetStatus(codes.Error, http.StatusText(x.status))
		}
		x.span.End()
	}
	*x = exchange{}
	o.exchanges.Put(x)
}

func (o *Observer) log(x *exchange, method string, d time.Duration) {
	attrs := [...]slog.Attr{
		slog.String("tenant", x.tenant),
		slog.String("key_id", x.keyID),
		slog.String("merchant", x.merchant),
		slog.String("method", method),
		slog.String("route", x.route),
		slog.String("store", x.store),
		slog.Int("status", x.status),
		slog.String("code", x.code),
		slog.Float64("latency_ms", float64(d.Microseconds())/1000),
		slog.String("request_id", x.requestID),
	}
	o.AccessLog.LogAttrs(x.ctx, slog.LevelInfo, "request", attrs[:]...)
}

// end records a forward-auth decision; x is released.
func (o *Observer) end(x *exchange, method string, ans *AuthzAnswer) {
	if o == nil {
		return
	}
	x.status = ans.Status
	x.code, x.tenant, x.keyID, x.merchant = ans.Code, ans.Tenant, ans.KeyID, ans.Merchant
	x.route, x.store, x.requestID = ans.Route, ans.Store, ans.RequestID
	var m *metrics.HTTP
	if o.Metrics != nil {
		m = o.Metrics.Authz
	}
	o.finish(x, method, m)
}

// learn records what a decision found.
func (x *exchange) learn(res *replica.Result, rt *route) {
	x.code, x.route, x.store = res.Code, rt.m.ID, rt.store
	if res.Found() && res.Code != keyward.CodeNotFound {
		x.tenant, x.keyID, x.merchant = res.Tenant.Domain, res.Cred.KeyID, res.Cred.MerchantID()
	}
}

func (o *Observer) gatewayMetrics() *metrics.HTTP {
	if o.Metrics == nil {
		return nil
	}
	return o.Metrics.Gateway
}

// timedTransport observes how long the upstream takes to answer.
type timedTransport struct {
	next    http.RoundTripper
	seconds prometheus.Observer
}

// RoundTrip forwards r and observes the time to the response headers.
func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(r)
	t.seconds.Observe(time.Since(start).Seconds())
	return res, err
}
