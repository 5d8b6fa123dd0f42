package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/workflow"
)

// awsTestEnv starts dynalite, moto (SNS, SQS, Step Functions) and gofakes3,
// creates the resources and sets the TXPIPE_* and AWS_ENDPOINT_URL_*
// variables the commands read. It returns the Step Functions client and
// the state machine's ARN. dynalite has no transactions, so the stores
// keep no volumes (TXPIPE_VOLUMES=off); awsTestEnvWithVolumes puts
// DynamoDB on moto instead.
func awsTestEnv(t *testing.T) (*sfn.Client, string) { return awsTestEnvOn(t, false) }

// awsTestEnvWithVolumes is awsTestEnv with DynamoDB on moto (one request at
// a time: see awstest.Serialize) and the volumes kept, as on AWS.
func awsTestEnvWithVolumes(t *testing.T) (*sfn.Client, string) { return awsTestEnvOn(t, true) }

func awsTestEnvOn(t *testing.T, volumes bool) (*sfn.Client, string) {
	t.Helper()
	awstest.SkipShort(t)
	ctx := t.Context()
	moto, err := awstest.StartMoto(context.Background())
	awstest.Need(t, "moto_server", err)
	t.Cleanup(func() { moto.Close() })
	s3URL := awstest.StartS3(t)
	dynURL, volumesEnv := "", "off"
	if volumes {
		dynURL, volumesEnv = awstest.Serialize(t, moto.URL), "on"
	} else {
		dyn, err := awstest.StartDynalite(context.Background())
		awstest.Need(t, "dynalite", err)
		t.Cleanup(func() { dyn.Close() })
		dynURL = dyn.URL
	}

	db := dynamodb.NewFromConfig(awstest.Config(dynURL))
	if err := dynamo.CreateTransactionsTable(ctx, db, "transactions-test"); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateStatusTable(ctx, db, "processing-status-test"); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(awstest.Config(s3URL), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("txpipe-test")}); err != nil {
		t.Fatal(err)
	}
	motoCfg := awstest.Config(moto.URL)
	topic, err := sns.NewFromConfig(motoCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("txpipe-results-test")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.NewFromConfig(motoCfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("txpipe-dlq-test")})
	if err != nil {
		t.Fatal(err)
	}
	sfnc := sfn.NewFromConfig(motoCfg)
	def, err := workflow.ASL(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sfnc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String("txpipe-test"), Definition: aws.String(string(def)),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/txpipe-sfn"),
	})
	if err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": awstest.Region, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_DYNAMODB": dynURL, "AWS_ENDPOINT_URL_S3": s3URL, awsenv.Volumes: volumesEnv,
		"AWS_ENDPOINT_URL_SNS": moto.URL, "AWS_ENDPOINT_URL_SQS": moto.URL, "AWS_ENDPOINT_URL_SFN": moto.URL,
		awsenv.TransactionsTable: "transactions-test", awsenv.StatusTable: "processing-status-test", awsenv.Bucket: "txpipe-test",
		awsenv.TopicARN: aws.ToString(topic.TopicArn), awsenv.DLQURL: aws.ToString(q.QueueUrl),
		awsenv.StateMachineARN: aws.ToString(sm.StateMachineArn), awsenv.TimeShards: "4",
	} {
		t.Setenv(k, v)
	}
	return sfnc, aws.ToString(sm.StateMachineArn)
}

func TestAWSStoresAndDeadLetters(t *testing.T) {
	sfnc, smARN := awsTestEnv(t)
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)

	s, err := awsAdapters(ctx, logger)
	if err != nil {
		t.Fatalf("awsAdapters: %v", err)
	}

	// Each store reaches its service.
	now := time.Now().UTC().Truncate(time.Second)
	st := &txpipe.FileStatus{FileID: "f-store", Status: txpipe.StatusValidated, Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now}
	if _, created, err := s.Statuses.CreateStatus(ctx, st); err != nil || !created {
		t.Fatalf("CreateStatus: %v, created %v", err, created)
	}
	if got, err := s.Statuses.GetStatus(ctx, "f-store"); err != nil || got.Status != txpipe.StatusValidated {
		t.Fatalf("GetStatus: %+v, %v", got, err)
	}
	key := strings.Repeat("ab", 32)
	if err := s.Files.PutFile(ctx, key, strings.NewReader("a,b\n")); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	f, err := s.Files.OpenFile(ctx, key)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "a,b\n" {
		t.Errorf("file = %q", b)
	}
	tx := txpipe.Transaction{ID: "t1", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: now,
		Merchant: "m", Status: txpipe.TxCompleted, FileID: "f-store", IngestedAt: now}
	if c, err := s.Transactions.PutTransactions(ctx, []txpipe.Transaction{tx}); err != nil || c.Inserted != 1 {
		t.Fatalf("PutTransactions: %+v, %v", c, err)
	}
	if err := s.Notifier.Notify(ctx, txpipe.NotificationFor(st, now)); err != nil {
		t.Fatalf("Notify: %v", err)
	}

	// Three failed runs in the dead-letter queue.
	for _, id := range []string{"f-a", "f-b", "f-c"} {
		dl := workflow.RunState{FileID: id, FileKey: key, Filename: id + ".csv", Rows: 1,
			Error: &workflow.StepError{Error: "txpipe.invalid", Cause: "bad rows in " + id}}
		if err := s.DeadLetters.SendDeadLetter(ctx, dl); err != nil {
			t.Fatalf("SendDeadLetter: %v", err)
		}
	}

	listed := func() []string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, []string{"dlq", "list", "--aws", "--json"}, nil, &out, &errb); code != exitOK {
			t.Fatalf("dlq list --aws: exit %d: %s", code, errb.String())
		}
		var doc struct {
			Items []deadLetter `json:"items"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("dlq list --aws --json: %v: %s", err, out.String())
		}
		var ids []string
		for _, d := range doc.Items {
			ids = append(ids, d.FileID)
			if d.Failure != "txpipe.invalid: bad rows in "+d.FileID {
				t.Errorf("failure of %s = %q", d.FileID, d.Failure)
			}
		}
		return ids
	}
	if got := listed(); len(got) != 3 {
		t.Fatalf("dlq list = %v, want 3 files", got)
	}
	// Listing released what it read: a second listing right away sees all.
	if got := listed(); len(got) != 3 {
		t.Fatalf("second dlq list = %v, want the same 3 files", got)
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"dlq", "redrive", "--aws", "f-b"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("dlq redrive --aws f-b: exit %d: %s", code, errb.String())
	}
	execs, err := sfnc.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs.Executions) != 1 {
		t.Fatalf("executions after redrive = %d, want 1", len(execs.Executions))
	}
	desc, err := sfnc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: execs.Executions[0].ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var in workflow.RunState
	if err := json.Unmarshal([]byte(aws.ToString(desc.Input)), &in); err != nil {
		t.Fatal(err)
	}
	if in.FileID != "f-b" || in.Error != nil || in.FileKey != key {
		t.Errorf("redriven execution input = %s, want f-b without its error", aws.ToString(desc.Input))
	}
	got := listed()
	if len(got) != 2 || strings.Contains(strings.Join(got, ","), "f-b") {
		t.Errorf("dlq list after redrive = %v, want f-a and f-c", got)
	}

	errb.Reset()
	if code := run(ctx, []string{"dlq", "redrive", "--aws", "f-missing"}, nil, &out, &errb); code != exitRejected ||
		!strings.Contains(errb.String(), "not in the dead-letter queue") {
		t.Errorf("redrive of an unknown file: exit %d, %q", code, errb.String())
	}
	if got := listed(); len(got) != 2 {
		t.Errorf("dlq list after a failed redrive = %v, want 2 (nothing lost)", got)
	}
}

func TestAWSStoresNeedTheirNames(t *testing.T) {
	for _, k := range []string{awsenv.TransactionsTable, awsenv.StatusTable, awsenv.Bucket, awsenv.TopicARN, awsenv.DLQURL} {
		t.Setenv(k, "")
	}
	_, err := awsAdapters(t.Context(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), awsenv.Bucket) {
		t.Errorf("awsAdapters without environment: %v, want an error naming %s", err, awsenv.Bucket)
	}
}

// runServeAWS runs `txpipe serve --aws` with the given workers against the
// emulators set up by the caller, stopped when the test ends, and returns
// it with the API key its banner printed.
func runServeAWS(t *testing.T, workers int) (*server.Server, string) {
	t.Helper()
	var out bytes.Buffer
	cfg := serveConfig{Config: server.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 100 << 20, Workers: workers}, DataDir: t.TempDir(), AWS: true}
	s, err := openServer(context.Background(), cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatalf("serve --aws: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	m := regexp.MustCompile(`\(shown only once\): (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("serve --aws printed no API key: %q", out.String())
	}
	return s, m[1]
}

// TestServeOnAWSStores runs `txpipe serve --aws` (the local engine over the
// AWS adapters, against the emulators) and the newcomer's path through it:
// upload with --wait, status, transactions.
func TestServeOnAWSStores(t *testing.T) {
	awsTestEnv(t)
	s, key := runServeAWS(t, 2)
	env := map[string]string{envEndpoint: s.URL(), envAPIKey: key}

	file := filepath.Join(t.TempDir(), "transactions.csv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := txgen.Write(f, txgen.Options{Rows: 2000, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, stdout, stderr := cli(t, env, "upload", "--wait", "--json", file)
	if code != exitOK {
		t.Fatalf("upload --wait on AWS stores = %d\n%s\n%s", code, stdout, stderr)
	}
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(lastJSON(stdout)), &st); err != nil {
		t.Fatalf("upload --json output %q: %v", stdout, err)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != 2000 || st.Inserted != 2000 {
		t.Fatalf("after --wait: %+v, want COMPLETED with 2000 rows inserted", st)
	}
	// The record is in DynamoDB, where `aws dynamodb get-item` finds it.
	db := dynamodb.NewFromConfig(awstest.Config(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")))
	got, err := dynamo.NewStatusStore(db, os.Getenv(awsenv.StatusTable)).GetStatus(t.Context(), st.FileID)
	if err != nil || got.Status != txpipe.StatusCompleted {
		t.Fatalf("status in DynamoDB: %+v, %v", got, err)
	}
	c := &httpapi.Client{Endpoint: s.URL(), APIKey: key}
	// A range of a century: only the days holding data are queried.
	q := txpipe.TxQuery{From: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 1000}
	n := 0
	for {
		page, err := c.Transactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if n != 2000 {
		t.Errorf("listed %d transactions from DynamoDB, want 2000", n)
	}
	// The dead-letter gauge reads the SQS queue serve --aws writes to, not
	// the data dir's database.
	a, err := awsAdapters(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DeadLetters.SendDeadLetter(t.Context(), workflow.RunState{FileID: "gauge"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^txpipe_dlq_depth 1$`).Match(body) {
		t.Errorf("/metrics has no txpipe_dlq_depth 1 after a dead letter in SQS:\n%s", regexp.MustCompile(`(?m)^txpipe_dlq.*$`).Find(body))
	}
}
