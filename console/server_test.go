package console_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/console"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
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

// testServer is the local pipeline as `txpipe serve` wires it (SQLite, a
// folder, the durable engine, the API with the console), on a loopback
// port.
type testServer struct {
	URL      string
	AdminKey string
	UserKey  string
	DB       *sqlite.DB
	Store    *flakyStore
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "txpipe.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{DB: db}
	steps := &workflow.Steps{Files: files, Transactions: store, Statuses: db, Notifier: nopNotifier{}, DeadLetters: db, Logger: logger}
	engine := workflow.NewEngine(workflow.Pipeline(), steps, db, workflow.EngineOptions{Workers: 2, Poll: 100 * time.Millisecond, Logger: logger})
	intake := &workflow.Intake{Files: files, Statuses: db, Runs: engine, Logger: logger}
	handler := httpapi.NewHandler(httpapi.Config{
		Uploader: intake, Statuses: db, Transactions: db, Keys: db, SpoolDir: t.TempDir(), Logger: logger,
		Files: db, Volumes: db, DeadLetters: db, KeyAdmin: db, Console: console.Handler(),
	})
	srv := httptest.NewServer(handler)
	engineCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = engine.Run(engineCtx)
	}()
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		if err := db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	ts := &testServer{URL: srv.URL, DB: db, Store: store}
	for _, k := range []struct {
		name, role string
		dst        *string
	}{{"console admin", txpipe.RoleAdmin, &ts.AdminKey}, {"uploader", txpipe.RoleUser, &ts.UserKey}} {
		secret, hash, err := httpapi.NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateKey(ctx, txpipe.APIKey{Name: k.name, Hash: hash, Role: k.role, QuotaPerDay: 100000, RatePerSecond: 1000, Burst: 1000}); err != nil {
			t.Fatal(err)
		}
		*k.dst = secret
	}
	return ts
}
