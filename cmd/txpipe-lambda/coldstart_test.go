//go:build integration

package main

import (
	"github.com/txpipe/txpipe/internal/awsenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkProcessColdStart measures a whole cold start of the bootstrap
// binary, as Lambda sees it: from starting the process (runtime and package
// initialisation, then everything main does) to its first request for an
// event from the Runtime API, served here by a stand-in that never answers.
// It reports ms/start beside ns/op.
func BenchmarkProcessColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	asked := make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/2020-01-01/extension/register": // the SIGTERM extension
			w.Header().Set("Lambda-Extension-Identifier", "ext-1")
			io.WriteString(w, "{}")
			return
		case "/2018-06-01/runtime/invocation/next":
			asked <- struct{}{}
		}
		<-r.Context().Done()
	})}
	go srv.Serve(ln)
	defer srv.Close()

	env := append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		awsenv.TransactionsTable+"=transactions-dev", awsenv.StatusTable+"=processing-status-dev", awsenv.Bucket+"=txpipe-uploads-dev",
		awsenv.StateMachineARN+"=arn:aws:states:eu-west-1:123456789012:stateMachine:txpipe-dev",
		"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_CA_BUNDLE=", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"OTEL_EXPORTER_OTLP_ENDPOINT=",
	)
	var total time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "validator")
		cmd.Env = env
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-asked:
			total += time.Since(start)
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			b.Fatal("the bootstrap did not ask for an event within 10 s")
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/start")
}
