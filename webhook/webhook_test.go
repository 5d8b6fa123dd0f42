package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/webhook"
)

// A subscriber that fails twice still gets the message, once per success.
func TestNotifierRetriesUntilDelivered(t *testing.T) {
	var mu sync.Mutex
	var calls int
	var got []txpipe.Notification
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var n txpipe.Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("decode: %v", err)
		}
		got = append(got, n)
	}))
	defer srv.Close()

	n := webhook.New([]string{srv.URL}, nil, webhook.Options{Interval: time.Millisecond})
	want := txpipe.Notification{FileID: "f1", Status: txpipe.StatusCompleted, Rows: 3, Inserted: 3, FinishedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := n.Notify(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Close(ctx)

	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Errorf("calls = %d, want 3", calls)
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("delivered %+v, want [%+v]", got, want)
	}
}

// A subscriber that never answers does not hold up Notify.
func TestNotifyDoesNotBlock(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)

	n := webhook.New([]string{srv.URL}, nil, webhook.Options{QueueSize: 2, Attempts: 1})
	start := time.Now()
	for i := range 10 {
		if err := n.Notify(context.Background(), txpipe.Notification{FileID: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 notifications took %v with a stuck subscriber", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n.Close(ctx)
}
