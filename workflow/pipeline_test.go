package workflow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// subscriber records the notifications it receives.
type subscriber struct {
	mu  sync.Mutex
	got []txpipe.Notification
}

func (s *subscriber) Notify(_ context.Context, n txpipe.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, n)
	return nil
}

func (s *subscriber) statuses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		out = append(out, n.FileID+":"+n.Status)
	}
	return out
}

// flakyWriter puts a real store behind a switch that makes writes fail with
// a transient error, as a throttled or unreachable table would.
type flakyWriter struct {
	workflow.TransactionWriter
	failFrom atomic.Int64 // calls numbered from 1 that fail from here on (0: none)
	failOnce atomic.Int64 // one call number that fails once (0: none)
	calls    atomic.Int64
	settles  atomic.Int64
}

// SettleRows counts the calls and settles the store's rows.
func (w *flakyWriter) SettleRows(ctx context.Context) error {
	w.settles.Add(1)
	return w.TransactionWriter.(workflow.RowsSettler).SettleRows(ctx)
}

func (w *flakyWriter) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	n := w.calls.Add(1)
	if from := w.failFrom.Load(); from > 0 && n >= from {
		return txpipe.Counts{}, txpipe.Errorf(txpipe.ETRANSIENT, "table unavailable")
	}
	if w.failOnce.CompareAndSwap(n, 0) {
		return txpipe.Counts{}, txpipe.Errorf(txpipe.ETRANSIENT, "table throttled")
	}
	return w.TransactionWriter.PutTransactions(ctx, txs)
}

type env struct {
	db     *sqlite.DB
	files  *localfs.Store
	writer *flakyWriter
	subs   *subscriber
	engine *workflow.Engine
	intake *workflow.Intake
}

func fastPipeline() workflow.Definition {
	def := workflow.Pipeline()
	for _, list := range [][]workflow.Step{def.Steps, def.OnFailure} {
		for i := range list {
			list[i].Retry.Interval = time.Millisecond
			list[i].Retry.MaxDelay = 5 * time.Millisecond
		}
	}
	return def
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlitetest.Seed(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, files: files, writer: &flakyWriter{TransactionWriter: db}, subs: &subscriber{}}
	// Chunks of 300 rows: a file of 1000 rows runs as 4 chunks, in parallel.
	steps := &workflow.Tasks{Files: files, Transactions: e.writer, Statuses: db, Notifier: e.subs, DeadLetters: db, BatchSize: 100, ChunkRows: 300}
	e.engine = workflow.NewEngine(fastPipeline(), steps, db, workflow.EngineOptions{Poll: 5 * time.Millisecond})
	e.intake = &workflow.Intake{Files: files, Statuses: db, Runs: e.engine, Retry: fastPipeline().Steps[0].Retry}
	return e
}

// run starts the engine until the test ends.
func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.engine.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func upload(t *testing.T, name string, data []byte) workflow.Upload {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return workflow.Upload{Filename: name, File: f, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func generate(t *testing.T, rows int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := txgen.Write(&b, txgen.Options{Rows: rows, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func waitStatus(t *testing.T, e *env, fileID string, want string) *txpipe.FileStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.db.GetStatus(context.Background(), fileID)
		if err == nil && st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s: status %+v (err %v), want %s", fileID, st, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countStored(t *testing.T, e *env) int {
	t.Helper()
	q := txpipe.TxQuery{From: time.Unix(0, 0), To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: txpipe.MaxTxLimit}
	n := 0
	for {
		page, err := e.db.ListTransactions(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
		if page.NextCursor == "" {
			return n
		}
		q.Cursor = page.NextCursor
	}
}

func TestPipelineCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t)
	ctx := context.Background()
	data := generate(t, 1234, 1)

	st, created, err := e.intake.Submit(ctx, upload(t, "a.csv", data))
	if err != nil {
		t.Fatal(err)
	}
	if !created || st.Status != txpipe.StatusValidated || st.Rows != 1234 {
		t.Fatalf("Submit = %+v created=%v, want a new VALIDATED file of 1234 rows", st, created)
	}
	done := waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	if got, want := done.Counts(), (txpipe.Counts{Inserted: 1234}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if done.Attempts != 1 || done.SizeBytes != int64(len(data)) || done.SHA256 == "" {
		t.Errorf("attempts %d, size_bytes %d, sha256 %q; want 1, %d and the checksum", done.Attempts, done.SizeBytes, done.SHA256, len(data))
	}
	if got := countStored(t, e); got != 1234 {
		t.Errorf("stored %d transactions, want 1234", got)
	}
	if n := e.writer.settles.Load(); n != 1 {
		t.Errorf("the rows were settled %d times before COMPLETED, want once", n)
	}
	if got := e.subs.statuses(); len(got) != 1 || got[0] != st.FileID+":COMPLETED" {
		t.Errorf("notifications = %v, want one COMPLETED", got)
	}

	// The same bytes again: the known record, not a second run.
	again, created, err := e.intake.Submit(ctx, upload(t, "a-again.csv", data))
	if err != nil {
		t.Fatal(err)
	}
	if created || again.FileID != st.FileID || again.Status != txpipe.StatusCompleted {
		t.Errorf("re-upload = %+v created=%v, want the COMPLETED record of %s", again, created, st.FileID)
	}

	// A second file: 5 rows as they are, 5 with another status, 1 new.
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(recs[0])
	for i, rec := range recs[1:11] {
		if i >= 5 {
			if strings.EqualFold(rec[5], "pending") {
				rec[5] = "failed"
			} else {
				rec[5] = "pending"
			}
		}
		w.Write(rec)
	}
	w.Write([]string{"tx-new-1", "1.00", "USD", "2026-01-01T00:00:00Z", "New Shop", "completed"})
	w.Flush()
	second, _, err := e.intake.Submit(ctx, upload(t, "b.csv", b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	done2 := waitStatus(t, e, second.FileID, txpipe.StatusCompleted)
	if got, want := done2.Counts(), (txpipe.Counts{Inserted: 1, Updated: 5, Unchanged: 5}); got != want {
		t.Errorf("second file counts = %+v, want %+v", got, want)
	}
	if got := countStored(t, e); got != 1235 {
		t.Errorf("stored %d transactions, want 1235", got)
	}
}

func TestRejectedFileWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t)
	ctx := context.Background()
	data := []byte("transaction_id,amount,currency,timestamp,merchant,status\n" +
		"t1,10.00,USD,2026-01-01T00:00:00Z,Shop,completed\n" +
		"t2,1.234,USD,2026-01-01T00:00:00Z,Shop,completed\n")
	for i, wantCreated := range []bool{true, false} {
		st, created, err := e.intake.Submit(ctx, upload(t, "bad.csv", data))
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != txpipe.StatusRejected || created != wantCreated || st.ErrorCount != 1 || len(st.Errors) != 1 {
			t.Fatalf("upload %d: %+v created=%v, want REJECTED with 1 error, created=%v", i+1, st, created, wantCreated)
		}
		if got := st.Errors[0]; got.Line != 3 || got.Column != "amount" || got.Value != "1.234" {
			t.Errorf("error = %+v, want line 3, column amount, value 1.234", got)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if got := countStored(t, e); got != 0 {
		t.Errorf("a rejected file stored %d transactions", got)
	}
}

func TestFailingStepIsRetriedThenDeadLetteredThenRedriven(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writer.failFrom.Store(1)
	e.run(t)
	ctx := context.Background()

	st, _, err := e.intake.Submit(ctx, upload(t, "a.csv", generate(t, 250, 2)))
	if err != nil {
		t.Fatal(err)
	}
	failed := waitStatus(t, e, st.FileID, txpipe.StatusFailed)
	// The one chunk is tried 3 times (the map step is not retried as a
	// whole: on AWS the Map state has no Retry either).
	if got := e.writer.calls.Load(); got != 3 {
		t.Errorf("transform wrote %d times, want 3 attempts", got)
	}
	if failed.Attempts != 1 || !strings.Contains(failed.Failure, "table unavailable") {
		t.Errorf("failed record: attempts %d failure %q, want 1 run and the cause", failed.Attempts, failed.Failure)
	}
	var dls []sqlite.DeadLetter
	for deadline := time.Now().Add(10 * time.Second); len(dls) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if dls, err = e.db.ListDeadLetters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(dls) != 1 || dls[0].FileID != st.FileID || dls[0].State.Error == nil || dls[0].State.FileKey == "" {
		t.Fatalf("dead letters = %+v, want the failed run with its error", dls)
	}
	if got := e.subs.statuses(); len(got) != 1 || got[0] != st.FileID+":FAILED" {
		t.Errorf("notifications = %v, want one FAILED", got)
	}

	// The table is back: redrive the run from the queue.
	e.writer.failFrom.Store(0)
	if err := e.engine.Redrive(ctx, dls[0].State); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RemoveDeadLetter(ctx, st.FileID); err != nil {
		t.Fatal(err)
	}
	done := waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	if got, want := done.Counts(), (txpipe.Counts{Inserted: 250}); got != want {
		t.Errorf("counts after redrive = %+v, want %+v", got, want)
	}
	if done.Failure != "" || done.Attempts != 2 {
		t.Errorf("after redrive: failure %q attempts %d, want none and 2", done.Failure, done.Attempts)
	}
	if got := countStored(t, e); got != 250 {
		t.Errorf("stored %d transactions, want 250", got)
	}
}

// A chunk interrupted after some batches and retried writes every row
// once, and the file's counts still add up to its rows.
func TestInterruptedTransformResumesWithExactCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writer.failOnce.Store(4) // the 4th batch of 100 fails once, after 300 rows were written
	e.run(t)
	st, _, err := e.intake.Submit(context.Background(), upload(t, "a.csv", generate(t, 1000, 3)))
	if err != nil {
		t.Fatal(err)
	}
	done := waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	if got, want := done.Counts(), (txpipe.Counts{Inserted: 1000}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if done.Attempts != 1 {
		t.Errorf("attempts = %d, want 1 (the chunk was retried, not the run)", done.Attempts)
	}
	if got := e.writer.calls.Load(); got < 11 {
		t.Errorf("%d batch writes, want at least 11 (10 batches and the failed one again)", got)
	}
	if got := countStored(t, e); got != 1000 {
		t.Errorf("stored %d transactions, want 1000", got)
	}
}
