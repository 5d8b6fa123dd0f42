//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestBinaryServesAnEvent builds the bootstrap and runs it as Lambda does:
// the handler named by its argument, the Runtime API at
// AWS_LAMBDA_RUNTIME_API (a stand-in here serving one API Gateway upload
// event), the AWS services behind AWS_ENDPOINT_URL_* (the emulators). The
// function must answer 202, log JSON on stderr and write EMF on stdout.
func TestBinaryServesAnEvent(t *testing.T) {
	startCloud(t)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	runtimeAPI, posted := fakeRuntimeAPI(t, "req-upload", event(t, "apigw-multipart-upload.json"), time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validator")
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+runtimeAPI, "AWS_LAMBDA_FUNCTION_NAME=csv-validator-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	select {
	case got = <-posted:
	case <-ctx.Done():
		t.Fatalf("no result posted; stderr:\n%s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()

	path, body, _ := strings.Cut(string(got), "\n")
	if path != "/2018-06-01/runtime/invocation/req-upload/response" {
		t.Fatalf("posted to %s: %s", path, body)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.StatusCode != 202 || !strings.Contains(resp.Body, uploadFileID) {
		t.Fatalf("response = %s, want 202 for file %s", body, uploadFileID)
	}
	for _, out := range []struct {
		name string
		buf  *bytes.Buffer
		want string
	}{{"stderr (logs)", &stderr, `"msg":"file accepted"`}, {"stdout (EMF)", &stdout, `"RowsValidated":3`}} {
		sc := bufio.NewScanner(bytes.NewReader(out.buf.Bytes()))
		found := false
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Errorf("%s line is not JSON: %q", out.name, sc.Text())
			}
			found = found || strings.Contains(sc.Text(), out.want)
		}
		if !found {
			t.Errorf("%s has no line with %s:\n%s", out.name, out.want, out.buf.String())
		}
	}
}

// fakeRuntimeAPI serves the Lambda Runtime API for one invocation with the
// given request id and event, and sends what the function posts back (its
// path, a newline, its body) on the channel. It stops with the test.
func fakeRuntimeAPI(t *testing.T, requestID string, payload []byte, deadline time.Duration) (addr string, posted <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Bool
	out := make(chan []byte, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
			if served.Swap(true) {
				<-r.Context().Done()
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", requestID)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(deadline).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-6743a2f1-4b8e2c1d9f0a3e5b7c6d8e9f;Parent=53995c3f42cd8ad8;Sampled=1")
			w.Write(payload)
		case r.URL.Path == "/2020-01-01/extension/register":
			// aws-lambda-go registers an internal extension for SIGTERM.
			w.Header().Set("Lambda-Extension-Identifier", "ext-1")
			io.WriteString(w, "{}")
		case r.URL.Path == "/2020-01-01/extension/event/next":
			<-r.Context().Done()
		case r.Method == http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusAccepted)
			out <- append([]byte(r.URL.Path+"\n"), b...)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), out
}
