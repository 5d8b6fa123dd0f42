//go:build integration

package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/sqlite"
)

// killOnce writes the failAt-th batch it is given, then fails it with a
// transient error, once: a chunk that dies mid-write after some of its rows
// are stored, and is retried.
type killOnce struct {
	*sqlite.DB
	calls  atomic.Int64
	failAt int64
	killed atomic.Bool
}

func (k *killOnce) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	c, err := k.DB.PutTransactions(ctx, txs)
	if err == nil && k.calls.Add(1) == k.failAt && k.killed.CompareAndSwap(false, true) {
		return txpipe.Counts{}, txpipe.Errorf(txpipe.ETRANSIENT, "injected: the chunk's writer died after storing a batch")
	}
	return c, err
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, txpipe.Notification) error { return nil }

// TestEveryRowQueryableExactlyOnce: a file of 600,000 rows sent through the
// two-step upload (POST /uploads, PUT to the URL) to the pipeline as
// `txpipe serve` assembles it, written in chunks of 250,000 rows on two
// workers with one chunk killed mid-write and retried, ends COMPLETED with
// 600,000 inserted, and paging through GET /transactions returns every id
// of the file exactly once and nothing else.
func TestEveryRowQueryableExactlyOnce(t *testing.T) {
	rows := 600_000 // three chunks: 250,000, 250,000 and 100,000 rows
	if testing.Short() {
		rows = 21_000 // one chunk
	}
	var store *killOnce
	s, db := startLocal(t, 2, func(db *sqlite.DB) server.TransactionStore {
		store = &killOnce{DB: db, failAt: 7}
		return store
	})
	// A key whose rate limit does not slow the paging down.
	key, _, err := httpapi.CreateKeyWithRole(t.Context(), db, "pager", 1<<40, 10_000, txpipe.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	c := &httpapi.Client{Endpoint: s.URL(), APIKey: key}

	var csv bytes.Buffer
	if err := txgen.Write(&csv, txgen.Options{Rows: rows, Seed: 31}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i, line := range bytes.Split(csv.Bytes(), []byte("\n")) {
		if i == 0 || len(line) == 0 {
			continue
		}
		want[string(line[:bytes.IndexByte(line, ',')])] = true
	}
	if len(want) != rows {
		t.Fatalf("the file has %d distinct ids, want %d", len(want), rows)
	}

	res, err := c.UploadTwoStep(t.Context(), "month.csv", bytes.NewReader(csv.Bytes()), httpapi.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created() {
		t.Fatalf("upload: %d %+v", res.StatusCode, res.Record)
	}
	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer wcancel()
	st, err := c.Wait(wctx, res.Record.FileID, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != int64(rows) || st.Counts() != (txpipe.Counts{Inserted: int64(rows)}) {
		t.Fatalf("status %s rows %d counts %+v, want COMPLETED with %d inserted", st.Status, st.Rows, st.Counts(), rows)
	}
	if !store.killed.Load() {
		t.Fatal("no chunk was killed mid-write")
	}

	seen := map[string]int{}
	q := txpipe.TxQuery{From: time.Unix(0, 0), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 1000}
	pages := 0
	for {
		page, err := c.Transactions(t.Context(), q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, tx := range page.Items {
			seen[tx.ID]++
			if tx.FileID != st.FileID {
				t.Errorf("transaction %s has file %s, want %s", tx.ID, tx.FileID, st.FileID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	var dup, extra int
	for id, n := range seen {
		if n > 1 {
			dup++
		}
		if !want[id] {
			extra++
		}
	}
	missing := 0
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	if dup > 0 || extra > 0 || missing > 0 || len(seen) != rows {
		t.Errorf("%d ids over %d pages: %d more than once, %d not in the file, %d of the file missing; want each of %d once", len(seen), pages, dup, extra, missing, rows)
	}
	t.Logf("%d rows, %d pages, each id once", len(seen), pages)
}

// startLocal assembles the local pipeline as `txpipe serve` does, on a new
// data dir, with workers workers and the transaction store transactions
// makes of the data dir's database (the database itself if nil), and runs
// it until the test ends.
func startLocal(t *testing.T, workers int, transactions func(*sqlite.DB) server.TransactionStore) (*server.Server, *sqlite.DB) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	db, err := server.OpenDataDir(t.Context(), dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	var tx server.TransactionStore = db
	if transactions != nil {
		tx = transactions(db)
	}
	s, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", Workers: workers}, dir, db, server.Adapters{
		Transactions: tx, Statuses: db, Files: files, Notifier: nopNotifier{}, DeadLetters: db,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return s, db
}
