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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// TestStateMachineOnS3WithFormat: a two-step upload declared with an
// encoding and a profile (POST /uploads) lands in S3 (gofakes3); the
// EventBridge event starts the run and the validator reads the bytes from
// S3 with the declared format, the profile read from the bucket's
// profiles/ (as on AWS). The stored transactions are those of the plain
// comma file, and the record names the profile and the dialect. A
// declaration whose profile was deleted before the bytes came is rejected
// saying so.
func TestStateMachineOnS3WithFormat(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(awstest.StartS3(t))
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "txpipe-uploads"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	store := s3store.New(client, bucket)
	profiles := s3store.NewProfiles(client, bucket)
	db, err := sqlite.Open(ctx, sqlitetest.Seed(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dialects := filepath.Join("..", "csvschema", "testdata", "dialects")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dialects, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := profiles.PutProfile(ctx, txpipe.StoredProfile{Name: "bank", YAML: string(read("bank.profile.yaml")), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	validator := &lambda.StepHandler{Function: workflow.FunctionValidator,
		Runner: &workflow.Tasks{Files: store, Uploads: store, Statuses: db, Profiles: profiles}}
	transformer := &lambda.StepHandler{Function: workflow.FunctionTransformer,
		Runner: &workflow.Tasks{Files: store, Transactions: db, Statuses: db}}
	notifier := &lambda.StepHandler{Function: workflow.FunctionNotifier,
		Runner: &workflow.Tasks{Statuses: db, Notifier: &notes{}}}
	handlers := map[string]*lambda.StepHandler{
		"${" + workflow.SubstValidatorArn + "}": validator, "${" + workflow.SubstTransformerArn + "}": transformer,
		"${" + workflow.SubstNotifierArn + "}": notifier,
	}
	invoke := func(fn string, payload []byte) ([]byte, error) {
		out, err := (&lambda.Mux{Steps: handlers[fn].Handle}).Handle(ctx, payload)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
	event, err := os.ReadFile(filepath.Join("testdata", "events", "eventbridge-s3-object-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	// upload declares data with d, puts it under incoming/ and runs the
	// machine from the EventBridge event; it returns the file's record.
	upload := func(data []byte, d workflow.Declaration) *txpipe.FileStatus {
		t.Helper()
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		d.SizeBytes, d.SHA256 = int64(len(data)), hexSum
		rec, _, err := (&workflow.Uploads{Statuses: db}).Declare(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Format == nil || *rec.Format != d.Format() || rec.Profile != d.Profile {
			t.Fatalf("declared record: format %+v profile %q, want %+v", rec.Format, rec.Profile, d.Format())
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(s3store.IncomingKey(hexSum)),
			Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		raw := bytes.ReplaceAll(event, []byte("5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2"), []byte(hexSum))
		raw = bytes.ReplaceAll(raw, []byte(`"size": 812345678`), []byte(fmt.Sprintf(`"size": %d`, len(data))))
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		runs := &startedRuns{}
		if err := (&lambda.Objects{Runs: runs, FileKeyOf: s3store.FileKeyOfIncoming}).Handle(ctx, ev); err != nil || len(runs.states) != 1 {
			t.Fatalf("start run: %v, %d runs", err, len(runs.states))
		}
		var input map[string]any
		b, _ := json.Marshal(runs.states[0])
		json.Unmarshal(b, &input)
		if end, _, err := newMachine(t, workflow.Pipeline(), invoke).run(input); err != nil {
			t.Fatalf("execution failed at %s: %v", end, err)
		}
		st, err := db.GetStatus(ctx, txpipe.FileIDFromSHA256(hexSum))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	bank := read("semicolon-windows1252.csv")
	st := upload(bank, workflow.Declaration{Filename: "bank.csv", Encoding: "windows-1252", Profile: "bank"})
	if st.Status != txpipe.StatusCompleted || st.Rows != 20 || st.Profile != "bank" || st.Format != nil ||
		st.Dialect == nil || *st.Dialect != (txpipe.Dialect{Delimiter: ";", Encoding: "windows-1252"}) {
		t.Fatalf("record: status %s rows %d profile %q format %+v dialect %+v: %+v", st.Status, st.Rows, st.Profile, st.Format, st.Dialect, st.Errors)
	}
	// The same transactions as the comma file.
	d := csvschema.NewDecoder(bytes.NewReader(read("comma-utf8.csv")))
	for {
		var want txpipe.Transaction
		if err := d.Decode(&want); err != nil {
			break
		}
		page, err := db.ListTransactions(ctx, txpipe.TxQuery{From: want.Timestamp, To: want.Timestamp.Add(time.Second), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, got := range page.Items {
			if got.ID == want.ID {
				found = got.Amount == want.Amount && got.Currency == want.Currency && got.Merchant == want.Merchant && got.Status == want.Status && got.Timestamp.Equal(want.Timestamp)
			}
		}
		if !found {
			t.Errorf("transaction %s (%s %s at %s) not stored as the comma file has it", want.ID, want.Amount, want.Currency, want.Timestamp)
		}
	}

	// Without its format the same bytes are rejected on line 1 (the check
	// stops at the header; the rest is still read, so the hash covers the
	// whole file and the record is REJECTED, not a hash mismatch).
	other := append(bytes.Clone(bank), "\r\n"...) // other bytes, another file id
	st = upload(other, workflow.Declaration{Filename: "bank-undeclared.csv", Delimiter: ";"})
	if st.Status != txpipe.StatusRejected || len(st.Errors) != 1 || st.Errors[0].Line != 1 || !strings.Contains(st.Errors[0].Message, "not valid UTF-8") {
		t.Fatalf("record without the declared encoding: %s %+v", st.Status, st.Errors)
	}

	// The profile deleted between the declaration and the bytes.
	tab := read("tab-utf16le-bom.csv")
	st = upload(tab, workflow.Declaration{Filename: "card.csv", Profile: "gone"})
	if st.Status != txpipe.StatusRejected || st.Profile != "gone" || len(st.Errors) != 1 || !strings.Contains(st.Errors[0].Message, `no profile named "gone"`) {
		t.Fatalf("record with a deleted profile: %s %q %+v", st.Status, st.Profile, st.Errors)
	}
}
