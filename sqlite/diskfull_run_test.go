package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/disktest"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/workflow"
)

type notifications struct {
	mu   sync.Mutex
	list []txpipe.Notification
}

func (n *notifications) Notify(ctx context.Context, m txpipe.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, m)
	return nil
}

// TestRunOnFullDiskFinishes fills the disk while a file's rows are being
// written: once space is freed the run finishes in the same process (it hung
// in PROCESSING until a restart), with exact counts.
func TestRunOnFullDiskFinishes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	dir := disktest.Small(t, 48<<20)
	db := reopen(t, filepath.Join(dir, "txpipe.db"))
	defer db.Close()
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	const rows = 100_000
	var csv bytes.Buffer
	csv.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for i := range rows {
		fmt.Fprintf(&csv, "full-%06d,%d.25,EUR,2025-04-01T%02d:%02d:%02dZ,A merchant of some length,completed\n", i, i, i/3600%24, i/60%60, i%60)
	}
	sum := sha256.Sum256(csv.Bytes())
	key := hex.EncodeToString(sum[:])
	if err := files.PutFile(ctx, key, bytes.NewReader(csv.Bytes())); err != nil {
		t.Fatal(err)
	}
	fileID := txpipe.FileIDFromSHA256(key)
	state := workflow.RunState{FileID: fileID, FileKey: key, Filename: "full.csv", Rows: rows, SizeBytes: int64(csv.Len())}

	notes := &notifications{}
	steps := &workflow.Tasks{Files: files, Transactions: db, Statuses: db, Notifier: notes, DeadLetters: db}
	def := workflow.Pipeline()
	for i := range def.Steps {
		def.Steps[i].Retry.Interval, def.Steps[i].Retry.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	}
	for i := range def.OnFailure {
		def.OnFailure[i].Retry.Interval, def.OnFailure[i].Retry.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	}
	obs := &failObserver{failing: make(chan struct{})}
	engine := workflow.NewEngine(def, steps, db, workflow.EngineOptions{Workers: 1, Poll: 20 * time.Millisecond, Observer: obs})

	if err := engine.StartRun(ctx, state); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); engine.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The disk fills while the file's rows are being written.
	for {
		st, err := db.GetStatus(ctx, fileID)
		if err == nil && st.Status == txpipe.StatusProcessing {
			break
		}
		if err == nil && st.Status != txpipe.StatusValidated {
			t.Fatalf("status %s before the disk filled", st.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
	free := disktest.Fill(t, dir)

	// Transform cannot write on the full disk; once an attempt failed,
	// space is freed. The run must not stay PROCESSING (it did: its job
	// stayed leased, and the store refused writes until a restart): it ends
	// COMPLETED, or FAILED in the dead-letter queue, from which a redrive
	// completes it, all in the same process.
	// An attempt fails only when its writes reach the disk: the rows of a
	// chunk may fit in the page cache and a reused write-ahead log, and
	// then it is the status and job writes that wait. Either way the disk
	// is freed after a while, and the outcome below is what counts.
	select {
	case <-obs.failing:
		t.Log("a step attempt failed on the full disk")
	case <-time.After(10 * time.Second):
		st, _ := db.GetStatus(ctx, fileID)
		t.Logf("no step attempt failed in 10 s on the full disk (status %s); freeing it", st.Status)
	}
	free()
	deadline := time.Now().Add(3 * time.Minute)
	redriven := false
	for {
		st, err := db.GetStatus(ctx, fileID)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := db.DeadLetterCount(ctx)
		if st.Status == txpipe.StatusCompleted {
			if got := st.Inserted + st.Updated + st.Unchanged; got != rows {
				t.Errorf("counts %d+%d+%d = %d, want %d", st.Inserted, st.Updated, st.Unchanged, got, rows)
			}
			t.Logf("completed after space was freed (redriven: %v)", redriven)
			break
		}
		if st.Status == txpipe.StatusFailed && n == 1 && !redriven {
			t.Logf("failed run: %s", st.Failure)
			dl, err := db.GetDeadLetter(ctx, fileID)
			if err != nil {
				t.Fatal(err)
			}
			dl.State.Error, dl.State.Counts = nil, nil
			if err := db.RedriveDeadLetter(ctx, workflow.Job{FileID: fileID, Phase: workflow.PhaseRun, State: dl.State, DueAt: time.Now()}); err != nil {
				t.Fatalf("redrive after space was freed: %v", err)
			}
			redriven = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("run after space was freed: status %+v, %d dead letters; want COMPLETED, or FAILED and 1", st, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := countRows(t, db, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 2, 0, 0, 0, 0, time.UTC)); n != rows {
		t.Errorf("%d rows stored, want %d", n, rows)
	}
}

// failObserver closes failing when an attempt of a step that writes rows
// fails: a chunk of the Transform map (retried within the step), or Split
// or Finish.
type failObserver struct {
	once    sync.Once
	failing chan struct{}
}

func (o *failObserver) StepFinished(step string, d time.Duration, err error) {
	if err != nil {
		o.once.Do(func() { close(o.failing) })
	}
}
func (o *failObserver) StepRetried(step string)                    { o.once.Do(func() { close(o.failing) }) }
func (o *failObserver) RunFinished(status string, c txpipe.Counts) {}
