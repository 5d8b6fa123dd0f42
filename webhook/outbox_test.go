package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/webhook"
)

// receiver is a webhook subscriber that fails while failing is set and
// otherwise checks each delivery's signature.
type receiver struct {
	secret    string
	failing   atomic.Bool
	failUntil atomic.Int64 // the first calls up to this one fail
	mu        sync.Mutex
	valid     []string // bodies of correctly signed deliveries
	calls     atomic.Int64
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.calls.Add(1)
	body, _ := io.ReadAll(req.Body)
	if r.failing.Load() || n <= r.failUntil.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	if err := webhook.Verify(r.secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.valid = append(r.valid, string(body))
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.valid)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func finish(t *testing.T, db *sqlite.DB, fileID string) {
	t.Helper()
	now := time.Now().UTC()
	st := &txpipe.FileStatus{FileID: fileID, Status: txpipe.StatusProcessing, Rows: 3, CreatedAt: now, UpdatedAt: now}
	if _, _, err := db.CreateStatus(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	st.Status = txpipe.StatusCompleted
	if err := db.UpdateStatusNotify(t.Context(), st, txpipe.NotificationFor(st, now), txpipe.StatusProcessing); err != nil {
		t.Fatal(err)
	}
	// Once only: a repeated final step conflicts and writes no delivery.
	if err := db.UpdateStatusNotify(t.Context(), st, txpipe.NotificationFor(st, now), txpipe.StatusProcessing); txpipe.ErrorCode(err) != txpipe.ECONFLICT {
		t.Fatalf("second UpdateStatusNotify: %v, want a conflict", err)
	}
}

func deliveries(t *testing.T, db *sqlite.DB, state string) []webhook.Delivery {
	t.Helper()
	ds, err := db.Deliveries(t.Context(), state, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestOutboxDurableSignedRetried: a run result written with its final
// status is delivered signed, retried with back-off while the receiver
// fails, across a restart of the process, dead after MaxAttempts, and
// delivered after a redeliver.
func TestOutboxDurableSignedRetried(t *testing.T) {
	path := sqlitetest.Seed(t, t.TempDir())
	db, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	hook, created, err := db.EnsureWebhook(t.Context(), srv.URL)
	if err != nil || !created {
		t.Fatalf("EnsureWebhook = %v, %v", created, err)
	}
	rcv.secret = hook.Secret
	// Many attempts while the tests wait for retries; 4 where a delivery
	// must die.
	opts := webhook.DelivererOptions{MaxAttempts: 1000, Interval: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond, Poll: 10 * time.Millisecond}
	start := func(db *sqlite.DB) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		d := webhook.NewDeliverer(db, slog.New(slog.DiscardHandler), opts)
		go func() { d.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}

	// Retried while the receiver fails, then delivered once, signed.
	rcv.failUntil.Store(2)
	stop := start(db)
	finish(t, db, "file-a")
	// (The database, not the receiver: a delivery is recorded after the
	// receiver has it.)
	waitFor(t, "the delivery", func() bool { return len(deliveries(t, db, webhook.StateDelivered)) == 1 })
	stop()
	if ds := deliveries(t, db, webhook.StateDelivered); len(ds) != 1 || ds[0].Attempts < 2 {
		t.Errorf("delivered = %+v, want one after 2 or more attempts", ds)
	}

	// A delivery pending when the process stops is delivered after a restart.
	rcv.failing.Store(true)
	stop = start(db)
	finish(t, db, "file-b")
	waitFor(t, "a failed attempt", func() bool {
		return len(deliveries(t, db, webhook.StatePending)) == 1 && deliveries(t, db, webhook.StatePending)[0].Attempts >= 1
	})
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rcv.failing.Store(false)
	stop = start(db)
	waitFor(t, "the delivery after a restart", func() bool { return len(deliveries(t, db, webhook.StateDelivered)) == 2 })
	stop()

	// Dead after MaxAttempts; redelivered on demand.
	rcv.failing.Store(true)
	opts.MaxAttempts = 4
	stop = start(db)
	finish(t, db, "file-c")
	waitFor(t, "a dead delivery", func() bool { return len(deliveries(t, db, webhook.StateDead)) == 1 })
	stop()
	dead := deliveries(t, db, webhook.StateDead)[0]
	if dead.Attempts != opts.MaxAttempts || dead.LastError == "" || dead.FileID != "file-c" {
		t.Errorf("dead delivery %+v, want %d attempts, its last error, file-c", dead, opts.MaxAttempts)
	}
	rcv.failing.Store(false)
	opts.MaxAttempts = 1000
	if err := db.Redeliver(t.Context(), dead.ID); err != nil {
		t.Fatal(err)
	}
	stop = start(db)
	waitFor(t, "the redelivery", func() bool { return len(deliveries(t, db, webhook.StateDelivered)) == 3 })
	stop()
	if n := rcv.count(); n != 3 {
		t.Errorf("the receiver got %d signed deliveries, want 3", n)
	}
	if err := db.Redeliver(t.Context(), 999999); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("Redeliver of an unknown id: %v, want not found", err)
	}
}

// TestVerifyRejects: a changed body, a wrong secret or an old timestamp
// fail verification.
func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	body := []byte(`{"file_id":"f"}`)
	ts := "1700000000"
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, webhook.Sign("s", ts, body))
	at := time.Unix(1700000000, 0)
	if err := webhook.Verify("s", h, body, at, time.Minute); err != nil {
		t.Errorf("valid signature: %v", err)
	}
	if webhook.Verify("s", h, []byte(`{"file_id":"g"}`), at, time.Minute) == nil {
		t.Error("changed body verified")
	}
	if webhook.Verify("other", h, body, at, time.Minute) == nil {
		t.Error("wrong secret verified")
	}
	if webhook.Verify("s", h, body, now, time.Minute) == nil {
		t.Error("old timestamp verified")
	}
}

// TestNotifiedWakesTheDeliverer: a run result the notifier is told of is
// delivered at once, not at the deliverer's next poll (an hour here).
func TestNotifiedWakesTheDeliverer(t *testing.T) {
	db := sqlitetest.Open(t)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	hook, _, err := db.EnsureWebhook(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = hook.Secret
	d := webhook.NewDeliverer(db, nil, webhook.DelivererOptions{Poll: time.Hour})
	n := webhook.New(nil, nil, webhook.Options{Notified: d.Poke})
	defer n.Close(t.Context())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // Run has read the empty outbox and waits
	finish(t, db, "file-n")
	if err := n.Notify(t.Context(), txpipe.Notification{FileID: "file-n", Status: txpipe.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery after Notify", func() bool { return rcv.count() == 1 })
}
