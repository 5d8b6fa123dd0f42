package workflow_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// progressRecorder is the status table, noting the counts of every
// PROCESSING record written.
type progressRecorder struct {
	*sqlite.DB
	mu     sync.Mutex
	totals []int64
}

func (r *progressRecorder) UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error {
	if st.Status == txpipe.StatusProcessing {
		r.mu.Lock()
		r.totals = append(r.totals, st.Counts().Total())
		r.mu.Unlock()
	}
	return r.DB.UpdateStatus(ctx, st, from...)
}

// UpdateProgress is what RecordProgress uses with a workflow.ProgressWriter.
func (r *progressRecorder) UpdateProgress(ctx context.Context, st *txpipe.FileStatus) error {
	r.mu.Lock()
	r.totals = append(r.totals, st.Counts().Total())
	r.mu.Unlock()
	return r.DB.UpdateProgress(ctx, st)
}

// TestTransformRecordsProgress: while rows are written, the PROCESSING
// record carries the counts so far (what `upload --wait` shows).
func TestTransformRecordsProgress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), sqlitetest.Seed(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &progressRecorder{DB: db}
	steps := &workflow.Tasks{Files: files, Transactions: db, Statuses: rec, Notifier: &subscriber{}, DeadLetters: db,
		BatchSize: 100, ProgressEvery: time.Nanosecond}
	engine := workflow.NewEngine(fastPipeline(), steps, db, workflow.EngineOptions{Poll: 5 * time.Millisecond})
	intake := &workflow.Intake{Files: files, Statuses: rec, Runs: engine}
	e := &env{db: db, files: files, engine: engine, intake: intake}
	e.run(t)
	st, _, err := intake.Submit(t.Context(), upload(t, "p.csv", generate(t, 1000, 2)))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	partial := 0
	for _, n := range rec.totals {
		if n > 0 && n < 1000 {
			partial++
		}
	}
	if partial == 0 {
		t.Errorf("PROCESSING records had totals %v, want some between 0 and 1000", rec.totals)
	}
}
