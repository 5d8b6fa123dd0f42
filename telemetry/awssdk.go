package telemetry

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scopeName is the instrumentation scope of the AWS SDK spans.
const scopeName = "github.com/txpipe/txpipe/telemetry/awssdk"

// awsMiddleware is the smithy middleware that traces SDK calls: one client
// span per operation (retries included), the trace context injected into
// each HTTP attempt, the request ID and status code recorded. It does what
// the contrib otelaws package did; that package is deprecated (it lost its
// owner), and this is the part of it txpipe needs.
type awsMiddleware struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

func (m awsMiddleware) register(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("TxpipeOTelSpan", m.startSpan), middleware.After)
	if err != nil {
		return err
	}
	err = stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("TxpipeOTelInject", m.inject), middleware.After)
	if err != nil {
		return err
	}
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TxpipeOTelResponse", m.response), middleware.Before)
}

func (m awsMiddleware) startSpan(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	ctx, span := m.tracer.Start(ctx, service+"."+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("rpc.system", "aws-api"),
			attribute.String("rpc.service", service),
			attribute.String("rpc.method", op),
			attribute.String("cloud.region", awsmiddleware.GetRegion(ctx)),
		))
	defer span.End()
	out, md, err := next.HandleInitialize(ctx, in)
	if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
		span.SetAttributes(attribute.String("aws.request_id", id))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return out, md, err
}

func (m awsMiddleware) inject(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		m.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return next.HandleFinalize(ctx, in)
}

func (m awsMiddleware) response(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	return out, md, err
}
