package lambda

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/txpipe/txpipe/telemetry"
)

// Telemetry is what the handlers report to. The zero value reports
// nothing.
type Telemetry struct {
	// Logger gets one record per invocation (and its errors).
	Logger *slog.Logger
	// TracerProvider makes one server span per invocation, a child of the
	// trace Lambda started (read from the invocation's X-Ray header with
	// Propagator).
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Flush, if set, runs at the end of every invocation, before the
	// environment may be frozen (telemetry.Tracing.ForceFlush).
	Flush func(context.Context) error
	// Metrics receives the custom metrics, as EMF lines.
	Metrics *telemetry.EMF
}

func (t Telemetry) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// traceHeaderKey is the context key under which aws-lambda-go stores the
// invocation's X-Ray trace header (it uses a string key).
const traceHeaderKey = "x-amzn-trace-id"

// start begins the invocation's span and returns the function that ends
// it, recording err, and flushes the telemetry.
func (t Telemetry) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, func(err error)) {
	tp := t.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if h, ok := ctx.Value(traceHeaderKey).(string); ok && h != "" && t.Propagator != nil {
		ctx = t.Propagator.Extract(ctx, propagation.MapCarrier{"X-Amzn-Trace-Id": h})
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, attribute.String("faas.invocation_id", lc.AwsRequestID))
	}
	ctx, span := tp.Tracer("github.com/txpipe/txpipe/lambda").Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if t.Flush != nil {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := t.Flush(fctx); err != nil {
				t.logger().WarnContext(ctx, "flush telemetry", "err", err)
			}
		}
	}
}

// requestID is the Lambda request ID of the invocation, for the logs.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
