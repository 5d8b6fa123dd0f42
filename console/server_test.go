//go:build integration

package console_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/sqlite"
)

// flakyStore refuses the rows of transactions whose id starts with
// "fail-" while fail is set, so a test can make a run fail for good and
// then let its redrive through.
type flakyStore struct {
	*sqlite.DB
	fail atomic.Bool
}

func (f *flakyStore) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	if f.fail.Load() && len(txs) > 0 && strings.HasPrefix(txs[0].ID, "fail-") {
		return txpipe.Counts{}, txpipe.Errorf(txpipe.EINVALID, "injected failure: the store refused the batch")
	}
	return f.DB.PutTransactions(ctx, txs)
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, txpipe.Notification) error { return nil }

// testServer is the local pipeline as `txpipe serve` assembles it
// (server.New: SQLite, a folder, the durable engine, the API with the
// console), on a loopback port, with a store that fails on request.
type testServer struct {
	URL      string
	AdminKey string // the first key, as serve makes it
	DB       *sqlite.DB
	Store    *flakyStore
}

func startServer(t *testing.T) *testServer {
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
	store := &flakyStore{DB: db}
	s, err := server.New(t.Context(), server.Config{Addr: "127.0.0.1:0", Workers: 2}, dir, db, server.Adapters{
		Transactions: store, Statuses: db, Files: files, Notifier: nopNotifier{}, DeadLetters: db,
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
	return &testServer{URL: s.URL(), AdminKey: s.FirstKey(), DB: db, Store: store}
}
