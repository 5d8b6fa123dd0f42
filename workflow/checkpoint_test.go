package workflow_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// stallWriter passes writes to a real store until it has taken stallAfter
// rows, then holds every later write until its context ends, as a process
// that stops mid-file (the engine is then stopped: nothing more is saved).
type stallWriter struct {
	workflow.TransactionWriter
	stallAfter int64 // 0: never
	rows       atomic.Int64
	stalled    chan struct{}
	once       atomic.Bool
}

func (w *stallWriter) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	if w.stallAfter > 0 && w.rows.Load() >= w.stallAfter {
		if w.once.CompareAndSwap(false, true) {
			close(w.stalled)
		}
		<-ctx.Done()
		return txpipe.Counts{}, txpipe.Wrap(txpipe.ETRANSIENT, ctx.Err())
	}
	w.rows.Add(int64(len(txs)))
	return w.TransactionWriter.PutTransactions(ctx, txs)
}

func (w *stallWriter) BeginRows(ctx context.Context, fileID string) error {
	return w.TransactionWriter.(workflow.RowsDurability).BeginRows(ctx, fileID)
}

func (w *stallWriter) SyncRows(ctx context.Context, fileID string) error {
	return w.TransactionWriter.(workflow.RowsDurability).SyncRows(ctx, fileID)
}

// A run stopped at ~80% of its chunks resumes its map step at the chunks
// that have no recorded result: the restarted engine writes the rows not
// yet stored and at most one chunk's rows again per worker, and the file's
// counts and stored rows are exact.
func TestMapResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	const rows, chunkRows, workers = 3000, 300, 2
	e := newEnv(t)
	ctx := context.Background()
	engine := func(w *stallWriter) *workflow.Engine {
		steps := &workflow.Tasks{Files: e.files, Transactions: w, Statuses: e.db, Notifier: e.subs, DeadLetters: e.db, BatchSize: 100, ChunkRows: chunkRows}
		return workflow.NewEngine(fastPipeline(), steps, e.db, workflow.EngineOptions{Poll: 5 * time.Millisecond, Workers: workers})
	}

	first := &stallWriter{TransactionWriter: e.db, stallAfter: 2400, stalled: make(chan struct{})}
	eng := engine(first)
	intake := &workflow.Intake{Files: e.files, Statuses: e.db, Runs: eng, Retry: fastPipeline().Steps[0].Retry}
	st, _, err := intake.Submit(ctx, upload(t, "a.csv", generate(t, rows, 5)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { eng.Run(runCtx); close(done) }()
	select {
	case <-first.stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the first engine did not reach 2400 rows")
	}
	time.Sleep(20 * time.Millisecond) // let the chunks that finished record themselves
	stop()
	<-done
	stored := int64(countStored(t, e))
	t.Logf("stopped with %d of %d rows stored", stored, rows)
	if stored < 2000 || stored >= rows {
		t.Fatalf("%d rows stored when the first engine stopped, want 2000..%d", stored, rows-1)
	}

	second := &stallWriter{TransactionWriter: e.db}
	eng2 := engine(second)
	runCtx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan struct{})
	go func() { eng2.Run(runCtx2); close(done2) }()
	t.Cleanup(func() { stop2(); <-done2 })
	fin := waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	if got, want := fin.Counts(), (txpipe.Counts{Inserted: rows}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if got := countStored(t, e); got != rows {
		t.Errorf("stored %d transactions, want %d", got, rows)
	}
	again := second.rows.Load() - (rows - stored)
	t.Logf("after the restart: %d rows written, %d of them again", second.rows.Load(), again)
	if again > workers*chunkRows {
		t.Errorf("the restart wrote %d stored rows again, want at most %d (one chunk per worker)", again, workers*chunkRows)
	}
}
