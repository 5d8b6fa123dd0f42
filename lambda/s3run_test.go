package lambda_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/workflow"
)

const uploadBucket = "txpipe-uploads"

// newBucket creates the uploads bucket on the S3 emulator cfg points at.
func newBucket(t *testing.T, cfg aws.Config) *s3.Client {
	t.Helper()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(uploadBucket)}); err != nil {
		t.Fatal(err)
	}
	return client
}

// putIncoming puts data under the incoming/ key of its SHA-256, as a
// client's presigned PUT does, and returns the hex SHA-256.
func putIncoming(t *testing.T, client *s3.Client, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(uploadBucket), Key: aws.String(s3store.IncomingKey(hexSum)),
		Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	return hexSum
}

// stepInvoker returns what the state machine calls for a task: the Lambda
// handler of its function over the given steps, JSON in and JSON out.
func stepInvoker(ctx context.Context, validator, transformer, notifier *workflow.Tasks) func(fn string, payload []byte) ([]byte, error) {
	handlers := map[string]*lambda.StepHandler{
		"${" + workflow.SubstValidatorArn + "}":   {Function: workflow.FunctionValidator, Runner: validator},
		"${" + workflow.SubstTransformerArn + "}": {Function: workflow.FunctionTransformer, Runner: transformer},
		"${" + workflow.SubstNotifierArn + "}":    {Function: workflow.FunctionNotifier, Runner: notifier},
	}
	return func(fn string, payload []byte) ([]byte, error) {
		out, err := (&lambda.Mux{Steps: handlers[fn].Handle}).Handle(ctx, payload)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}

// startFromEvent hands the real EventBridge Object Created event of the
// incoming object of hexSum (size bytes) to lambda.Objects and returns the
// one run it starts, as the state machine's input.
func startFromEvent(t *testing.T, hexSum string, size int) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "events", "eventbridge-s3-object-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2"), []byte(hexSum))
	raw = bytes.ReplaceAll(raw, []byte(`"size": 812345678`), []byte(fmt.Sprintf(`"size": %d`, size)))
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	runs := &startedRuns{}
	if err := (&lambda.Objects{Runs: runs, FileKeyOf: s3store.FileKeyOfIncoming}).Handle(t.Context(), ev); err != nil || len(runs.states) != 1 {
		t.Fatalf("start run: %v, %d runs", err, len(runs.states))
	}
	var input map[string]any
	b, err := json.Marshal(runs.states[0])
	if err == nil {
		err = json.Unmarshal(b, &input)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input
}
