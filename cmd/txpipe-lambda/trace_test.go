//go:build integration

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/txpipe/txpipe/workflow"
)

// exportedSpan is the part of an OTLP JSON span the test reads.
type exportedSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
}

// traceRecorder stands in for the OTLP collector and, as a proxy in front
// of the emulator, records the X-Amzn-Trace-Id header of each AWS call.
type traceRecorder struct {
	mu      sync.Mutex
	spans   []exportedSpan
	headers map[string][]string // X-Amz-Target or path -> trace headers sent
}

func (r *traceRecorder) collector() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []exportedSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rs := range body.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
	})
}

func (r *traceRecorder) proxy(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		op := req.Header.Get("X-Amz-Target") // Step Functions (JSON protocol)
		if op == "" {                        // SNS (query protocol): Action in the form body
			b, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(strings.NewReader(string(b)))
			if v, err := url.ParseQuery(string(b)); err == nil {
				op = "SNS." + v.Get("Action")
			}
		}
		r.mu.Lock()
		r.headers[op] = append(r.headers[op], req.Header.Get("X-Amzn-Trace-Id"))
		r.mu.Unlock()
		rp.ServeHTTP(w, req)
	})
}

// xrayHeader parses Root=...;Parent=...;Sampled=... into the OTel trace id
// (32 hex digits) and the parent span id.
func xrayHeader(t *testing.T, h string) (traceID, parent string) {
	t.Helper()
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "Root":
			traceID = strings.ReplaceAll(strings.TrimPrefix(v, "1-"), "-", "")
		case "Parent":
			parent = v
		}
	}
	if len(traceID) != 32 || len(parent) != 16 {
		t.Fatalf("trace header %q: want Root=1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx;Parent=<16 hex>", h)
	}
	return traceID, parent
}

// TestTraceContinuity follows one X-Ray trace from the API request through
// the state machine to the transformer and the notification, on the spans
// the functions export and the trace headers they send.
//
// API Gateway, Step Functions and SNS continue a trace on AWS (tracing is on
// for the stage, the state machine, the functions; infra's tests check
// that); here the test plays them: it invokes the validator with the
// header API Gateway sends, takes the header the validator sent with
// StartExecution, and invokes the transformer and the notifier the way the
// state machine does, with a header of that trace whose parent is the
// state machine's segment.
func TestTraceContinuity(t *testing.T) {
	startCloud(t)
	rec := &traceRecorder{headers: map[string][]string{}}
	collector := httptest.NewServer(rec.collector())
	defer collector.Close()
	proxy := httptest.NewServer(rec.proxy(t, moto.URL))
	defer proxy.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("AWS_ENDPOINT_URL_SFN", proxy.URL)
	t.Setenv("AWS_ENDPOINT_URL_SNS", proxy.URL)

	validator := buildFn(t, workflow.FunctionValidator, io.Discard)
	transformer := buildFn(t, workflow.FunctionTransformer, io.Discard)
	notifier := buildFn(t, workflow.FunctionNotifier, io.Discard)
	invokeTraced := func(fn *function, header string, payload []byte) []byte {
		t.Helper()
		//lint:ignore SA1029 aws-lambda-go stores the invocation's trace header under this string key
		ctx := context.WithValue(t.Context(), "x-amzn-trace-id", header)
		out, err := awslambda.NewHandler(fn.handler).Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		return out
	}

	// API Gateway's segment.
	const root, apigw = "1-6930e3a0-0123456789abcdef01234567", "a1b2c3d4e5f60718"
	traceID := strings.ReplaceAll(strings.TrimPrefix(root, "1-"), "-", "")
	out := invokeTraced(validator, "Root="+root+";Parent="+apigw+";Sampled=1", event(t, "apigw-multipart-upload.json"))
	if !strings.Contains(string(out), `"statusCode":202`) {
		t.Fatalf("upload: %s", out)
	}

	// The validator called StartExecution with the trace.
	rec.mu.Lock()
	starts := rec.headers["AWSStepFunctions.StartExecution"]
	rec.mu.Unlock()
	if len(starts) != 1 {
		t.Fatalf("StartExecution calls with trace headers %v, want 1", starts)
	}
	gotTrace, startParent := xrayHeader(t, starts[0])
	if gotTrace != traceID {
		t.Fatalf("StartExecution sent trace %s, want API Gateway's %s", gotTrace, traceID)
	}

	// The state machine's segment (its parent is startParent on AWS), then
	// its tasks.
	const sfnSegment = "5f0e1d2c3b4a6978"
	sfnHeader := "Root=" + root + ";Parent=" + sfnSegment + ";Sampled=1"
	stateJSON := invokeTraced(transformer, sfnHeader, event(t, "sfn-transform.json"))
	var state workflow.RunState
	if err := json.Unmarshal(stateJSON, &state); err != nil {
		t.Fatal(err)
	}
	notifyIn, _ := json.Marshal(workflow.StepInput{Step: workflow.StepNotify, State: state})
	invokeTraced(notifier, sfnHeader, notifyIn)

	rec.mu.Lock()
	publishes := rec.headers["SNS.Publish"]
	spans := append([]exportedSpan(nil), rec.spans...)
	rec.mu.Unlock()
	if len(publishes) != 1 {
		t.Fatalf("SNS Publish calls with trace headers %v, want 1", publishes)
	}
	pubTrace, pubParent := xrayHeader(t, publishes[0])

	byID := map[string]exportedSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.TraceID != traceID {
			t.Errorf("span %s (%s) in trace %s, want %s", s.Name, s.SpanID, s.TraceID, traceID)
		}
	}
	// rootOf follows a span's parents inside the exported spans and
	// returns the first parent id that is not one of them: the segment of
	// the AWS service that invoked the function.
	rootOf := func(id string) (string, []string) {
		var path []string
		for {
			s, ok := byID[id]
			if !ok {
				return id, path
			}
			path = append(path, s.Name)
			id = s.ParentSpanID
		}
	}
	if top, path := rootOf(startParent); top != apigw {
		t.Errorf("StartExecution's span descends from %s through %v, want API Gateway's segment %s", top, path, apigw)
	} else if len(path) < 2 || path[0] != "SFN.StartExecution" {
		t.Errorf("StartExecution header's parent is %v, want the SFN.StartExecution client span under the validator's span", path)
	}
	if pubTrace != traceID {
		t.Errorf("Publish sent trace %s, want %s", pubTrace, traceID)
	}
	if top, path := rootOf(pubParent); top != sfnSegment {
		t.Errorf("the notification's Publish descends from %s through %v, want the state machine's segment %s", top, path, sfnSegment)
	}
	// Each task's invocation span is a child of the state machine's
	// segment, and the transformer's AWS calls are under it.
	for _, step := range []string{workflow.StepTransform, workflow.StepNotify} {
		var found bool
		for _, sp := range spans {
			if sp.Name == step && sp.ParentSpanID == sfnSegment {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s span whose parent is the state machine's segment %s", step, sfnSegment)
		}
	}
	var writes int
	for _, sp := range spans {
		if top, path := rootOf(sp.SpanID); sp.Name == "DynamoDB.BatchWriteItem" && top == sfnSegment && path[len(path)-1] == workflow.StepTransform {
			writes++
		}
	}
	if writes == 0 {
		t.Errorf("no DynamoDB.BatchWriteItem span under the Transform span")
	}
}
