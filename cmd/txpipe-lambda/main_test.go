//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/workflow"
)

// The file inside lambda/testdata/events/apigw-multipart-upload.json.
const (
	uploadFileID = "4da8008f0289303aaee88aaaf7835aa8"
	uploadSHA256 = "4da8008f0289303aaee88aaaf7835aa8eb8dd5aa345a3930795c7ae22e00b131"
)

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "lambda", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cloud is the AWS side of a test: the emulators and the resources the
// functions' environment names.
type cloud struct {
	env      map[string]string
	sfn      *sfn.Client
	sqs      *sqs.Client
	smARN    string
	notesURL string // a queue subscribed to the topic
}

var (
	emulatorsOnce sync.Once
	dynalite      *awstest.Server
	moto          *awstest.Server
	emulatorsErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	dynalite.Close()
	moto.Close()
	os.Exit(code)
}

// startCloud starts (once) dynalite, moto (SNS, SQS, Step Functions) and
// gofakes3, creates the tables, bucket, topic, queues and state machine,
// and points the SDK at them through AWS_ENDPOINT_URL_* as a deployment
// would through the real endpoints.
func startCloud(t *testing.T) *cloud {
	t.Helper()
	awstest.SkipShort(t)
	emulatorsOnce.Do(func() {
		ctx := context.Background()
		dynalite, emulatorsErr = awstest.StartDynalite(ctx)
		if emulatorsErr == nil {
			moto, emulatorsErr = awstest.StartMoto(ctx)
		}
	})
	awstest.Need(t, "dynalite and moto", emulatorsErr)
	ctx := t.Context()
	s3URL := awstest.StartS3(t)
	suffix := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))

	db := dynamodb.NewFromConfig(awstest.Config(dynalite.URL))
	c := &cloud{env: map[string]string{
		awsenv.TransactionsTable: "transactions-" + suffix,
		awsenv.StatusTable:       "processing-status-" + suffix,
		awsenv.Bucket:            "txpipe-" + suffix,
	}}
	if err := dynamo.CreateTransactionsTable(ctx, db, c.env[awsenv.TransactionsTable]); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateStatusTable(ctx, db, c.env[awsenv.StatusTable]); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(awstest.Config(s3URL), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.env[awsenv.Bucket])}); err != nil {
		t.Fatal(err)
	}
	motoCfg := awstest.Config(moto.URL)
	snsc := sns.NewFromConfig(motoCfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("txpipe-results-" + suffix)})
	if err != nil {
		t.Fatal(err)
	}
	c.env[awsenv.TopicARN] = aws.ToString(topic.TopicArn)
	c.sqs = sqs.NewFromConfig(motoCfg)
	for _, q := range []struct {
		name string
		dst  *string
	}{{"txpipe-dlq-" + suffix, nil}, {"txpipe-notes-" + suffix, &c.notesURL}} {
		out, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name)})
		if err != nil {
			t.Fatal(err)
		}
		if q.dst == nil {
			c.env[awsenv.DLQURL] = aws.ToString(out.QueueUrl)
		} else {
			*q.dst = aws.ToString(out.QueueUrl)
		}
	}
	attrs, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(c.notesURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	c.sfn = sfn.NewFromConfig(motoCfg)
	def, err := workflow.ASL(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	sm, err := c.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String("txpipe-" + suffix), Definition: aws.String(string(def)),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/txpipe-sfn"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.smARN = aws.ToString(sm.StateMachineArn)
	c.env[awsenv.StateMachineARN] = c.smARN

	for k, v := range map[string]string{
		"AWS_REGION": awstest.Region, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_DYNAMODB": dynalite.URL, "AWS_ENDPOINT_URL_S3": s3URL,
		"AWS_ENDPOINT_URL_SNS": moto.URL, "AWS_ENDPOINT_URL_SQS": moto.URL, "AWS_ENDPOINT_URL_SFN": moto.URL,
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
		awsenv.Volumes: "off", // dynalite has no transactions (the volumes are tested on moto in dynamo)
	} {
		t.Setenv(k, v)
	}
	for k, v := range c.env {
		t.Setenv(k, v)
	}
	return c
}

// invoke runs a built handler the way the runtime does: JSON event in,
// JSON result or error out.
func invoke[Out any](t *testing.T, fn *function, payload []byte) (Out, error) {
	t.Helper()
	var out Out
	b, err := awslambda.NewHandler(fn.handler).Invoke(t.Context(), payload)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode result %s: %v", b, err)
	}
	return out, nil
}

// emfValue returns the value of metric name in the EMF lines of out.
func emfValue(t *testing.T, out *bytes.Buffer, name string) (float64, bool) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", sc.Text(), err)
		}
		if v, ok := doc[name].(float64); ok {
			if _, ok := doc["_aws"]; ok {
				return v, true
			}
		}
	}
	return 0, false
}

func buildFn(t *testing.T, name string, stdout io.Writer) *function {
	t.Helper()
	fn, err := build(t.Context(), name, os.Getenv, stdout, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	t.Cleanup(func() { fn.close(context.Background()) })
	return fn
}

// TestFunctionsOnEmulators runs the three functions, built as main builds
// them, on real event JSON against the emulators: upload through API
// Gateway events, the Step Functions execution it starts, transform,
// notify, and the status and transactions routes.
func TestFunctionsOnEmulators(t *testing.T) {
	c := startCloud(t)
	ctx := t.Context()
	var validatorOut, transformerOut bytes.Buffer
	validator := buildFn(t, workflow.FunctionValidator, &validatorOut)
	transformer := buildFn(t, workflow.FunctionTransformer, &transformerOut)
	notifier := buildFn(t, workflow.FunctionNotifier, io.Discard)

	// Upload: a multipart body, base64 as API Gateway sends binary media.
	resp, err := invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-multipart-upload.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 202 {
		t.Fatalf("upload: status %d, body %s; want 202", resp.StatusCode, resp.Body)
	}
	var accepted struct {
		FileID, Status, StatusURL string `json:"-"`
	}
	var acc map[string]any
	json.Unmarshal([]byte(resp.Body), &acc)
	accepted.FileID, _ = acc["file_id"].(string)
	accepted.Status, _ = acc["status"].(string)
	accepted.StatusURL, _ = acc["status_url"].(string)
	if accepted.FileID != uploadFileID || accepted.Status != txpipe.StatusValidated || acc["rows"] != 3.0 {
		t.Errorf("upload answer = %s, want file %s VALIDATED with 3 rows", resp.Body, uploadFileID)
	}
	if want := "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev/status/" + uploadFileID; accepted.StatusURL != want {
		t.Errorf("status_url = %q, want %q", accepted.StatusURL, want)
	}
	if v, ok := emfValue(t, &validatorOut, "RowsValidated"); !ok || v != 3 {
		t.Errorf("EMF RowsValidated = %v (found %v), want 3; stdout:\n%s", v, ok, validatorOut.String())
	}

	// The upload started one execution whose input is the run state.
	execs, err := c.sfn.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(c.smARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs.Executions) != 1 {
		t.Fatalf("executions = %d, want 1", len(execs.Executions))
	}
	desc, err := c.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: execs.Executions[0].ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var started workflow.RunState
	if err := json.Unmarshal([]byte(aws.ToString(desc.Input)), &started); err != nil {
		t.Fatal(err)
	}
	if started.FileID != uploadFileID || started.FileKey != uploadSHA256 || started.Rows != 3 || started.Filename != "transactions.csv" {
		t.Errorf("execution input = %+v", started)
	}

	// The status route.
	resp, err = invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-get-status.json"))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"status":"VALIDATED"`) {
		t.Fatalf("GET /status: %v, %d %s; want 200 VALIDATED", err, resp.StatusCode, resp.Body)
	}

	// The Step Functions tasks, with the event the state machine sends.
	state, err := invoke[workflow.RunState](t, transformer, event(t, "sfn-transform.json"))
	if err != nil {
		t.Fatalf("Transform: %v", err)
	}
	if state.Counts == nil || state.Counts.Inserted != 3 {
		t.Fatalf("Transform result = %+v, want 3 inserted", state)
	}
	if v, ok := emfValue(t, &transformerOut, "RowsWritten"); !ok || v != 3 {
		t.Errorf("EMF RowsWritten = %v (found %v), want 3", v, ok)
	}
	notifyIn, _ := json.Marshal(workflow.StepInput{Step: workflow.StepNotify, State: state})
	if _, err := invoke[workflow.RunState](t, notifier, notifyIn); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	resp, err = invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-get-status.json"))
	if err != nil || !strings.Contains(resp.Body, `"status":"COMPLETED"`) || !strings.Contains(resp.Body, `"inserted":3`) {
		t.Fatalf("GET /status after Notify: %v, %s; want COMPLETED with 3 inserted", err, resp.Body)
	}
	msgs, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.notesURL), WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	var note txpipe.Notification
	if len(msgs.Messages) != 1 || json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &note) != nil ||
		note.FileID != uploadFileID || note.Status != txpipe.StatusCompleted || note.Inserted != 3 {
		t.Errorf("SNS notification = %+v, want one COMPLETED for %s", msgs.Messages, uploadFileID)
	}

	// The transactions route, first page of two.
	resp, err = invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-get-transactions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var page txpipe.TxPage
	if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /transactions: %d %s", resp.StatusCode, resp.Body)
	}
	if len(page.Items) != 2 || page.Items[0].ID != "lambda-tx-2" || page.NextCursor == "" {
		t.Errorf("GET /transactions = %s, want lambda-tx-2 first (02:30Z), 2 items and a cursor", resp.Body)
	}

	// A rejected file: 422 with its errors; no execution started.
	resp, err = invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-csv-upload-rejected.json"))
	if err != nil || resp.StatusCode != 422 || !strings.Contains(resp.Body, `"error_count":2`) {
		t.Errorf("rejected upload: %v, %d %s; want 422 with 2 errors", err, resp.StatusCode, resp.Body)
	}
	if v, ok := emfValue(t, &validatorOut, "RowsRejected"); !ok || v != 2 {
		t.Errorf("EMF RowsRejected = %v (found %v), want 2", v, ok)
	}

	// A step the function does not run is refused, named for Step Functions.
	_, err = invoke[workflow.RunState](t, transformer, notifyIn)
	var ive messages.InvokeResponse_Error
	if !errors.As(err, &ive) || ive.Type != "txpipe.invalid" {
		t.Errorf("Notify on the transformer: %v, want errorType txpipe.invalid", err)
	}
}

// TestTransientErrorWhenDynamoDBIsDown: a table that cannot be reached is a
// transient failure, returned as the TransientError Step Functions retries.
func TestTransientErrorWhenDynamoDBIsDown(t *testing.T) {
	startCloud(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1") // nothing listens there
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	transformer := buildFn(t, workflow.FunctionTransformer, io.Discard)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := awslambda.NewHandler(transformer.handler).Invoke(ctx, event(t, "sfn-transform.json"))
	var te *workflow.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("Transform with DynamoDB down: %T %v, want *workflow.TransientError", err, err)
	}
}

func TestBuildRefusesBadConfiguration(t *testing.T) {
	getenv := func(string) string { return "" }
	if _, err := build(t.Context(), "uploader", getenv, io.Discard, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "unknown handler") {
		t.Errorf("unknown handler: %v", err)
	}
	_, err := build(t.Context(), workflow.FunctionNotifier, getenv, io.Discard, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), awsenv.TopicARN) {
		t.Errorf("notifier without its topic: %v, want an error naming %s", err, awsenv.TopicARN)
	}
	if got := handlerName(nil, func(string) string { return "notifier" }); got != "notifier" {
		t.Errorf("handlerName from $TXPIPE_HANDLER = %q", got)
	}
	if got := handlerName([]string{"transformer"}, func(string) string { return "notifier" }); got != "transformer" {
		t.Errorf("handlerName: the image command must win, got %q", got)
	}
}

// BenchmarkColdStart measures the work main does before lambda.Start: SDK
// configuration, telemetry, adapters and handler. It must stay under 50 ms.
func BenchmarkColdStart(b *testing.B) {
	env := map[string]string{
		awsenv.TransactionsTable: "transactions-dev", awsenv.StatusTable: "processing-status-dev", awsenv.Bucket: "txpipe-uploads-dev",
		awsenv.TopicARN: "arn:aws:sns:eu-west-1:123456789012:txpipe-results-dev", awsenv.DLQURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/txpipe-dlq-dev",
		awsenv.StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:txpipe-dev",
		"AWS_REGION":           "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_LAMBDA_FUNCTION_NAME": "csv-validator-dev",
		// As on Lambda: no custom CA bundle (parsing one is most of the
		// cost where it is set, as on this build machine) and no shared
		// config files.
		"AWS_CA_BUNDLE": "", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
	}
	for k, v := range env {
		b.Setenv(k, v)
	}
	for _, name := range []string{workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				fn, err := build(context.Background(), name, os.Getenv, io.Discard, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				fn.close(context.Background())
			}
		})
	}
}

// TestMarkFailedOnEmulators runs the failure path's Lambda step with the
// event Step Functions sends after a Catch (the Lambda error at
// $.error): the file is marked FAILED with the step's message as reason,
// and a FAILED notification is published.
func TestMarkFailedOnEmulators(t *testing.T) {
	c := startCloud(t)
	notifier := buildFn(t, workflow.FunctionNotifier, io.Discard)
	validator := buildFn(t, workflow.FunctionValidator, io.Discard)

	if _, err := invoke[workflow.RunState](t, notifier, event(t, "sfn-mark-failed.json")); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	resp, err := invoke[events.APIGatewayProxyResponse](t, validator, event(t, "apigw-get-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(resp.Body), &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, resp.Body)
	}
	want := "TransientError: write 3 rows of file " + uploadFileID + ": throughput exceeded"
	if st.Status != txpipe.StatusFailed || st.Failure != want {
		t.Errorf("status %s, failure %q; want FAILED, %q", st.Status, st.Failure, want)
	}
	msgs, err := c.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.notesURL), WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	var note txpipe.Notification
	if len(msgs.Messages) != 1 || json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &note) != nil ||
		note.Status != txpipe.StatusFailed || note.Failure != want {
		t.Errorf("SNS notification = %+v, want one FAILED with the reason", note)
	}
}
