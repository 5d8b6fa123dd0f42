//go:build integration

package console_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
)

// TestErrorsCSVListsEveryRejectedRow uploads a file with 250 bad rows (and
// two duplicate ids): its status record keeps the first 100 errors, and
// GET /status/{id}/errors.csv lists all 252, streamed from the stored file
// validated again.
func TestErrorsCSVListsEveryRejectedRow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	ts := startServer(t)
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for i := range 400 {
		amount := "1.00"
		if i%8 < 5 && i < 400 { // 250 rows with a bad amount
			amount = fmt.Sprintf("bad%d", i)
		}
		id := fmt.Sprintf("t%d", i)
		if i == 390 || i == 391 {
			id = "t1" // duplicates of line 3's id
		}
		fmt.Fprintf(&b, "%s,%s,USD,2025-01-01T00:00:00Z,m,completed\n", id, amount)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "many-errors.csv")
	fw.Write([]byte(b.String()))
	mw.Close()
	code, resp := call(t, ts, ts.AdminKey, http.MethodPost, "/upload", &body, mw.FormDataContentType())
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("upload: %d %s", code, resp)
	}
	var rej struct {
		FileID     string `json:"file_id"`
		ErrorCount int64  `json:"error_count"`
	}
	if err := json.Unmarshal(resp, &rej); err != nil {
		t.Fatal(err)
	}
	var st txpipe.FileStatus
	apiGet(t, ts, "/status/"+rej.FileID, &st)
	if st.ErrorCount != 252 || len(st.Errors) != txpipe.MaxReportedErrors {
		t.Fatalf("status record: %d errors, %d kept; want 252 and %d", st.ErrorCount, len(st.Errors), txpipe.MaxReportedErrors)
	}

	code, out := call(t, ts, ts.AdminKey, http.MethodGet, "/status/"+rej.FileID+"/errors.csv", nil, "")
	if code != http.StatusOK {
		t.Fatalf("errors.csv: %d %s", code, out)
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("errors.csv does not parse: %v\n%s", err, out)
	}
	if len(rows) != 1+252 {
		t.Fatalf("errors.csv: %d rows, want the header and 252 errors", len(rows))
	}
	// Every bad amount, on its line (the header is line 1), in line order,
	// then the two duplicates.
	n := 1
	for i := range 400 {
		if i%8 >= 5 {
			continue
		}
		r := rows[n]
		if r[0] != strconv.Itoa(i+2) || r[1] != "amount" || r[2] != fmt.Sprintf("bad%d", i) {
			t.Fatalf("errors.csv row %d = %q, want line %d, amount, bad%d", n, r, i+2, i)
		}
		n++
	}
	for _, line := range []string{"392", "393"} {
		if r := rows[n]; r[0] != line || r[1] != "transaction_id" || !strings.Contains(r[3], "duplicate") {
			t.Errorf("errors.csv row %d = %q, want the duplicate id on line %s", n, r, line)
		}
		n++
	}
	// The first 100 are the record's, as listed before.
	for i, e := range st.Errors {
		if rows[i+1][0] != strconv.Itoa(e.Line) || rows[i+1][3] != e.Message {
			t.Fatalf("errors.csv row %d = %q, the record says %+v", i+1, rows[i+1], e)
		}
	}
}
