//go:build integration

package console_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
)

func call(t *testing.T, ts *testServer, key, method, path string, body io.Reader, ctype string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, body)
	req.Header.Set("x-api-key", key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func uploadAndWait(t *testing.T, ts *testServer, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, content)
	mw.Close()
	code, b := call(t, ts, ts.AdminKey, http.MethodPost, "/upload", &buf, mw.FormDataContentType())
	if code != http.StatusAccepted {
		t.Fatalf("upload %s: %d %s", name, code, b)
	}
	var acc struct {
		FileID string `json:"file_id"`
	}
	json.Unmarshal(b, &acc)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var st txpipe.FileStatus
		apiGet(t, ts, "/status/"+acc.FileID, &st)
		if st.Status == txpipe.StatusCompleted {
			return acc.FileID
		}
	}
	t.Fatalf("upload %s did not complete", name)
	return ""
}

// TestConsoleAPI checks the console's API paths that the browser test does
// not reach: the streamed CSV export with filters, the volumes of the rows
// stored, bad parameters, and the admin role.
func TestConsoleAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	ts := startServer(t)
	content, want := validCSV("api-", 40)
	uploadAndWait(t, ts, "api.csv", content)

	// The export: every Shop 1 row in EUR, oldest first, without a limit.
	code, b := call(t, ts, ts.AdminKey, http.MethodGet, "/transactions.csv?from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z&merchant=Shop%201&currency=eur", nil, "")
	if code != http.StatusOK {
		t.Fatalf("transactions.csv: %d %s", code, b)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs, gotIDs []string
	for _, x := range want {
		if x.Merchant == "Shop 1" && x.Currency == "EUR" {
			wantIDs = append(wantIDs, x.ID)
		}
	}
	for _, r := range rows[1:] {
		gotIDs = append(gotIDs, r[0])
	}
	if strings.Join(rows[0], ",") != "transaction_id,amount,amount_minor,currency,timestamp,merchant,status,file_id,ingested_at" ||
		strings.Join(gotIDs, " ") != strings.Join(wantIDs, " ") || len(wantIDs) == 0 {
		t.Errorf("transactions.csv: header %q, ids %q, want %q", rows[0], gotIDs, wantIDs)
	}

	// Volumes: per day and currency, summing to the rows stored.
	var vol struct {
		Items []txpipe.Volume `json:"items"`
	}
	apiGet(t, ts, "/volumes?from=2024-01-01&to=2024-02-01", &vol)
	var n int64
	for _, v := range vol.Items {
		n += v.Rows
	}
	if n != int64(len(want)) || len(vol.Items) != 10 { // 5 days x 2 currencies
		t.Errorf("volumes: %d items, %d rows; want 10 items, %d rows", len(vol.Items), n, len(want))
	}

	for _, c := range []struct {
		path string
		want int
	}{
		{"/volumes?from=2024-02-01&to=2024-01-01", 400},
		{"/volumes?from=2024-01-01", 400},
		{"/volumes?from=2020-01-01&to=2030-01-01", 400},
		{"/files?status=DONE", 400},
		{"/files?limit=0", 400},
		{"/files?cursor=zzz", 400},
		{"/transactions.csv?from=x&to=y", 400},
		{"/status/nope/errors.csv", 404},
		{"/dlq", 200},
	} {
		if code, b := call(t, ts, ts.AdminKey, http.MethodGet, c.path, nil, ""); code != c.want {
			t.Errorf("GET %s: %d %s, want %d", c.path, code, b, c.want)
		}
	}

	// Keys: an admin makes a user key; the user key may not manage keys.
	code, b = call(t, ts, ts.AdminKey, http.MethodPost, "/keys", strings.NewReader(`{"name":"ops","quota_per_day":5}`), "application/json")
	if code != http.StatusCreated {
		t.Fatalf("POST /keys: %d %s", code, b)
	}
	var made struct {
		ID     string `json:"id"`
		Secret string `json:"api_key"`
		Role   string `json:"role"`
	}
	json.Unmarshal(b, &made)
	if made.Role != "" || !strings.HasPrefix(made.Secret, "txp_") {
		t.Errorf("new key: %s", b)
	}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/keys", ""},
		{http.MethodPost, "/keys", `{"name":"x"}`},
		{http.MethodDelete, "/keys/" + made.ID, ""},
	} {
		if code, b := call(t, ts, made.Secret, c.method, c.path, strings.NewReader(c.body), "application/json"); code != http.StatusForbidden {
			t.Errorf("%s %s with a user key: %d %s, want 403", c.method, c.path, code, b)
		}
	}
	if code, b := call(t, ts, ts.AdminKey, http.MethodPost, "/keys", strings.NewReader(`{"name":"y","role":"root"}`), "application/json"); code != http.StatusBadRequest {
		t.Errorf("POST /keys with role root: %d %s, want 400", code, b)
	}
	if code, b := call(t, ts, ts.AdminKey, http.MethodPatch, "/keys/"+made.ID, strings.NewReader(`{"quota_per_day":7}`), "application/json"); code != http.StatusNoContent {
		t.Errorf("PATCH limits: %d %s", code, b)
	}
	var keys struct {
		Items []txpipe.KeyListing `json:"items"`
	}
	apiGet(t, ts, "/keys", &keys)
	for _, k := range keys.Items {
		if k.ID == made.ID && k.QuotaPerDay != 7 {
			t.Errorf("quota after PATCH: %d, want 7", k.QuotaPerDay)
		}
		if k.Name == "default" && k.RequestsToday == 0 {
			t.Errorf("the admin key shows no requests today")
		}
	}
	if code, _ := call(t, ts, ts.AdminKey, http.MethodDelete, "/keys/"+made.ID, nil, ""); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	if code, _ := call(t, ts, made.Secret, http.MethodGet, "/files", nil, ""); code != http.StatusForbidden {
		t.Errorf("a revoked key: %d, want 403", code)
	}
}
