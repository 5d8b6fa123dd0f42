package telemetry

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TraceOptions say how traces are made and where they go.
type TraceOptions struct {
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// Attributes are further resource attributes (faas.name, ...).
	Attributes []attribute.KeyValue
	// XRay makes trace IDs that X-Ray accepts (its IDGenerator) and
	// propagates context in the X-Amzn-Trace-Id header, as a Lambda
	// function must to continue the trace Lambda started. Otherwise the
	// W3C trace context is propagated. (Both come from the contrib module
	// go.opentelemetry.io/contrib/propagators/aws, marked deprecated for
	// want of an owner in 2026 but current with otel v1.47; its xray
	// package is two small files to take in here if it stops building.)
	XRay bool
	// Export turns the OTLP/HTTP exporter on (OTLP JSON encoding). It reads
	// its endpoint, headers and timeout from the standard
	// OTEL_EXPORTER_OTLP_* variables. When false, tracing is off: the
	// provider is a no-op and costs nothing.
	Export bool
	// Getenv reads the exporter's variables; os.Getenv if nil.
	Getenv func(string) string
}

// OTLPConfigured reports whether the environment (read with getenv) names
// an OTLP endpoint for traces, the condition for TraceOptions.Export.
func OTLPConfigured(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing is a tracer provider with its propagator. Pass Provider and
// Propagator explicitly to what traces; no global is set.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider // nil when tracing is off
}

// NewTracing returns the tracing opts describe. Creating the exporter does
// not connect: spans are sent in batches, and on Lambda by ForceFlush at
// the end of each invocation.
func NewTracing(ctx context.Context, opts TraceOptions) (*Tracing, error) {
	var prop propagation.TextMapPropagator = propagation.TraceContext{}
	if opts.XRay {
		prop = xray.Propagator{}
	}
	if !opts.Export {
		return &Tracing{Provider: noop.NewTracerProvider(), Propagator: prop}, nil
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	exp, err := newOTLPJSONExporter(getenv)
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	attrs := append([]attribute.KeyValue{attribute.String("service.name", opts.ServiceName)}, opts.Attributes...)
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	}
	if opts.XRay {
		tpOpts = append(tpOpts, sdktrace.WithIDGenerator(xray.NewIDGenerator()))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	return &Tracing{Provider: tp, Propagator: prop, sdk: tp}, nil
}

// ForceFlush exports the spans ended so far. A Lambda function calls it
// before it returns, since the environment may be frozen right after.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	if err := t.sdk.ForceFlush(ctx); err != nil {
		return fmt.Errorf("flush spans: %w", err)
	}
	return nil
}

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut tracing down: %w", err)
	}
	return nil
}

// InstrumentAWS adds OpenTelemetry middleware to cfg, so every client made
// from it records a span per call (service, operation, region, request ID,
// status code) and passes the trace context on. With tracing off it does nothing.
func (t *Tracing) InstrumentAWS(cfg *aws.Config) {
	if t == nil || t.sdk == nil {
		return
	}
	mw := awsMiddleware{tracer: t.Provider.Tracer(scopeName), propagator: t.Propagator}
	cfg.APIOptions = append(cfg.APIOptions, mw.register)
}

// StartStep opens a span around one attempt of a workflow step (it
// implements workflow.Tracer); the returned func ends it with the step's
// error.
func (t *Tracing) StartStep(ctx context.Context, step, fileID string, attempt int) (context.Context, func(error)) {
	ctx, span := t.Provider.Tracer("txpipe/workflow").Start(ctx, "step "+step, trace.WithAttributes(
		attribute.String("txpipe.file_id", fileID), attribute.Int("txpipe.attempt", attempt)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
