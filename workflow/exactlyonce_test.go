package workflow_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// countingStarter counts the runs started through it.
type countingStarter struct {
	workflow.Starter
	n atomic.Int64
}

func (c *countingStarter) StartRun(ctx context.Context, st workflow.RunState) error {
	c.n.Add(1)
	return c.Starter.StartRun(ctx, st)
}

// TestConcurrentIdenticalUploadsOneRun submits the same bytes 20 times at
// once: exactly one submission creates the file and starts its run, the
// others answer with the winner's record; one notification, exact counts.
// Both ways of starting a run: the record and the job in one SQLite
// transaction (the local server), and the record's conditional write
// followed by the start (the way of the AWS stores).
func TestConcurrentIdenticalUploadsOneRun(t *testing.T) {
	t.Parallel()
	rows := 3000
	if testing.Short() {
		rows = 600 // still two chunks
	}
	for _, atomicStart := range []bool{true, false} {
		name := map[bool]string{true: "record-and-job", false: "record-then-start"}[atomicStart]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			starter := &countingStarter{Starter: e.engine}
			e.intake.Runs = starter
			if atomicStart {
				e.intake.Recorder = e.engine
			}
			e.run(t)
			data := generate(t, rows, 42)
			ups := make([]workflow.Upload, 20)
			for i := range ups {
				ups[i] = upload(t, "same.csv", data)
			}
			var created atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			ids := make([]string, len(ups))
			for i := range ups {
				wg.Go(func() {
					<-start
					st, c, err := e.intake.Submit(context.Background(), ups[i])
					if err != nil {
						t.Errorf("submit %d: %v", i, err)
						return
					}
					if c {
						created.Add(1)
					}
					ids[i] = st.FileID
				})
			}
			close(start)
			wg.Wait()
			if got := created.Load(); got != 1 {
				t.Errorf("%d submissions created the file, want 1", got)
			}
			for _, id := range ids[1:] {
				if id != ids[0] {
					t.Fatalf("file ids differ: %v", ids)
				}
			}
			done := waitStatus(t, e, ids[0], txpipe.StatusCompleted)
			time.Sleep(100 * time.Millisecond) // a second run would notify again
			if got := e.subs.statuses(); len(got) != 1 {
				t.Errorf("notifications = %v, want one", got)
			}
			if !atomicStart {
				if got := starter.n.Load(); got != 1 {
					t.Errorf("%d runs started, want 1", got)
				}
			}
			if got, want := done.Counts(), (txpipe.Counts{Inserted: int64(rows)}); got != want || done.Attempts != 1 {
				t.Errorf("counts %+v after %d attempts, want %+v after 1", got, done.Attempts, want)
			}
			if got := countStored(t, e); got != rows {
				t.Errorf("stored %d transactions, want %d", got, rows)
			}
		})
	}
}

// TestLostStartRestarted: where the record and the run's start are two
// writes, a record left VALIDATED without a run (a crash in between) is
// started by the next upload of the same bytes once it is StaleValidated
// old, and only once.
func TestLostStartRestarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	starter := &countingStarter{Starter: e.engine}
	e.intake.Runs = starter
	now := time.Now().UTC()
	e.intake.Now = func() time.Time { return now }
	e.run(t)
	data := generate(t, 50, 7)
	up := upload(t, "lost.csv", data)
	fileID := txpipe.FileIDFromSHA256(up.SHA256)
	old := now.Add(-workflow.StaleValidated - time.Minute)
	if _, _, err := e.db.CreateStatus(t.Context(), &txpipe.FileStatus{FileID: fileID, Status: txpipe.StatusValidated, SHA256: up.SHA256, Rows: 50, CreatedAt: old, UpdatedAt: old}); err != nil {
		t.Fatal(err)
	}
	st, created, err := e.intake.Submit(t.Context(), up)
	if err != nil || created {
		t.Fatalf("Submit = %+v, %v, %v; want the known record", st, created, err)
	}
	if _, _, err := e.intake.Submit(t.Context(), upload(t, "lost.csv", data)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, fileID, txpipe.StatusCompleted)
	if got := starter.n.Load(); got != 1 {
		t.Errorf("%d runs started, want 1", got)
	}
}
