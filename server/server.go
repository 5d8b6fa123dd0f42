// Package server runs the whole pipeline in one process: the HTTP API, the
// durable workflow engine and the adapters it is given (embedded ones, or
// the AWS ones for `txpipe serve --aws`). The data dir's SQLite database
// always holds the API keys and the engine's jobs.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/console"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/telemetry"
	"github.com/txpipe/txpipe/telemetry/prom"
	"github.com/txpipe/txpipe/workflow"
)

// Config is what the server is told by `txpipe serve`'s flags.
type Config struct {
	Addr         string // host:port to listen on; port 0 picks a free one
	MaxBodyBytes int64  // largest upload body; httpapi's default if 0
	Workers      int    // files processed at once; 2 if 0
	// MaxUploadBytes limits a file declared with POST /uploads.
	MaxUploadBytes int64
	// UploadOrigins may PUT to upload URLs from a browser page (CORS).
	UploadOrigins []string
}

// TransactionStore is the transactions table as the server uses it.
type TransactionStore interface {
	workflow.TransactionWriter
	httpapi.TransactionLister
}

// Adapters are the stores the pipeline runs on.
type Adapters struct {
	Transactions TransactionStore
	Statuses     workflow.StatusStore
	Files        workflow.FileStore
	Notifier     workflow.Notifier
	DeadLetters  workflow.DeadLetterQueue
	// Background, if set, runs while the server runs (the webhook
	// deliverer), and is stopped with the engine.
	Background func(ctx context.Context)
	// DeadLetterCount, if set, reports the dead-letter queue's depth as a
	// gauge.
	DeadLetterCount func(context.Context) (int, error)
	// Profiles stores column-mapping profiles; the data dir's database if
	// nil.
	Profiles httpapi.ProfileStore
	// Close releases what the adapters hold; may be nil.
	Close func() error
}

// Server is the assembled pipeline, listening. Run serves; Close releases.
type Server struct {
	logger   *slog.Logger
	db       *sqlite.DB
	adapters Adapters
	engine   *workflow.Engine
	http     *http.Server
	api      *httpapi.Server
	ln       net.Listener
	tracing  *telemetry.Tracing
	firstKey string
}

// OpenDataDir creates dir if needed and opens its database.
func OpenDataDir(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "txpipe.db"), logger)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// New assembles the pipeline on a, with db (from OpenDataDir on dataDir)
// holding the keys and jobs, and listens on cfg.Addr. Once it listens, a
// data dir without keys gets its first key, which FirstKey returns. The
// server owns db and a from here on, also when New fails.
func New(ctx context.Context, cfg Config, dataDir string, db *sqlite.DB, a Adapters, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{logger: logger, db: db, adapters: a}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	spoolDir := filepath.Join(dataDir, "spool")
	if err := os.RemoveAll(spoolDir); err != nil {
		return nil, fmt.Errorf("clear spool dir: %w", err)
	}
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}

	// Traces: a span per request and per step, exported over OTLP only when
	// OTEL_EXPORTER_OTLP_ENDPOINT is set (off, and free, otherwise).
	s.tracing, err = telemetry.NewTracing(ctx, telemetry.TraceOptions{ServiceName: "txpipe", Export: telemetry.OTLPConfigured(os.Getenv)})
	if err != nil {
		return nil, fmt.Errorf("set up tracing: %w", err)
	}

	met := prom.New(prom.NewRegistry())
	if a.DeadLetterCount != nil {
		met.SetDLQDepth(func() float64 {
			n, err := a.DeadLetterCount(context.Background())
			if err != nil {
				return -1
			}
			return float64(n)
		})
	}

	steps := &workflow.Tasks{
		Files: a.Files, Transactions: a.Transactions, Statuses: a.Statuses,
		Notifier: a.Notifier, DeadLetters: a.DeadLetters, Logger: logger,
		Chunks: workflow.LocalChunks, MinChunkRows: workflow.LocalChunkRows,
	}
	s.engine = workflow.NewEngine(workflow.Pipeline(), steps, db, workflow.EngineOptions{
		Workers: cfg.Workers, Observer: met, Logger: logger, Tracer: s.tracing, Uploads: db,
	})
	uploadSecret, err := db.Secret(ctx, "upload-url")
	if err != nil {
		return nil, err
	}
	intake := &workflow.Intake{Files: a.Files, Statuses: a.Statuses, Runs: s.engine, Logger: logger, Chunks: workflow.LocalChunks, MinChunkRows: workflow.LocalChunkRows}
	if st, ok := a.Statuses.(*sqlite.DB); ok && st == db {
		// Status records and jobs in one database: a file's record and its
		// run are one write (exactly one run per file, crash or not).
		intake.Recorder = s.engine
	}
	var profiles httpapi.ProfileStore = db
	if a.Profiles != nil {
		profiles = a.Profiles
	}
	api := httpapi.Config{
		Uploader: intake, Statuses: a.Statuses, Transactions: a.Transactions, Keys: db,
		MaxBodyBytes: cfg.MaxBodyBytes, SpoolDir: spoolDir, Logger: logger, Metrics: met, MetricsHandler: met.Handler(),
		TracerProvider: s.tracing.Provider, Propagator: s.tracing.Propagator,
		Declarer:     &workflow.Uploads{Statuses: a.Statuses, MaxBytes: cfg.MaxUploadBytes},
		UploadSecret: uploadSecret, UploadOrigins: cfg.UploadOrigins, Health: db,
		Profiles: profiles,
		KeyAdmin: db, Console: console.Handler(),
	}
	// The console's views, where the adapters have them.
	if f, ok := a.Statuses.(httpapi.FileLister); ok {
		api.Files = f
	}
	api.RowErrors = &workflow.RowErrors{Files: a.Files, Profiles: profiles, TempDir: spoolDir}
	if v, ok := a.Transactions.(httpapi.VolumeReader); ok {
		api.Volumes = v
	}
	if d, ok := a.DeadLetters.(httpapi.DeadLetters); ok {
		api.DeadLetters = d
	}
	handler := httpapi.NewServer(api)
	s.api = handler
	s.http = httpapi.NewHTTPServer(handler, logger)

	s.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (another server there? choose another --addr): %w", cfg.Addr, err)
	}
	// The first key only now: a start that cannot listen makes none, so
	// no key is made that nobody is shown.
	n, err := db.KeyCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("count API keys: %w", err)
	}
	if n == 0 {
		// An admin key, so the console can manage keys from the start.
		s.firstKey, _, err = httpapi.CreateKeyWithRole(ctx, db, FirstKeyName, httpapi.DefaultQuotaPerDay, httpapi.DefaultRatePerSecond, txpipe.RoleAdmin)
		if err != nil {
			return nil, fmt.Errorf("create the first API key: %w", err)
		}
	}
	return s, nil
}

// FirstKeyName is the name of the key a new data dir gets.
const FirstKeyName = "default"

// FirstKey is the secret of the key New created on a data dir without
// keys, or "".
func (s *Server) FirstKey() string { return s.firstKey }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: uploads in
// flight finish, then the engine stops; unfinished jobs stay recorded and
// are resumed on the next start.
func (s *Server) Run(ctx context.Context) error {
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.engine.Run(engineCtx); err != nil {
			s.logger.Error("engine stopped", "err", err)
		}
	})
	if s.adapters.Background != nil {
		wg.Go(func() { s.adapters.Background(engineCtx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(s.ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	s.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e := s.http.Shutdown(shutdownCtx); e != nil && err == nil {
		err = fmt.Errorf("shut down HTTP server: %w", e)
	}
	if e := s.api.FlushUsage(shutdownCtx); e != nil {
		s.logger.Error("save request counts", "err", e)
	}
	stopEngine()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases everything the server holds.
func (s *Server) Close() error {
	var errs []error
	if s.ln != nil {
		s.ln.Close()
	}
	if s.adapters.Close != nil {
		errs = append(errs, s.adapters.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.tracing.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}
