package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	var mu sync.Mutex
	var exported []otlpSpan
	var contentType, auth string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var req otlpRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		contentType, auth = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				exported = append(exported, ss.Spans...)
			}
		}
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0ken")

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
	mu.Lock()
	defer mu.Unlock()
	if contentType != "application/json" || auth != "Bearer t0ken" {
		t.Errorf("export request: Content-Type %q, Authorization %q", contentType, auth)
	}
	byName := map[string]otlpSpan{}
	for _, sp := range exported {
		byName[sp.Name] = sp
	}
	call, root := byName["SQS.ListQueues"], byName["invoke"]
	if call.Name == "" || root.Name == "" {
		t.Fatalf("exported spans %+v, want invoke and SQS.ListQueues", exported)
	}
	if call.TraceID != root.TraceID || call.ParentSpanID != root.SpanID || len(call.TraceID) != 32 {
		t.Errorf("SQS span trace %s parent %s, want trace %s parent %s", call.TraceID, call.ParentSpanID, root.TraceID, root.SpanID)
	}
	// The X-Ray ID generator puts the start time (epoch seconds) in the
	// first 8 hex digits of the trace ID, and X-Ray rejects others.
	if !strings.Contains(h, "Root=1-"+call.TraceID[:8]+"-"+call.TraceID[8:]) {
		t.Errorf("X-Amzn-Trace-Id %q does not carry trace %s", h, call.TraceID)
	}
	if call.Kind != 3 {
		t.Errorf("SQS span kind = %d, want 3 (client)", call.Kind)
	}
	attrs := map[string]string{}
	for _, kv := range call.Attributes {
		switch {
		case kv.Value.StringValue != nil:
			attrs[kv.Key] = *kv.Value.StringValue
		case kv.Value.IntValue != nil:
			attrs[kv.Key] = *kv.Value.IntValue
		}
	}
	if attrs["rpc.service"] != "SQS" || attrs["rpc.method"] != "ListQueues" || attrs["http.response.status_code"] != "200" {
		t.Errorf("SQS span attributes = %v", attrs)
	}
}

// otlpRequest is the part of the OTLP JSON export request the test reads.
type otlpRequest struct {
	ResourceSpans []struct {
		ScopeSpans []struct {
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Attributes   []struct {
		Key   string `json:"key"`
		Value struct {
			StringValue *string `json:"stringValue"`
			IntValue    *string `json:"intValue"`
		} `json:"value"`
	} `json:"attributes"`
}
