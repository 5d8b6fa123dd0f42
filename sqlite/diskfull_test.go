package sqlite_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/disktest"
	"github.com/txpipe/txpipe/sqlite"
)

var fullBase = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func fullBatch(fileID string, i int) []txpipe.Transaction {
	txs := make([]txpipe.Transaction, 1000)
	for j := range txs {
		txs[j] = txpipe.Transaction{
			ID: fmt.Sprintf("%s-%04d-%04d", fileID, i, j), Amount: "1.00", AmountMinor: 100, Currency: "USD",
			Timestamp: fullBase.Add(time.Duration(i)*time.Minute + time.Duration(j)*time.Millisecond),
			Merchant:  "merchant with a longer name", Status: txpipe.TxCompleted, FileID: fileID,
		}
	}
	return txs
}

// TestDiskFullThenFreed fills the real disk of the data dir while a file's
// rows are being written: the store refuses writes with ENOSPACE (and says
// so in CheckWritable), the rows of the lost group commit are refused until
// the run writes them again, and once space is freed the store takes writes
// again without a restart, with exact counts.
func TestDiskFullThenFreed(t *testing.T) {
	t.Parallel()
	dir := disktest.Small(t, 24<<20)
	path := filepath.Join(dir, "txpipe.db")
	db := reopen(t, path)
	defer db.Close()
	ctx := t.Context()

	st := &txpipe.FileStatus{FileID: "f1", Status: txpipe.StatusProcessing, CreatedAt: fullBase, UpdatedAt: fullBase}
	if _, _, err := db.CreateStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginRows(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	free := disktest.Fill(t, dir)

	var failure error
	batches := 0
	for batches < 500 && failure == nil {
		if _, err := db.PutTransactions(ctx, fullBatch("f1", batches)); err != nil {
			failure = err
			break
		}
		batches++
		if batches%5 == 0 {
			failure = db.SyncRows(ctx, "f1")
		}
	}
	if failure == nil {
		t.Fatalf("wrote %d batches on a full disk without an error", batches)
	}
	if got := txpipe.ErrorCode(failure); got != txpipe.ENOSPACE {
		t.Fatalf("error on a full disk = %v (code %s), want code %s", failure, got, txpipe.ENOSPACE)
	}
	if !txpipe.IsTransient(failure) {
		t.Errorf("a full disk is not retried: %v", failure)
	}
	if err := db.CheckWritable(ctx); err == nil {
		t.Error("CheckWritable on a full disk = nil, want an error")
	}
	// Reads still work.
	if _, err := db.GetStatus(ctx, "f1"); err != nil {
		t.Errorf("GetStatus on a full disk: %v", err)
	}

	free()
	if err := db.CheckWritable(ctx); err != nil {
		t.Fatalf("CheckWritable after space was freed: %v", err)
	}
	// The run's rows in the failed commit were lost: the store says so
	// until the run starts writing them again.
	if err := db.SyncRows(ctx, "f1"); err == nil || !txpipe.IsTransient(err) || !strings.Contains(err.Error(), "lost") {
		t.Errorf("SyncRows of a file whose rows were lost = %v, want a transient error naming the loss", err)
	}
	if _, err := db.PutTransactions(ctx, fullBatch("f1", 0)); err == nil {
		t.Error("PutTransactions of a file whose rows were lost succeeded before BeginRows")
	}

	// The run is retried: it writes every row again.
	if err := db.BeginRows(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	var c txpipe.Counts
	for i := range batches {
		bc, err := db.PutTransactions(ctx, fullBatch("f1", i))
		if err != nil {
			t.Fatalf("batch %d after space was freed: %v", i, err)
		}
		c = c.Add(bc)
	}
	if err := db.SyncRows(ctx, "f1"); err != nil {
		t.Fatalf("SyncRows after the rewrite: %v", err)
	}
	if got, want := c.Inserted+c.Updated+c.Unchanged, int64(batches*1000); got != want {
		t.Errorf("counts %+v add up to %d, want %d", c, got, want)
	}
	st.Status, st.UpdatedAt = txpipe.StatusCompleted, time.Now()
	if err := db.UpdateStatus(ctx, st); err != nil {
		t.Fatalf("UpdateStatus after space was freed: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = reopen(t, path)
	defer db.Close()
	n := countRows(t, db, fullBase, fullBase.Add(24*time.Hour))
	if n != batches*1000 {
		t.Errorf("%d rows stored after reopen, want %d", n, batches*1000)
	}
	got, err := db.GetStatus(ctx, "f1")
	if err != nil || got.Status != txpipe.StatusCompleted {
		t.Errorf("status after reopen = %+v, %v; want COMPLETED", got, err)
	}
}

// countRows counts the transactions with from <= timestamp < to.
func countRows(t *testing.T, db *sqlite.DB, from, to time.Time) int {
	t.Helper()
	return len(listRows(t, db, from, to))
}

// listRows lists the transactions with from <= timestamp < to, page by
// page, as a client does.
func listRows(t *testing.T, db *sqlite.DB, from, to time.Time) []txpipe.Transaction {
	t.Helper()
	var out []txpipe.Transaction
	q := txpipe.TxQuery{From: from, To: to, Limit: txpipe.MaxTxLimit}
	for {
		page, err := db.ListTransactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
}

// TestReadOnlyDataDir opens a database in a read-only directory: the error
// says the data directory is not writable, not "unable to open database
// file" from inside a migration.
func TestReadOnlyDataDir(t *testing.T) {
	t.Parallel()
	dir := disktest.Small(t, 1<<20)
	disktest.ReadOnly(t, dir, true)
	defer disktest.ReadOnly(t, dir, false)
	_, err := sqlite.Open(t.Context(), filepath.Join(dir, "txpipe.db"), nil)
	if err == nil {
		t.Fatal("Open in a read-only directory succeeded")
	}
	if !strings.Contains(err.Error(), "data directory "+dir+" is not writable") || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("Open in a read-only directory: %v; want it to say the data directory is not writable and why", err)
	}
}
