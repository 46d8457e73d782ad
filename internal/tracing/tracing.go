// Package tracing sets up OpenTelemetry traces: an OTLP/HTTP exporter when
// an endpoint is configured, W3C trace context propagation, and a span per
// admin request. Without an endpoint nothing is traced and nothing is
// exported.
package tracing

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator reads and writes the W3C traceparent and tracestate headers.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Provider is a tracer provider exporting to an OTLP endpoint.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New returns a provider exporting spans over OTLP/HTTP to endpoint, a URL
// such as http://127.0.0.1:4318 (the path /v1/traces is added when the URL
// has none). Spans are batched and sent in the background.
func New(ctx context.Context, endpoint, version string) (*Provider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(withTracesPath(endpoint)))
	if err != nil {
		return nil, err
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("keyward"), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
	)
	return &Provider{tp: tp}, nil
}

func withTracesPath(endpoint string) string {
	for i := len("https://"); i < len(endpoint); i++ {
		if endpoint[i] == '/' {
			if i == len(endpoint)-1 {
				return endpoint + "v1/traces"
			}
			return endpoint
		}
	}
	return endpoint + "/v1/traces"
}

// Tracer returns the tracer of one part of keyward.
func (p *Provider) Tracer(name string) trace.Tracer { return p.tp.Tracer(name) }

// Shutdown sends the spans not yet sent and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error { return p.tp.Shutdown(ctx) }

// Middleware starts a server span for each request to next, named after
// the request's method and the route pattern that served it, continuing a
// trace the client's traceparent names. The span holds the method, route
// and status, never the query or headers, which may carry secrets.
func Middleware(t trace.Tracer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(semconv.HTTPRoute(r.Pattern))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 && s >= 200 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
