package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/server"
)

// TestFirstKeyWaitsForTheListener: a first start that cannot bind its
// port makes no key (so none is lost unseen); the next start makes and
// shows it.
func TestFirstKeyWaitsForTheListener(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dataDir := t.TempDir()
	var out bytes.Buffer
	cfg := serveConfig{Config: server.Config{Addr: taken.Addr().String()}, DataDir: dataDir}
	if _, err := openServer(context.Background(), cfg, slog.New(slog.DiscardHandler), &out); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("serve on a taken port: %v, want an error saying to choose another --addr", err)
	}
	if out.Len() != 0 {
		t.Errorf("a failed start printed %q", out.String())
	}
	db := openDB(t, dataDir)
	if n, err := db.KeyCount(context.Background()); err != nil || n != 0 {
		t.Fatalf("keys after a failed start: %d, %v; want none", n, err)
	}
	db.Close()

	_, key := startServer(t, dataDir)
	if !strings.HasPrefix(key, "txp_") {
		t.Errorf("the start after a bind failure showed no key")
	}
}

func TestServeLogFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	for _, tc := range []struct {
		format string
		json   bool
	}{{"auto", true}, {"json", true}, {"text", false}} {
		buf.Reset()
		logger, err := newLogger(&buf, tc.format, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		logger.Info("hello", "n", 1)
		isJSON := json.Valid(bytes.TrimSpace(buf.Bytes()))
		if isJSON != tc.json || !strings.Contains(buf.String(), "hello") {
			t.Errorf("--log-format %s (not a terminal) wrote %q, JSON %v, want %v", tc.format, buf.String(), isJSON, tc.json)
		}
	}
	if code, _, errOut := runCLI(t, "", "serve", "--log-format", "xml"); code != exitUsage || !strings.Contains(errOut, "--log-format") {
		t.Errorf("serve --log-format xml = %d %q", code, errOut)
	}
}

// TestFailedFileSaysHowToRedrive: the status of a FAILED file and a
// re-upload of its bytes print the redrive command.
func TestFailedFileSaysHowToRedrive(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	failed := txpipe.FileStatus{FileID: "0123456789abcdef0123456789abcdef", Status: txpipe.StatusFailed, Filename: "f.csv",
		Rows: 1, Attempts: 3, Failure: "table unavailable", Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(failed)
	}))
	defer api.Close()
	conn := []string{"--endpoint", api.URL, "--api-key", "k"}
	want := "txpipe dlq redrive " + failed.FileID
	code, _, errOut := runCLI(t, "", append([]string{"status", failed.FileID}, conn...)...)
	if code != exitRejected || !strings.Contains(errOut, want) {
		t.Errorf("status of a FAILED file = %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	file := writeFile(t, "f.csv", validCSV)
	code, _, errOut = runCLI(t, "", append([]string{"upload", file}, conn...)...)
	if code != exitRejected || !strings.Contains(errOut, want) {
		t.Errorf("re-upload of a FAILED file = %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

func TestTableAlignsWideCharacters(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := writeTable(&buf, [][]string{{"MERCHANT", "AMOUNT"}, {"東京ストア", "1.00"}, {"Café", "2.00"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// The second column starts at the same display column on every line.
	want := "MERCHANT    AMOUNT\n東京ストア  1.00\nCafé        2.00"
	if strings.Join(lines, "\n") != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
