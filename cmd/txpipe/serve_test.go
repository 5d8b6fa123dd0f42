package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
)

// startServer runs the whole local pipeline in process on a loopback port
// with a fresh data dir, and returns its URL and first API key. An empty
// data dir gets a copy of a new database (sqlitetest); the tests that call
// openServer themselves start from an empty one.
func startServer(t *testing.T, dataDir string) (url, key string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "txpipe.db")); errors.Is(err, fs.ErrNotExist) {
		sqlitetest.Seed(t, dataDir)
	}
	var out bytes.Buffer
	cfg := serveConfig{Config: server.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 100 << 20, Workers: 2}, DataDir: dataDir}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s, err := openServer(context.Background(), cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
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
	if m := regexp.MustCompile(`\(shown only once\): (\S+)`).FindStringSubmatch(out.String()); m != nil {
		key = m[1]
	}
	if !strings.Contains(out.String(), "listening on "+s.URL()) {
		t.Errorf("serve printed %q, want the address it listens on", out.String())
	}
	return s.URL(), key
}

// cli runs the real CLI in process.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestEnvironmentStandsInForFlags: without flags, the client commands take
// the endpoint and the API key, and the local store commands the data dir,
// from the environment, as the README's first steps do (the other tests
// pass flags so that they can run in parallel).
func TestEnvironmentStandsInForFlags(t *testing.T) {
	dataDir := t.TempDir()
	url, key := startServer(t, dataDir)
	env := map[string]string{envEndpoint: url, envAPIKey: key, envDataDir: dataDir}
	code, out, errOut := cli(t, env, "upload", csvFile(t, "env", 3, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)))
	if code != exitOK || !fileIDLine.MatchString(out) {
		t.Fatalf("upload with the environment = %d %q %q, want 0 and a file id", code, out, errOut)
	}
	if code, out, errOut := cli(t, env, "status", strings.TrimSpace(out)); code != exitOK || !strings.Contains(out, "env.csv") {
		t.Errorf("status with the environment = %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli(t, env, "dlq", "list", "--json"); code != exitOK || !strings.Contains(out, `"items": []`) {
		t.Errorf("dlq list with the environment = %d %q %q", code, out, errOut)
	}
}

// TestLocalPipelineEndToEnd is the newcomer's path: serve, upload a file
// with the CLI, wait for it, read its status and its transactions.
func TestLocalPipelineEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	url, key := startServer(t, dataDir)
	if key == "" {
		t.Fatal("the first start printed no API key")
	}
	conn := []string{"--endpoint", url, "--api-key", key}
	client := func(args ...string) (int, string, string) { return clientCLI(t, append(args, conn...)...) }

	rows := 5000
	if testing.Short() {
		rows = 2000 // still pages of 1,000
	}
	file := filepath.Join(t.TempDir(), "transactions.csv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := txgen.Write(f, txgen.Options{Rows: rows, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	code, out, errOut := client("upload", "--wait", "--json", file)
	if code != exitOK {
		t.Fatalf("upload --wait = %d\n%s\n%s", code, out, errOut)
	}
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(lastJSON(out)), &st); err != nil {
		t.Fatalf("upload --json output %q: %v", out, err)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != int64(rows) || st.Inserted != int64(rows) {
		t.Fatalf("after --wait: %+v, want COMPLETED with %d rows inserted", st, rows)
	}

	code, out, _ = client("status", "--json", st.FileID)
	var again txpipe.FileStatus
	if code != exitOK || json.Unmarshal([]byte(out), &again) != nil || again.FileID != st.FileID || again.Status != txpipe.StatusCompleted {
		t.Fatalf("status = %d %q", code, out)
	}

	// Every stored transaction comes back once, oldest first, over pages.
	c := &httpapi.Client{Endpoint: url, APIKey: key}
	q := txpipe.TxQuery{From: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 1000}
	seen := map[string]bool{}
	var last time.Time
	for {
		page, err := c.Transactions(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Items {
			if seen[tx.ID] {
				t.Fatalf("transaction %s listed twice", tx.ID)
			}
			seen[tx.ID] = true
			if tx.Timestamp.Before(last) {
				t.Fatalf("transaction %s at %v listed after %v", tx.ID, tx.Timestamp, last)
			}
			last = tx.Timestamp
			if tx.FileID != st.FileID {
				t.Fatalf("transaction %s has file %s, want %s", tx.ID, tx.FileID, st.FileID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if len(seen) != rows {
		t.Errorf("listed %d transactions, want %d", len(seen), rows)
	}

	// The CLI lists a time range too.
	code, out, _ = client("transactions", "--json", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--limit", "3")
	if code != exitOK || !strings.Contains(out, st.FileID) {
		t.Errorf("transactions = %d %q", code, out)
	}

	// A rejected file: exit 1 and the errors.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("transaction_id,amount,currency,timestamp,merchant,status\nt1,1.00,DEM,2026-01-01T00:00:00Z,Shop,completed\n"), 0o600)
	code, out, errOut = client("upload", bad)
	if code != exitRejected || !strings.Contains(out+errOut, "currency") {
		t.Errorf("upload of a bad file = %d\n%s\n%s", code, out, errOut)
	}

	// Nothing failed, so the dead-letter queue is empty.
	code, out, _ = localCLI(t, dataDir, "dlq", "list", "--json")
	if code != exitOK || !strings.Contains(out, `"items": []`) {
		t.Errorf("dlq list = %d %q", code, out)
	}
}

// lastJSON returns the last top-level JSON document in s.
func lastJSON(s string) string {
	s = strings.TrimSpace(s)
	dec := json.NewDecoder(strings.NewReader(s))
	var last json.RawMessage
	for {
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return string(last)
		}
		last = m
	}
}

// TestServeExportsTraces: with OTEL_EXPORTER_OTLP_ENDPOINT set, the server
// sends a span for each request and each workflow step to the collector.
func TestServeExportsTraces(t *testing.T) {
	var mu sync.Mutex
	var bodies strings.Builder
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies.Write(b)
		mu.Unlock()
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	dataDir := t.TempDir()
	var out bytes.Buffer
	s, err := openServer(context.Background(), serveConfig{Config: server.Config{Addr: "127.0.0.1:0", Workers: 1}, DataDir: dataDir},
		slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	key := regexp.MustCompile(`\(shown only once\): (\S+)`).FindStringSubmatch(out.String())[1]
	c := &httpapi.Client{Endpoint: s.URL(), APIKey: key}
	res, err := c.Upload(ctx, "a.csv", strings.NewReader("transaction_id,amount,currency,timestamp,merchant,status\nt1,1.00,USD,2026-01-01T00:00:00Z,Shop,completed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, res.Record.FileID, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	s.Close() // flushes the spans

	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"step Transform", "step Notify", "/upload", res.Record.FileID} {
		if !strings.Contains(bodies.String(), want) {
			t.Errorf("exported spans lack %q", want)
		}
	}
}

// TestWaitRidesOutTheRateLimit: `upload --wait` with a key allowed one
// request a second still follows the file to COMPLETED, waiting as long as
// each 429's Retry-After asks.
func TestWaitRidesOutTheRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	dataDir := t.TempDir()
	url, _ := startServer(t, dataDir)
	code, out, errOut := cli(t, nil, "apikey", "create", "--json", "--name", "slow", "--rate-per-second", "1", "--data-dir", dataDir)
	if code != exitOK {
		t.Fatalf("apikey create = %d %s %s", code, out, errOut)
	}
	var k struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "t.csv")
	f, _ := os.Create(file)
	txgen.Write(f, txgen.Options{Rows: 20000, Seed: 3})
	f.Close()
	env := map[string]string{envEndpoint: url, envAPIKey: k.APIKey}
	code, out, errOut = cli(t, env, "upload", "--wait", "--poll", "10ms", "--json", file)
	if code != exitOK {
		t.Fatalf("upload --wait = %d\n%s\n%s", code, out, errOut)
	}
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(lastJSON(out)), &st); err != nil || st.Status != txpipe.StatusCompleted {
		t.Fatalf("after --wait: %q (%v), want COMPLETED", out, err)
	}
}

// TestServeJSON: `serve --json` prints its address, data dir and first key
// as one JSON document.
func TestServeJSON(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	s, err := openServer(context.Background(), serveConfig{Config: server.Config{Addr: "127.0.0.1:0"}, DataDir: t.TempDir(), JSON: true}, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got struct {
		Address string `json:"address"`
		DataDir string `json:"data_dir"`
		APIKey  string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Address != s.URL() || got.DataDir == "" || !strings.HasPrefix(got.APIKey, "txp_") {
		t.Fatalf("serve --json printed %q (%v)", out.String(), err)
	}
}
