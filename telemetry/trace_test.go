package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/txpipe/txpipe/telemetry"
)

func TestTracingOffByDefault(t *testing.T) {
	if telemetry.OTLPConfigured(func(string) string { return "" }) {
		t.Fatal("OTLPConfigured with an empty environment")
	}
	tr, err := telemetry.NewTracing(context.Background(), telemetry.TraceOptions{ServiceName: "txpipe", XRay: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("t").Start(context.Background(), "x")
	if span.SpanContext().IsValid() {
		t.Error("tracing off made a real span")
	}
	span.End()
	if got := tr.Propagator.Fields(); len(got) != 1 || got[0] != "X-Amzn-Trace-Id" {
		t.Errorf("propagator fields = %v, want [X-Amzn-Trace-Id]", got)
	}
}

// TestTracingExportsAWSCallSpans runs an instrumented SQS client against a
// server that records the trace header, with spans exported over OTLP/HTTP
// to a collector stand-in.
func TestTracingExportsAWSCallSpans(t *testing.T) {
	var exported atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			b, _ := io.ReadAll(r.Body)
			if len(b) > 0 {
				exported.Add(1)
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")

	var traceHeader atomic.Value
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceHeader.Store(r.Header.Get("X-Amzn-Trace-Id"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{"QueueUrls": []}`)
	}))
	defer svc.Close()

	ctx := context.Background()
	if !telemetry.OTLPConfigured(func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}[k] }) {
		t.Fatal("OTLPConfigured = false with an endpoint")
	}
	tr, err := telemetry.NewTracing(ctx, telemetry.TraceOptions{ServiceName: "txpipe-test", XRay: true, Export: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(ctx)
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(svc.URL)}
	tr.InstrumentAWS(&cfg)
	ctx, span := tr.Provider.Tracer("test").Start(ctx, "invoke")
	if _, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	span.End()
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	h, _ := traceHeader.Load().(string)
	if !strings.HasPrefix(h, "Root=1-") {
		t.Errorf("X-Amzn-Trace-Id sent to AWS = %q, want an X-Ray header", h)
	}
	if exported.Load() == 0 {
		t.Error("no spans exported to the OTLP endpoint")
	}
}
