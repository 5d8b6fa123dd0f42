//go:build integration

package server_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/httpapi/httpapitest"
)

// TestTwoStepRejectedErrorsCSV: a file with 250 bad rows sent through the
// two-step upload (POST /uploads, PUT to the URL) to `txpipe serve` as it
// is assembled ends REJECTED, its record keeping the first
// txpipe.MaxReportedErrors errors, and GET /status/{file_id}/errors.csv
// lists all 250, each on its line (the AWS counterpart is lambda's
// TestTwoStepRejectedErrorsCSVOnS3).
func TestTwoStepRejectedErrorsCSV(t *testing.T) {
	s, db := startLocal(t, 1, nil)
	key, _, err := httpapi.CreateKeyWithRole(t.Context(), db, "finance", 1000, 1000, txpipe.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	c := &httpapi.Client{Endpoint: s.URL(), APIKey: key}

	// 400 rows, 250 of them with a bad amount.
	const rows = 400
	data, bad := httpapitest.ManyErrors(rows, false)
	res, err := c.UploadTwoStep(t.Context(), "many-errors.csv", bytes.NewReader(data), httpapi.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Record
	if st == nil || st.Status != txpipe.StatusRejected || st.ErrorCount != bad || len(st.Errors) != txpipe.MaxReportedErrors {
		t.Fatalf("two-step upload: %d %+v; want REJECTED with %d errors, %d kept", res.StatusCode, st, bad, txpipe.MaxReportedErrors)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/status/"+st.FileID+"/errors.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET errors.csv: %d, %v: %s", resp.StatusCode, err, body)
	}
	lines, err := httpapitest.ReadErrorsCSV(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("errors.csv does not parse: %v\n%s", err, body)
	}
	if err := httpapitest.CheckManyErrors(lines, rows, false); err != nil {
		t.Fatal(err)
	}
}
