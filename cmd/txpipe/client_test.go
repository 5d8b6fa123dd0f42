package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/httpapi/httpapitest"
	"github.com/txpipe/txpipe/sqlite"
)

// clientCLI runs the real CLI in process with the given arguments.
func clientCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// localCLI runs the real CLI in process on the data dir dir, given as the
// flag (parallel tests cannot set the environment).
func localCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return clientCLI(t, append(args[:len(args):len(args)], "--data-dir", dir)...)
}

// csvFile writes a valid file of n transactions, one a minute from start,
// with ids unique to tag, and returns its path.
func csvFile(t *testing.T, tag string, n int, start time.Time) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for i := range n {
		fmt.Fprintf(&b, "%s-%05d,%d.25,EUR,%s,Shop %d,pending\n", tag, i, i, start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i%7)
	}
	p := filepath.Join(t.TempDir(), tag+".csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var fileIDLine = regexp.MustCompile(`^[0-9a-f]{32}\n$`)

func TestUploadCommand(t *testing.T) {
	t.Parallel()
	url, key := startServer(t, t.TempDir())
	conn := []string{"--endpoint", url, "--api-key", key}
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	good := csvFile(t, "upload", 30, start)

	// A new file: the file id on stdout, a note on stderr.
	code, out, errOut := clientCLI(t, append([]string{"upload"}, append(conn, good)...)...)
	if code != exitOK || !fileIDLine.MatchString(out) {
		t.Fatalf("upload = %d, stdout %q, want 0 and a file id; stderr %s", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	if !strings.Contains(errOut, "accepted, 30 rows") {
		t.Errorf("upload stderr = %q, want the accepted rows", errOut)
	}

	// The same bytes again, flags after the file: the same id.
	code, out, errOut = clientCLI(t, append([]string{"upload", good}, conn...)...)
	if code != exitOK || strings.TrimSpace(out) != id || !strings.Contains(errOut, "uploaded before") {
		t.Errorf("second upload = %d %q %q, want 0, the same id %s, uploaded before", code, out, errOut, id)
	}

	// --wait follows the file to COMPLETED; --json prints the final record.
	code, out, errOut = clientCLI(t, append([]string{"upload", "--wait", "--json", csvFile(t, "wait", 40, start)}, conn...)...)
	var st txpipe.FileStatus
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("upload --wait --json = %d %q; stderr %s", code, out, errOut)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != 40 || st.Inserted != 40 {
		t.Errorf("after --wait: %+v, want COMPLETED with 40 rows inserted", st)
	}
	if errOut != "" {
		t.Errorf("upload --json stderr = %q, want nothing", errOut)
	}

	// --json of a new file prints the 202 answer.
	code, out, _ = clientCLI(t, append([]string{"upload", "--json", csvFile(t, "json", 3, start)}, conn...)...)
	var acc map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &acc) != nil || acc["status"] != txpipe.StatusValidated ||
		acc["rows"] != 3.0 || !strings.HasPrefix(acc["status_url"].(string), url+"/status/") {
		t.Errorf("upload --json = %d %q, want the 202 answer", code, out)
	}

	// A rejected file: exit 1, nothing on stdout, the id and the errors on
	// stderr; the same again.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("transaction_id,amount,currency,timestamp,merchant,status\n"+
		"t1,1.00,DEM,2026-01-01T00:00:00Z,Shop,completed\nt2,-1,USD,2026-01-01T00:00:00Z,Shop,completed\n"), 0o600)
	for range 2 {
		code, out, errOut = clientCLI(t, append([]string{"upload", bad}, conn...)...)
		if code != exitRejected || out != "" || !regexp.MustCompile(`rejected \(file [0-9a-f]{32}\)`).MatchString(errOut) {
			t.Errorf("upload of a bad file = %d %q %q, want %d, nothing on stdout and its id on stderr", code, out, errOut, exitRejected)
		}
		for _, want := range []string{"2 errors", "line 2, currency \"DEM\"", "line 3, amount \"-1\""} {
			if !strings.Contains(errOut, want) {
				t.Errorf("upload of a bad file: stderr %q lacks %q", errOut, want)
			}
		}
	}
	code, out, errOut = clientCLI(t, append([]string{"upload", "--json", bad}, conn...)...)
	var rej httpapi.Rejection
	if code != exitRejected || out != "" || json.Unmarshal([]byte(errOut), &rej) != nil || rej.Error.Code != txpipe.EREJECTED ||
		rej.Error.Message == "" || rej.ErrorCount != 2 || len(rej.Errors) != 2 || rej.Errors[0].Column != "currency" {
		t.Errorf("upload --json of a bad file = %d %q %q, want 1, nothing on stdout and the rejection as the JSON error on stderr", code, out, errOut)
	}

	// The environment standing in for the flags: TestLocalPipelineEndToEnd.

	// Usage, network and I/O errors exit 2.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"upload"}, "want one FILE"},
		{"two files", []string{"upload", good, good}, "want one FILE"},
		{"missing file", []string{"upload", filepath.Join(t.TempDir(), "nope.csv")}, "no such file"},
		{"bad flag", []string{"upload", "--nope", good}, "unknown flag: --nope"},
		{"unknown key", []string{"upload", "--endpoint", url, "--api-key", "txp_wrong", good}, "unknown API key"},
		{"no key", []string{"upload", "--endpoint", url, "--api-key", "", good}, "missing API key"},
		{"server down", []string{"upload", "--endpoint", "http://" + closedAddr(t), good}, "connection refused"},
	} {
		code, _, errOut := clientCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %d and %q", tc.name, code, errOut, exitUsage, tc.want)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUploadNoProgressOffTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	url, key := startServer(t, t.TempDir())
	big := csvFile(t, "big", 150_000, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if fi, err := os.Stat(big); err != nil || fi.Size() < progressFrom {
		t.Fatalf("test file too small for a progress bar: %v %v", fi.Size(), err)
	}
	code, out, errOut := clientCLI(t, "upload", "--endpoint", url, "--api-key", key, big)
	if code != exitOK || !fileIDLine.MatchString(out) {
		t.Fatalf("upload = %d %q %q", code, out, errOut)
	}
	if strings.Contains(errOut, "\r") || strings.Contains(errOut, "uploading") {
		t.Errorf("stderr %q holds a progress bar, but it is not a terminal", errOut)
	}
}

// blankReader reads as many bytes as asked for, leaving them as they are
// (an upload's content without its cost).
type blankReader struct{}

func (blankReader) Read(p []byte) (int, error) { return len(p), nil }

func TestUploadBar(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	bar := &progressBar{w: &buf, label: "uploading f.csv", size: 40, start: time.Now()}
	r := &countingReader{r: io.LimitReader(blankReader{}, 40<<20), bar: bar}
	p := make([]byte, 1<<20)
	for {
		if _, err := r.Read(p); err != nil {
			break
		}
	}
	bar.clear()
	s := buf.String()
	if !strings.Contains(s, "uploading f.csv [") || !strings.Contains(s, "100% 40/40 MiB") || !strings.HasSuffix(s, "\r\033[K") {
		t.Errorf("progress output %q: want a bar reaching 100%% and cleared", s)
	}
	var nilBar *progressBar
	nilBar.draw(1, "MiB")
	nilBar.clear()
}

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	url, key := startServer(t, t.TempDir())
	conn := []string{"--endpoint", url, "--api-key", key}
	code, out, errOut := clientCLI(t, append([]string{"upload", "--wait", csvFile(t, "status", 5, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC))}, conn...)...)
	if code != exitOK {
		t.Fatalf("upload --wait = %d %q %q", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	if !strings.Contains(errOut, "COMPLETED: 5 rows (5 inserted, 0 updated, 0 unchanged)") {
		t.Errorf("upload --wait stderr = %q, want the final counts", errOut)
	}

	code, out, errOut = clientCLI(t, append([]string{"status", id}, conn...)...)
	if code != exitOK {
		t.Fatalf("status = %d %q", code, errOut)
	}
	for _, want := range []string{`file_id +` + id, `status +COMPLETED`, `filename +status\.csv`, `rows +5`, `inserted +5`, `unchanged +0`} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(out) {
			t.Errorf("status output lacks a line %q:\n%s", want, out)
		}
	}
	code, out, _ = clientCLI(t, append([]string{"status", "--json", id}, conn...)...)
	var st map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil || st["file_id"] != id || st["status"] != txpipe.StatusCompleted {
		t.Errorf("status --json = %d %q", code, out)
	}
	if _, ok := st["errors"].([]any); !ok {
		t.Errorf("status --json errors = %v, want a list", st["errors"])
	}

	// A rejected file's status exits 1 and lists its errors.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("transaction_id,amount,currency,timestamp,merchant,status\nt1,1.00,USD,yesterday,Shop,completed\n"), 0o600)
	_, _, errOut = clientCLI(t, append([]string{"upload", bad}, conn...)...)
	badID := regexp.MustCompile(`file ([0-9a-f]{32})`).FindStringSubmatch(errOut)[1]
	code, out, _ = clientCLI(t, append([]string{"status", badID}, conn...)...)
	if code != exitRejected || !strings.Contains(out, "REJECTED") || !strings.Contains(out, "line 2, timestamp \"yesterday\"") {
		t.Errorf("status of a rejected file = %d\n%s", code, out)
	}

	code, _, errOut = clientCLI(t, append([]string{"status", "00000000000000000000000000000000"}, conn...)...)
	if code != exitRejected || !strings.Contains(errOut, "not found") {
		t.Errorf("status of an unknown file = %d %q, want %d and not found", code, errOut, exitRejected)
	}
	if code, _, _ := clientCLI(t, append([]string{"status"}, conn...)...); code != exitUsage {
		t.Errorf("status without an id = %d, want %d", code, exitUsage)
	}
}

func TestTransactionsCommand(t *testing.T) {
	t.Parallel()
	url, key := startServer(t, t.TempDir())
	conn := []string{"--endpoint", url, "--api-key", key}
	start := time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)
	if code, out, errOut := clientCLI(t, append([]string{"upload", "--wait", csvFile(t, "list", 2500, start)}, conn...)...); code != exitOK {
		t.Fatalf("upload --wait = %d %q %q", code, out, errOut)
	}
	window := []string{"--from", start.Add(10 * time.Minute).Format(time.RFC3339), "--to", start.Add(2010 * time.Minute).Format(time.RFC3339)}

	// 1500 rows follow the API's pages of at most 1000; the rest comes
	// with --cursor.
	code, out, errOut := clientCLI(t, append(append([]string{"transactions", "--json", "--limit", "1500"}, window...), conn...)...)
	var page txpipe.TxPage
	if code != exitOK || json.Unmarshal([]byte(out), &page) != nil {
		t.Fatalf("transactions --json = %d %q %q", code, out[:min(len(out), 300)], errOut)
	}
	if len(page.Items) != 1500 || page.Items[0].ID != "list-00010" || page.Items[1499].ID != "list-01509" || page.NextCursor == "" {
		t.Fatalf("transactions --limit 1500: %d items from %s, cursor %q; want 1500 from list-00010 and a cursor",
			len(page.Items), page.Items[0].ID, page.NextCursor)
	}
	for i := 1; i < len(page.Items); i++ {
		if !page.Items[i].Timestamp.After(page.Items[i-1].Timestamp) {
			t.Fatalf("item %d at %v is not after %v", i, page.Items[i].Timestamp, page.Items[i-1].Timestamp)
		}
	}
	code, out, _ = clientCLI(t, append(append([]string{"transactions", "--json", "--limit", "1000", "--cursor", page.NextCursor}, window...), conn...)...)
	var rest txpipe.TxPage
	if code != exitOK || json.Unmarshal([]byte(out), &rest) != nil || len(rest.Items) != 500 || rest.Items[0].ID != "list-01510" || rest.NextCursor != "" {
		t.Fatalf("transactions --cursor = %d, %d items, cursor %q; want the last 500 and no cursor", code, len(rest.Items), rest.NextCursor)
	}

	// Human text: a header and one line a transaction (the default limit
	// is 100), and a hint to go on.
	code, out, errOut = clientCLI(t, append(append([]string{"transactions"}, window...), conn...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 101 || !strings.HasPrefix(lines[0], "TIMESTAMP") ||
		strings.Join(strings.Fields(lines[1])[:4], " ") != "2026-06-03T00:10:00Z list-00010 10.25 EUR" || !strings.Contains(errOut, "--cursor") {
		t.Errorf("transactions = %d, %d lines:\n%s\nstderr %s", code, len(lines), strings.Join(lines[:min(3, len(lines))], "\n"), errOut)
	}
	// Dates are midnight UTC.
	code, out, _ = clientCLI(t, append([]string{"transactions", "--json", "--from", "2026-06-04", "--to", "2026-06-05", "--limit", "5000"}, conn...)...)
	if code != exitOK || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 2500-1440 || page.Items[0].ID != "list-01440" {
		t.Errorf("transactions by date = %d, %d items", code, len(page.Items))
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no from", []string{"transactions", "--to", "2026-06-05"}, "--from is required"},
		{"bad to", []string{"transactions", "--from", "2026-06-05", "--to", "soon"}, "--to \"soon\""},
		{"zero limit", append([]string{"transactions", "--limit", "0"}, window...), "--limit"},
		{"bad cursor", append([]string{"transactions", "--cursor", "garbage!"}, window...), "cursor"},
	} {
		code, _, errOut := clientCLI(t, append(tc.args, conn...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %d and %q", tc.name, code, errOut, exitUsage, tc.want)
		}
	}
}

// memKeys is an httpapi.KeyCreator in memory.
type memKeys []txpipe.APIKey

func (m *memKeys) CreateKey(ctx context.Context, k txpipe.APIKey) error {
	*m = append(*m, k)
	return nil
}

func TestCreateAPIKey(t *testing.T) {
	var keys memKeys
	secret, err := httpapi.CreateKey(t.Context(), &keys, "ci", 500, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("stored %d keys, want 1", len(keys))
	}
	k := keys[0]
	if k.Hash != httpapi.HashKey(secret) || strings.Contains(k.Hash, secret) {
		t.Errorf("stored hash %q is not the SHA-256 of the secret", k.Hash)
	}
	if k.Name != "ci" || k.QuotaPerDay != 500 || k.RatePerSecond != 10 || k.Burst != 20 || k.ID == "" || k.CreatedAt.IsZero() {
		t.Errorf("stored key %+v, want ci, 500 a day, 10/s with bursts of 20, an id and a time", k)
	}
	if !strings.HasPrefix(secret, httpapi.APIKeyPrefix) || len(secret) < 40 {
		t.Errorf("secret %q is too short or lacks the prefix", secret)
	}
	again, _ := httpapi.CreateKey(t.Context(), &keys, "ci", 500, 10)
	if again == secret || keys[1].ID == k.ID {
		t.Errorf("two keys share a secret or an id")
	}
}

// TestConcurrentUploads sends 200 uploads of small files at once to the
// local server (the whole stack: keys and usage in SQLite, spooling,
// validation, the file store, the job queue, the engine working behind)
// and reports the p50 and p99 latency. Every upload must be answered 202.
//
//	go test ./cmd/txpipe -run TestConcurrentUploads -v
func TestConcurrentUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	const n = 200
	dataDir := t.TempDir()
	// A key whose rate limit lets 200 requests through at once.
	db, err := sqlite.Open(t.Context(), filepath.Join(dataDir, "txpipe.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := httpapi.CreateKey(t.Context(), db, "load", 1_000_000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	url, _ := startServer(t, dataDir)

	tr := httpapitest.Transport(n)
	defer tr.CloseIdleConnections()
	c := &httpapi.Client{Endpoint: url, APIKey: key, HTTP: &http.Client{Transport: tr}}
	bodies := make([]string, n)
	for i := range bodies {
		var b strings.Builder
		b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
		for j := range 20 {
			fmt.Fprintf(&b, "c%03d-%02d,%d.99,USD,2026-08-01T10:%02d:00Z,Shop,completed\n", i, j, j, j)
		}
		bodies[i] = b.String()
	}
	load := httpapitest.UploadAll(t.Context(), c, bodies)
	for i, err := range load.Errors {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	t.Logf("%d-byte files to the local server: %v", len(bodies[0]), load)
}
