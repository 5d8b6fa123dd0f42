package lambda_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/httpapi/httpapitest"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// failRejectionOnce fails the first update of a record to REJECTED with a
// transient error, without writing it.
type failRejectionOnce struct {
	*sqlite.DB
	failed atomic.Bool
}

func (f *failRejectionOnce) UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error {
	if st.Status == txpipe.StatusRejected && f.failed.CompareAndSwap(false, true) {
		return txpipe.Errorf(txpipe.ETRANSIENT, "record file %s: connection reset", st.FileID)
	}
	return f.DB.UpdateStatus(ctx, st, from...)
}

// TestTwoStepRejectedErrorsCSVOnS3: a two-step upload of a file with 250
// bad rows and 2 duplicate ids lands in S3 (gofakes3); the run's Validate
// rejects it, its record keeps the first txpipe.MaxReportedErrors errors,
// and GET /status/{file_id}/errors.csv, served by the API Lambda's handler
// as on AWS, lists all 252, each on its line (the stored file read again by
// ranged GETs, not spooled to /tmp). The bytes were kept under the
// file's own key (uploads/<sha256>), none left under incoming/, and a
// Validate retried after it moved them reads them there.
func TestTwoStepRejectedErrorsCSVOnS3(t *testing.T) {
	ctx := context.Background()
	client := newBucket(t, awstest.Config(awstest.StartS3(t)))
	store := s3store.New(client, uploadBucket)
	db := sqlitetest.Open(t)

	// 400 rows, 250 of them with a bad amount, and two repeating an id:
	// 252 errors.
	const rows = 400
	data, bad := httpapitest.ManyErrors(rows, true)
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	if _, _, err := (&workflow.Uploads{Statuses: db}).Declare(ctx, workflow.Declaration{Filename: "many-errors.csv", SizeBytes: int64(len(data)), SHA256: hexSum}); err != nil {
		t.Fatal(err)
	}
	putIncoming(t, client, data)

	// The first write of the rejection fails after the bytes were moved:
	// the retried Validate reads them at the file's key.
	lost := &failRejectionOnce{DB: db}
	invoke := stepInvoker(ctx, &workflow.Tasks{Files: store, Uploads: store, Statuses: lost},
		&workflow.Tasks{Files: store, Transactions: db, Statuses: db}, &workflow.Tasks{Statuses: db, Notifier: &notes{}})
	end, _, err := newMachine(t, workflow.Pipeline(), invoke).run(startFromEvent(t, hexSum, len(data)))
	if err != nil || end != workflow.StateRejected {
		t.Fatalf("execution ended at %s (%v), want %s", end, err, workflow.StateRejected)
	}
	if !lost.failed.Load() {
		t.Error("the rejection's first write did not fail: Validate was not retried")
	}
	fileID := txpipe.FileIDFromSHA256(hexSum)
	st, err := db.GetStatus(ctx, fileID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusRejected || st.ErrorCount != bad || len(st.Errors) != txpipe.MaxReportedErrors {
		t.Fatalf("record: %s, %d errors, %d kept; want REJECTED, %d, %d", st.Status, st.ErrorCount, len(st.Errors), bad, txpipe.MaxReportedErrors)
	}
	if _, err := store.OpenUpload(ctx, s3store.IncomingKey(hexSum)); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("incoming object after the rejection: %v, want it moved to the file's key", err)
	}

	// errorsCSV answers GET /status/{file_id}/errors.csv with the API
	// Lambda's handler, as cmd/txpipe-lambda wires it (with rowErrors and
	// timeout), and returns its lines.
	rowErrors := &workflow.RowErrors{Files: store, TempDir: filepath.Join(t.TempDir(), "none")} // no spool: ranged GETs
	errorsCSV := func(rowErrors httpapi.RowErrorStreamer, timeout time.Duration) [][]string {
		t.Helper()
		api := &lambda.API{NewHandler: func(baseURL string) http.Handler {
			return httpapi.NewServer(httpapi.Config{
				Statuses: db, Transactions: db, Files: db,
				RowErrors: rowErrors, RowErrorsTimeout: timeout,
				Identify: func(*http.Request) (httpapi.Identity, error) {
					return httpapi.Identity{Name: "finance", Role: txpipe.RoleUser}, nil
				},
				BaseURL: baseURL,
			})
		}}
		get := readEvent[events.APIGatewayProxyRequest](t, "apigw-get-status.json")
		get.Resource = "/status/{file_id}/errors.csv"
		get.Path = "/status/" + fileID + "/errors.csv"
		get.RequestContext.Path = "/dev" + get.Path
		get.PathParameters = map[string]string{"file_id": fileID}
		resp, err := api.Handle(ctx, get)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.IsBase64Encoded {
			t.Fatalf("GET %s: %d (base64 %v) %s", get.Path, resp.StatusCode, resp.IsBase64Encoded, resp.Body)
		}
		lines, err := httpapitest.ReadErrorsCSV(strings.NewReader(resp.Body))
		if err != nil {
			t.Fatalf("errors.csv does not parse: %v\n%s", err, resp.Body)
		}
		return lines
	}
	lines := errorsCSV(rowErrors, time.Minute)
	if err := httpapitest.CheckManyErrors(lines, rows, true); err != nil {
		t.Fatal(err)
	}

	// Out of time before any error (a file too large to read again within
	// the timeout): the record's errors and how many are left.
	short := errorsCSV(rowErrors, time.Nanosecond)
	if len(short) != 1+txpipe.MaxReportedErrors+1 || short[len(short)-1][0] != fmt.Sprintf("# %d more errors not listed: the file takes longer than 1ns to read again", bad-txpipe.MaxReportedErrors) {
		t.Errorf("errors.csv out of time at once: %d lines ending %q; want the record's %d and a note of %d more", len(short), short[len(short)-1], txpipe.MaxReportedErrors, bad-txpipe.MaxReportedErrors)
	}
	for i, e := range st.Errors {
		if r := short[i+1]; r[0] != strconv.Itoa(e.Line) || r[3] != e.Message {
			t.Fatalf("errors.csv out of time at once, line %d = %q, the record says %+v", i+1, r, e)
		}
	}
	// Out of time after 150 errors (the record's 100 among them): those,
	// none again, and how many are left.
	stalled := errorsCSV(stallAfter{RowErrorStreamer: rowErrors, n: 150}, 200*time.Millisecond)
	if len(stalled) != 1+150+1 || stalled[151][0] != fmt.Sprintf("# %d more errors not listed: the file takes longer than 200ms to read again", bad-150) {
		t.Fatalf("errors.csv out of time after 150: %d lines ending %q", len(stalled), stalled[len(stalled)-1])
	}
	for i := 1; i <= 150; i++ {
		if strings.Join(stalled[i], ",") != strings.Join(lines[i], ",") {
			t.Fatalf("errors.csv out of time after 150, line %d = %q, want %q", i, stalled[i], lines[i])
		}
	}
}

// stallAfter hands on the first n errors, then waits until its context
// ends: a file that takes longer to read again than errors.csv may.
type stallAfter struct {
	httpapi.RowErrorStreamer
	n int
}

func (s stallAfter) StreamErrors(ctx context.Context, st *txpipe.FileStatus, fn func(txpipe.ErrorItem) error) error {
	i := 0
	return s.RowErrorStreamer.StreamErrors(ctx, st, func(e txpipe.ErrorItem) error {
		if i == s.n {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return fmt.Errorf("errors.csv did not stop the stream within 10 s")
			}
		}
		i++
		return fn(e)
	})
}
