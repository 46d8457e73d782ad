// Package metrics holds keyward's Prometheus metrics: decisions by code and
// tenant, gateway and forward-auth requests by method and status with
// latency histograms, upstream latency, the replica's size, sync age and
// change-log lag, rate-limit refusals, usage flushes, webhook and
// connector counters, and the Go runtime. Labels are bounded: no key ids,
// paths or client input, and at most MaxTenants tenants by name.
//
// The request path records through label children resolved ahead of time,
// so counting a request allocates nothing.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxTenants bounds the tenants named in labels; decisions of further
// tenants count under the tenant "other".
const MaxTenants = 1000

// Webhook and connector counters. Code sending webhooks or probing
// connectors increments them; every Registry exposes them.
var (
	// WebhookDeliveries counts webhook delivery attempts by outcome:
	// "delivered", "failed" (will be retried) or "abandoned" (no retry left).
	WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome (delivered, failed, abandoned).",
	}, []string{"outcome"})
	// WebhookDeliverySeconds is the time a webhook delivery attempt took.
	WebhookDeliverySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyward_webhook_delivery_duration_seconds",
		Help:    "Time of a webhook delivery attempt.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	})
	// ConnectorProbes counts connector verifications by connector type and
	// outcome (such as "ok", "unauthorized", "unreachable"); both come from
	// closed sets in code, never from user input.
	ConnectorProbes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_connector_probes_total",
		Help: "Connector verifications by connector type and outcome.",
	}, []string{"type", "outcome"})
)

// Registry is one node's metrics.
type Registry struct {
	reg *prometheus.Registry
	// Decisions counts data-plane decisions by code and tenant.
	Decisions *Decisions
	// Gateway counts the gateway's requests; Authz forward-auth's; Admin
	// the admin listener's.
	Gateway, Authz, Admin *HTTP
	// Upstream is the time the upstream took to answer the gateway's
	// request with its headers.
	Upstream prometheus.Histogram
	// RateLimited counts requests refused by a rate limit.
	RateLimited  prometheus.Counter
	usageFlushes *prometheus.CounterVec
	usageRows    prometheus.Counter
}

// New returns a registry holding keyward's metrics and the Go runtime's.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.RateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_rate_limit_refusals_total",
		Help: "Requests refused because a key's or a tenant's rate limit was exhausted.",
	})
	r.Decisions = newDecisions(r.RateLimited)
	r.Gateway = newHTTP("gateway", "the gateway")
	r.Admin = newHTTP("admin", "the admin API, the back office and /v1/verify")
	r.Authz = newHTTP("authz", "forward-auth")
	r.Upstream = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyward_gateway_upstream_duration_seconds",
		Help:    "Time from the gateway sending a request upstream to the upstream's response headers.",
		Buckets: latencyBuckets,
	})
	r.usageFlushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_usage_flushes_total",
		Help: "Writes of usage counts to the database, by result (ok, error).",
	}, []string{"result"})
	r.usageRows = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyward_usage_flushed_requests_total",
		Help: "Allowed requests whose usage has been written to the database.",
	})
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.Decisions.vec, r.RateLimited, r.Upstream, r.usageFlushes, r.usageRows,
		WebhookDeliveries, WebhookDeliverySeconds, ConnectorProbes,
	)
	r.Gateway.register(r.reg)
	r.Admin.register(r.reg)
	r.Authz.register(r.reg)
	// Both results show from the start, so a rate of errors reads 0, not
	// nothing.
	r.usageFlushes.WithLabelValues("ok")
	r.usageFlushes.WithLabelValues("error")
	return r
}

// Handler serves the metrics in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Registerer lets other packages add collectors of their own.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Gatherer reads the current values, for tests.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Build exposes keyward_build_info: always 1, labelled with the version
// and commit this binary was built from, so a fleet's versions can be
// counted during an upgrade.
func (r *Registry) Build(version, commit string) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "keyward_build_info",
		Help:        "Always 1; the labels name the version and commit of the running keyward.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit},
	}, func() float64 { return 1 }))
}

// DatabaseStats reads the database's state for a scrape.
type DatabaseStats struct {
	// Pool is the connection pool's state.
	Pool func() sql.DBStats
	// Unavailable counts operations that failed because the database did
	// not answer.
	Unavailable func() int64
	// OldestPending is when the oldest webhook delivery still waiting was
	// made, zero when none waits; it asks the database.
	OldestPending func() (time.Time, error)
}

// Database exposes the connection pool, the database's failures and the
// age of the webhook backlog.
func (r *Registry) Database(s DatabaseStats) {
	gauge := func(name, help string, f func(sql.DBStats) float64) {
		r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(s.Pool()) }))
	}
	gauge("keyward_database_connections_open", "Connections to the database, in use or idle.", func(st sql.DBStats) float64 { return float64(st.OpenConnections) })
	gauge("keyward_database_connections_in_use", "Connections to the database running a statement.", func(st sql.DBStats) float64 { return float64(st.InUse) })
	gauge("keyward_database_connections_max", "The most connections the pool opens.", func(st sql.DBStats) float64 { return float64(st.MaxOpenConnections) })
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keyward_database_connection_waits_total",
		Help: "Statements that waited for a free connection.",
	}, func() float64 { return float64(s.Pool().WaitCount) }))
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keyward_database_unavailable_total",
		Help: "Database operations that failed because the database did not answer, or not in time.",
	}, func() float64 { return float64(s.Unavailable()) }))
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_webhook_backlog_oldest_seconds",
		Help: "Age of the oldest webhook delivery waiting to be sent; 0 when none waits, -1 when the database does not answer.",
	}, func() float64 {
		t, err := s.OldestPending()
		switch {
		case err != nil:
			return -1
		case t.IsZero():
			return 0
		}
		return max(time.Since(t).Seconds(), 0)
	}))
}

// ReplicaStats reads the replica's state for a scrape.
type ReplicaStats struct {
	// Credentials is the number of secrets held in memory.
	Credentials func() int
	// LastSync is when the replica last read the change log.
	LastSync func() time.Time
	// Lag is how many change-log entries the replica has yet to apply; it
	// may ask the database, so it is called only on a scrape.
	Lag func() (int64, error)
}

// Replica exposes the replica's size, the age of its last sync and its
// change-log lag.
func (r *Registry) Replica(s ReplicaStats) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_replica_credentials",
		Help: "Secrets held by the in-memory replica.",
	}, func() float64 { return float64(s.Credentials()) }))
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_replica_last_sync_age_seconds",
		Help: "Seconds since the replica last read the change log.",
	}, func() float64 { return time.Since(s.LastSync()).Seconds() }))
	if s.Lag != nil {
		r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keyward_replica_changelog_lag",
			Help: "Change-log entries written but not yet applied by the replica; -1 when the database does not answer.",
		}, func() float64 {
			n, err := s.Lag()
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
}

// UsageFlushed records one write of usage counts: how many requests it
// held and whether it failed (its counts are then kept for the next).
func (r *Registry) UsageFlushed(requests int64, err error) {
	if err != nil {
		r.usageFlushes.WithLabelValues("error").Inc()
		return
	}
	r.usageFlushes.WithLabelValues("ok").Inc()
	r.usageRows.Add(float64(requests))
}

// latencyBuckets spans 100 µs to about 3 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

// HTTP counts one listener's requests by method and status, with a latency
// histogram by method.
type HTTP struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// byMethod holds each method's histogram; byStatus each method's
	// counters by status, made on first use.
	byMethod [len(methods)]prometheus.Observer
	byStatus [len(methods)][600]atomic.Pointer[prometheus.Counter]
	mu       sync.Mutex
}

// methods are the request methods named in labels; others count as OTHER.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	}
	return 7
}

func newHTTP(name, what string) *HTTP {
	h := &HTTP{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_" + name + "_requests_total",
			Help: "Requests answered by " + what + ", by method and status.",
		}, []string{"method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyward_" + name + "_request_duration_seconds",
			Help:    "Time " + what + " took to answer a request, by method.",
			Buckets: latencyBuckets,
		}, []string{"method"}),
	}
	for i, m := range methods {
		h.byMethod[i] = h.duration.WithLabelValues(m)
	}
	return h
}

func (h *HTTP) register(reg prometheus.Registerer) { reg.MustRegister(h.total, h.duration) }

// Observe counts one request answered with status after d.
func (h *HTTP) Observe(method string, status int, d time.Duration) {
	i := methodIndex(method)
	h.byMethod[i].Observe(d.Seconds())
	if status < 100 || status > 599 {
		status = 599
	}
	c := h.byStatus[i][status].Load()
	if c == nil {
		c = h.child(i, status)
	}
	(*c).Inc()
}

func (h *HTTP) child(i, status int) *prometheus.Counter {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.byStatus[i][status].Load(); c != nil {
		return c
	}
	c := h.total.WithLabelValues(methods[i], strconv.Itoa(status))
	h.byStatus[i][status].Store(&c)
	return &c
}

// Decisions counts decisions by code and tenant.
type Decisions struct {
	vec     *prometheus.CounterVec
	limited prometheus.Counter
	mu      sync.Mutex
	// tenants maps a tenant's domain to its counters; replaced whole on
	// a new tenant, so reading it takes no lock.
	tenants atomic.Pointer[map[string]*decisionRow]
}

// decisionRow is one tenant's counters, made on first use; label is the
// tenant as labelled ("other" past MaxTenants).
type decisionRow struct {
	label string
	c     [len(codes)]atomic.Pointer[prometheus.Counter]
}

// codes are the decision and refusal codes named in labels; others count
// as "other".
var codes = [...]string{
	"VALID", "NOT_FOUND", "DISABLED", "EXPIRED", "LICENCE_INACTIVE", "UNKNOWN_METHOD", "METHOD_NOT_ALLOWED",
	"INSUFFICIENT_PERMISSION", "STORE_NOT_ALLOWED", "STORE_REQUIRED", "RATE_LIMITED", "UNAVAILABLE",
	"INVALID_REQUEST", "STORE_AMBIGUOUS", "MERCHANT_METHOD_NOT_ALLOWED", "REFERENCE_NOT_FOUND",
	"unauthenticated", "not_found", "invalid_argument", "payload_too_large", "bad_gateway", "other",
}

// rateLimitedIndex is the index of RATE_LIMITED in codes.
const rateLimitedIndex = 10

func codeIndex(code string) int {
	for i, c := range codes {
		if c == code {
			return i
		}
	}
	return len(codes) - 1
}

func newDecisions(limited prometheus.Counter) *Decisions {
	d := &Decisions{limited: limited, vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_decisions_total",
		Help: "Data-plane decisions (gateway, forward-auth and POST /v1/verify) by code and tenant; tenant is \"-\" when no credential was recognised.",
	}, []string{"code", "tenant"})}
	m := map[string]*decisionRow{}
	d.tenants.Store(&m)
	return d
}

// Inc counts one decision with code for tenant (a domain; "" when no
// credential was recognised).
func (d *Decisions) Inc(tenant, code string) {
	if tenant == "" {
		tenant = "-"
	}
	i := codeIndex(code)
	if i == rateLimitedIndex {
		d.limited.Inc()
	}
	row := (*d.tenants.Load())[tenant]
	if row == nil {
		row = d.row(tenant)
	}
	c := row.c[i].Load()
	if c == nil {
		c = d.child(row, i)
	}
	(*c).Inc()
}

func (d *Decisions) row(tenant string) *decisionRow {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.tenants.Load()
	if row := old[tenant]; row != nil {
		return row
	}
	if len(old) >= MaxTenants && tenant != "-" {
		// Past the bound, tenants share one row and are looked up again
		// on every decision, without growing the map.
		if row := old["other"]; row != nil {
			return row
		}
		tenant = "other"
	}
	m := make(map[string]*decisionRow, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	row := &decisionRow{label: tenant}
	m[tenant] = row
	d.tenants.Store(&m)
	return row
}

func (d *Decisions) child(row *decisionRow, i int) *prometheus.Counter {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := row.c[i].Load(); c != nil {
		return c
	}
	c := d.vec.WithLabelValues(codes[i], row.label)
	row.c[i].Store(&c)
	return &c
}
