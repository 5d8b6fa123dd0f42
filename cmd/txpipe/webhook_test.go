package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/webhook"
)

// TestWebhookOutboxEndToEnd: serve --webhook to a receiver that is down;
// a run's result waits in the outbox (webhook list shows it pending), and
// is delivered signed once the receiver is up; redeliver of an unknown id
// exits 1.
func TestWebhookOutboxEndToEnd(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var got []http.Header
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
	}))
	defer rcv.Close()

	dataDir := t.TempDir()
	var out bytes.Buffer
	cfg := serveConfig{Config: server.Config{Addr: "127.0.0.1:0", Workers: 1}, DataDir: dataDir, Webhooks: []string{rcv.URL}, outboxPoll: 20 * time.Millisecond}
	s, err := openServer(context.Background(), cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done; s.Close() }()

	c := &httpapi.Client{Endpoint: s.URL(), APIKey: s.FirstKey()}
	res, err := c.Upload(t.Context(), "hook.csv", strings.NewReader("transaction_id,amount,currency,timestamp,merchant,status\nh1,1.00,USD,2026-01-02T03:04:05Z,Shop,completed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context(), res.Record.FileID, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var listed struct {
		Webhooks []struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"webhooks"`
		Deliveries []webhook.Delivery `json:"deliveries"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, stdout, stderr := localCLI(t, dataDir, "webhook", "list", "--json")
		if code != exitOK || json.Unmarshal([]byte(stdout), &listed) != nil {
			t.Fatalf("webhook list --json = %d %q %q", code, stdout, stderr)
		}
		if len(listed.Deliveries) == 1 && listed.Deliveries[0].Attempts >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook list: %+v, want one pending delivery after an attempt", listed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(listed.Webhooks) != 1 || listed.Webhooks[0].URL != rcv.URL || !strings.HasPrefix(listed.Webhooks[0].Secret, "whsec_") {
		t.Fatalf("webhooks %+v, want the receiver with a secret", listed.Webhooks)
	}
	if d := listed.Deliveries[0]; d.State != webhook.StatePending || d.FileID != res.Record.FileID {
		t.Errorf("delivery %+v, want pending for %s", d, res.Record.FileID)
	}
	down.Store(false)
	// Redelivering makes it due now rather than after its back-off.
	if code, stdout, stderr := localCLI(t, dataDir, "webhook", "redeliver", "1"); code != exitOK {
		t.Fatalf("webhook redeliver 1 = %d %q %q", code, stdout, stderr)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run result was not delivered once the receiver was up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := got[0]; !strings.HasPrefix(h.Get(webhook.HeaderSignature), "v1=") || h.Get(webhook.HeaderTimestamp) == "" {
		t.Errorf("delivery headers %v, want a signature and a timestamp", h)
	}
	if code, _, stderr := localCLI(t, dataDir, "webhook", "redeliver", "999"); code != exitRejected || !strings.Contains(stderr, "no webhook delivery 999") {
		t.Errorf("redeliver of an unknown id = %d %q, want %d", code, stderr, exitRejected)
	}
	if code, _, _ := localCLI(t, dataDir, "webhook", "redeliver", "x"); code != exitUsage {
		t.Errorf("redeliver x = %d, want %d", code, exitUsage)
	}
}
