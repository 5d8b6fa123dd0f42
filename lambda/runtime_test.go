package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/workflow"
)

// runtimeAPI is a stand-in for the Lambda Runtime API
// (/2018-06-01/runtime/invocation/...): it hands out one event and records
// what the runtime posts back.
type runtimeAPI struct {
	event  []byte
	result chan runtimeResult
	srv    *http.Server
	addr   string
}

type runtimeResult struct {
	path string
	body []byte
}

func startRuntimeAPI(t *testing.T, event []byte) *runtimeAPI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := &runtimeAPI{event: event, result: make(chan runtimeResult, 1), addr: ln.Addr().String()}
	var served atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if served.Swap(true) {
			<-r.Context().Done() // one event only: hold the runtime until it is killed
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:data-transformer-dev")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-6743a2f1-4b8e2c1d9f0a3e5b7c6d8e9f;Parent=53995c3f42cd8ad8;Sampled=1")
		w.Write(api.event)
	})
	post := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		api.result <- runtimeResult{path: r.URL.Path, body: b}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", post)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", post)
	api.srv = &http.Server{Handler: mux}
	go api.srv.Serve(ln)
	t.Cleanup(func() { api.srv.Close() })
	return api
}

// failingRunner fails every step with err.
type failingRunner struct{ err error }

func (f failingRunner) Run(ctx context.Context, in workflow.StepInput) (workflow.RunState, error) {
	return in.State, f.err
}

// TestHelperLambdaRuntime is not a test: it is the Lambda function process
// that TestRuntimeReportsErrorTypes starts (this test binary, re-run with
// TXPIPE_TEST_RUNTIME set), running the real aws-lambda-go runtime loop.
func TestHelperLambdaRuntime(t *testing.T) {
	kind := os.Getenv("TXPIPE_TEST_RUNTIME")
	if kind == "" {
		t.Skip("helper process only")
	}
	var err error
	switch kind {
	case "transient":
		err = fmt.Errorf("write 3 rows of file f1: %w", txpipe.Errorf(txpipe.ETRANSIENT, "throughput exceeded"))
	case "invalid":
		err = fmt.Errorf("decode file f1: %w", txpipe.Errorf(txpipe.EINVALID, "line 2: bad amount"))
	}
	h := &lambda.StepHandler{Runner: failingRunner{err}, Function: workflow.FunctionTransformer}
	awslambda.Start(h.Handle)
}

// TestRuntimeReportsErrorTypes runs a handler in the real runtime loop of
// aws-lambda-go against a Runtime API stand-in and checks the errorType it
// reports, which is what Step Functions matches in Retry and Catch.
func TestRuntimeReportsErrorTypes(t *testing.T) {
	event, err := os.ReadFile("testdata/events/sfn-transform.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, wantType, wantMessage string }{
		{"transient", workflow.TransientErrorName, "throughput exceeded"},
		{"invalid", "txpipe.invalid", "bad amount"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			api := startRuntimeAPI(t, event)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperLambdaRuntime$")
			cmd.Env = append(os.Environ(), "TXPIPE_TEST_RUNTIME="+tc.kind, "AWS_LAMBDA_RUNTIME_API="+api.addr)
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()

			var res runtimeResult
			select {
			case res = <-api.result:
			case <-ctx.Done():
				t.Fatalf("the runtime posted no result; its output:\n%s", out)
			}
			if !strings.HasSuffix(res.path, "/req-1/error") {
				t.Fatalf("runtime posted to %s, want the invocation's /error", res.path)
			}
			var got struct {
				Type    string `json:"errorType"`
				Message string `json:"errorMessage"`
			}
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatalf("error body %q: %v", res.body, err)
			}
			if got.Type != tc.wantType {
				t.Errorf("errorType = %q, want %q (body %s)", got.Type, tc.wantType, res.body)
			}
			if !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("errorMessage = %q, want it to contain %q", got.Message, tc.wantMessage)
			}
			// The failure path's MarkFailed reads the reason from the Cause
			// Step Functions builds from this body.
			cause := workflow.FailureReason(&workflow.StepError{Error: got.Type, Cause: string(res.body)})
			if !strings.Contains(cause, tc.wantMessage) {
				t.Errorf("FailureReason = %q, want it to contain %q", cause, tc.wantMessage)
			}
		})
	}
}
