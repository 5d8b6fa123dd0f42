package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/workflow"
)

// TestConsoleAPIOnAWSStores runs `txpipe serve --aws` with DynamoDB on
// moto (volumes kept, as on AWS) and checks every path the console uses:
// whoami, files, volumes (equal to the rows stored), the transactions CSV,
// a rejected file's errors CSV, and the dead-letter list and redrive (a new
// Step Functions execution, as `txpipe dlq redrive --aws`).
func TestConsoleAPIOnAWSStores(t *testing.T) {
	sfnc, smARN := awsTestEnvWithVolumes(t)
	s, key := runServeAWS(t, 1)
	call := func(method, path string, wantCode int) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(httpapi.APIKeyHeader, key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantCode {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, res.StatusCode, wantCode, b)
		}
		return b
	}

	var who struct{ Name, Role string }
	if err := json.Unmarshal(call("GET", "/whoami", 200), &who); err != nil || who.Role != txpipe.RoleAdmin {
		t.Errorf("whoami = %+v, %v; want the admin first key", who, err)
	}

	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := txgen.Write(f, txgen.Options{Rows: 40, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	env := map[string]string{envEndpoint: s.URL(), envAPIKey: key}
	code, stdout, stderr := cli(t, env, "upload", "--wait", "--json", good)
	if code != exitOK {
		t.Fatalf("upload --wait = %d\n%s\n%s", code, stdout, stderr)
	}
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(lastJSON(stdout)), &st); err != nil || st.Status != txpipe.StatusCompleted {
		t.Fatalf("upload: %+v, %v", st, err)
	}

	var files txpipe.FilePage
	if err := json.Unmarshal(call("GET", "/files?status=completed", 200), &files); err != nil || len(files.Items) != 1 || files.Items[0].FileID != st.FileID {
		t.Errorf("GET /files?status=completed = %+v, %v; want the uploaded file", files, err)
	}

	// The volumes equal the rows stored, summed per day and currency.
	var page txpipe.TxPage
	if err := json.Unmarshal(call("GET", "/transactions?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1000", 200), &page); err != nil || len(page.Items) != 40 {
		t.Fatalf("GET /transactions: %d items, %v", len(page.Items), err)
	}
	want := map[string][2]int64{}
	lo, hi := page.Items[0].Timestamp, page.Items[0].Timestamp
	for _, x := range page.Items {
		k := x.Timestamp.UTC().Format(time.DateOnly) + " " + x.Currency
		v := want[k]
		want[k] = [2]int64{v[0] + 1, v[1] + x.AmountMinor}
		if x.Timestamp.Before(lo) {
			lo = x.Timestamp
		}
		if x.Timestamp.After(hi) {
			hi = x.Timestamp
		}
	}
	var vols httpapi.VolumesAnswer
	path := "/volumes?from=" + lo.UTC().Format(time.DateOnly) + "&to=" + hi.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	if err := json.Unmarshal(call("GET", path, 200), &vols); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, v := range vols.Items {
		got[v.Day+" "+v.Currency] = [2]int64{v.Rows, v.AmountMinor}
	}
	if len(got) != len(want) {
		t.Errorf("GET %s: %d day/currency items, the rows make %d", path, len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("volume of %s = %v, rows say %v", k, got[k], w)
		}
	}

	rows, err := csv.NewReader(bytes.NewReader(call("GET", "/transactions.csv?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", 200))).ReadAll()
	if err != nil || len(rows) != 41 {
		t.Errorf("GET /transactions.csv: %d lines, %v; want a header and 40 rows", len(rows), err)
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(txgen.Header+"\nb1,x,USD,2024-01-01T00:00:00Z,m,completed\nb2,1.00,ZZZ,2024-01-01T00:00:00Z,m,completed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = cli(t, env, "upload", "--json", bad)
	var rej struct {
		FileID string `json:"file_id"`
	}
	if err := json.Unmarshal([]byte(lastJSON(stderr)), &rej); code != exitRejected || err != nil || rej.FileID == "" {
		t.Fatalf("upload of a bad file = %d, %v, want %d and the rejection: %s", code, err, exitRejected, stderr)
	}
	errs, err := csv.NewReader(bytes.NewReader(call("GET", "/status/"+rej.FileID+"/errors.csv", 200))).ReadAll()
	if err != nil || len(errs) != 3 || errs[1][0] != "2" || errs[2][0] != "3" {
		t.Errorf("errors.csv = %q, %v; want the header and lines 2 and 3", errs, err)
	}

	// A failed run in the SQS queue: listed, then redriven to a new
	// execution of the state machine, and gone from the list.
	a, err := awsAdapters(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DeadLetters.SendDeadLetter(t.Context(), workflow.RunState{FileID: st.FileID, FileKey: "uploads/" + st.FileID}); err != nil {
		t.Fatal(err)
	}
	var dlq struct{ Items []txpipe.FailedRun }
	if err := json.Unmarshal(call("GET", "/dlq", 200), &dlq); err != nil || len(dlq.Items) != 1 || dlq.Items[0].FileID != st.FileID {
		t.Fatalf("GET /dlq = %+v, %v; want the dead letter", dlq, err)
	}
	call("POST", "/dlq/"+st.FileID+"/redrive", 202)
	execs, err := sfnc.ListExecutions(t.Context(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(execs.Executions) != 1 || !strings.Contains(aws.ToString(execs.Executions[0].Name), st.FileID[:16]) {
		names := []string{}
		for _, e := range execs.Executions {
			names = append(names, aws.ToString(e.Name))
		}
		t.Errorf("executions after redrive = %v, want one for %s", names, st.FileID)
	}
	if err := json.Unmarshal(call("GET", "/dlq", 200), &dlq); err != nil || len(dlq.Items) != 0 {
		t.Errorf("GET /dlq after redrive = %+v, %v; want it empty", dlq, err)
	}
	call("POST", "/dlq/"+st.FileID+"/redrive", 404)
}
