//go:build integration

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/workflow"
)

// TestTransformerPeakRSS runs the bootstrap as the transformer function on
// a generated object of TXPIPE_RSS_ROWS rows in S3 (gofakes3) writing into
// DynamoDB (dynalite), and checks the process's peak RSS stays under
// 256 MiB (the function has 512 MB). It takes minutes (dynalite writes about
// 4,000 items a second), so it runs only when asked:
//
//	TXPIPE_RSS_ROWS=1000000 go test -tags integration ./cmd/txpipe-lambda -run TestTransformerPeakRSS -v -timeout 30m
func TestTransformerPeakRSS(t *testing.T) {
	rows, _ := strconv.Atoi(os.Getenv("TXPIPE_RSS_ROWS"))
	if rows <= 0 {
		t.Skip("set TXPIPE_RSS_ROWS to run")
	}
	c := startCloud(t)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The object, as the validator would have stored it.
	path := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := txgen.Write(io.MultiWriter(f, h), txgen.Options{Rows: rows, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(awstest.Config(os.Getenv("AWS_ENDPOINT_URL_S3")), func(o *s3.Options) { o.UsePathStyle = true })
	if err := s3store.New(s3c, c.env[awsenv.Bucket]).PutFile(t.Context(), sum, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fileID := txpipe.FileIDFromSHA256(sum)
	payload, _ := json.Marshal(workflow.StepInput{Step: workflow.StepTransform,
		State: workflow.RunState{FileID: fileID, FileKey: sum, Filename: "big.csv", Rows: int64(rows)}})

	runtimeAPI, posted := fakeRuntimeAPI(t, "req-transform", payload, 30*time.Minute)

	cmd := exec.Command(bin, "transformer")
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+runtimeAPI, "AWS_LAMBDA_FUNCTION_NAME=data-transformer-test")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	start := time.Now()
	var got []byte
	select {
	case got = <-posted:
	case <-time.After(25 * time.Minute):
		t.Fatalf("no result; stderr:\n%s", stderr.String())
	}
	hwm := vmHWM(t, cmd.Process.Pid)
	t.Logf("transformer: %d rows in %v, peak RSS %.1f MiB", rows, time.Since(start).Round(time.Millisecond), hwm)

	path2, body, _ := strings.Cut(string(got), "\n")
	var out workflow.RunState
	if path2 != "/2018-06-01/runtime/invocation/req-transform/response" || json.Unmarshal([]byte(body), &out) != nil ||
		out.Counts == nil || out.Counts.Inserted != int64(rows) {
		t.Fatalf("posted to %s: %s\nstderr:\n%s", path2, body, stderr.String())
	}
	if hwm >= 256 {
		t.Errorf("peak RSS %.1f MiB, want under 256 MiB", hwm)
	}
}

// vmHWM reads a process's peak resident set size in MiB.
func vmHWM(t *testing.T, pid int) float64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
