package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/metrics"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/telemetry"
	"github.com/txpipe/txpipe/webhook"
	"github.com/txpipe/txpipe/workflow"
)

// serveConfig is what `txpipe serve` is told by its flags.
type serveConfig struct {
	Addr         string
	DataDir      string
	MaxBodyBytes int64
	// MaxUploadBytes limits a file declared with POST /uploads.
	MaxUploadBytes int64
	// UploadOrigins may PUT to upload URLs from a browser page (CORS).
	UploadOrigins []string
	Webhooks      []string
	Workers       int
	AWS           bool // AWS adapters (named by TXPIPE_* environment variables) instead of the embedded ones
	LogLevel      slog.Level
	JSON          bool // print the start-up facts as one JSON document
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig
	fs.StringVar(&cfg.Addr, "addr", envOr(envAddr, defaultAddr), "address to listen on (env "+envAddr+")")
	fs.StringVar(&cfg.DataDir, "data-dir", envOr(envDataDir, defaultDataDir), "where the database and files live (env "+envDataDir+")")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 100<<20, "largest upload body accepted")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", workflow.DefaultMaxUploadBytes, "largest file declared with POST /uploads")
	fs.Func("upload-origin", "a web origin whose pages may PUT to upload URLs (repeatable)", func(s string) error {
		cfg.UploadOrigins = append(cfg.UploadOrigins, s)
		return nil
	})
	fs.Func("webhook", "POST each run result to this URL (repeatable)", func(s string) error {
		cfg.Webhooks = append(cfg.Webhooks, s)
		return nil
	})
	fs.IntVar(&cfg.Workers, "workers", 2, "files processed at once")
	fs.BoolVar(&cfg.AWS, "aws", false, "store in DynamoDB, S3, SNS and SQS named by the TXPIPE_* environment variables")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	fs.BoolVar(&cfg.JSON, "json", false, `print {"address", "data_dir", "api_key"} (the key on the first start only) instead of text`)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "txpipe serve: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	m, err := openServer(ctx, cfg, logger, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "txpipe serve: %v\n", err)
		return exitUsage
	}
	defer m.Close()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "txpipe serve: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// server is the whole local pipeline: the HTTP API, the workflow engine and
// the stores. Tests start it on 127.0.0.1:0 with a temporary data dir.
type server struct {
	cfg      serveConfig
	logger   *slog.Logger
	db       *sqlite.DB
	stores   *stores
	notifier *webhook.Notifier
	engine   *workflow.Engine
	http     *http.Server
	ln       net.Listener
	spoolDir string
	tracing  *telemetry.Tracing
}

// openServer opens the stores, makes the first API key on a new data dir,
// and listens on cfg.Addr; Run serves.
func openServer(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) (_ *server, err error) {
	s := &server{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s.db, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "txpipe.db"), logger)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s.spoolDir = filepath.Join(cfg.DataDir, "spool")
	if err := os.RemoveAll(s.spoolDir); err != nil {
		return nil, fmt.Errorf("clear spool dir: %w", err)
	}
	if err := os.MkdirAll(s.spoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}

	s.notifier = webhook.New(cfg.Webhooks, logger, webhook.Options{})
	if cfg.AWS {
		s.stores, err = openAWSStores(ctx, logger)
		if err != nil {
			return nil, fmt.Errorf("open AWS stores: %w", err)
		}
	} else {
		files, err := localfs.Open(filepath.Join(cfg.DataDir, "files"))
		if err != nil {
			return nil, fmt.Errorf("open file store: %w", err)
		}
		s.stores = &stores{Transactions: s.db, Statuses: s.db, Files: files, Notifier: s.notifier, DeadLetters: s.db}
	}

	var firstKey string
	n, err := s.db.KeyCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("count API keys: %w", err)
	}
	if n == 0 {
		firstKey, err = createAPIKey(ctx, s.db, "default", 1000, 10)
		if err != nil {
			return nil, fmt.Errorf("create the first API key: %w", err)
		}
	}

	// Traces: a span per request and per step, exported over OTLP only when
	// OTEL_EXPORTER_OTLP_ENDPOINT is set (off, and free, otherwise).
	s.tracing, err = telemetry.NewTracing(ctx, telemetry.TraceOptions{ServiceName: "txpipe", Export: telemetry.OTLPConfigured(os.Getenv)})
	if err != nil {
		return nil, fmt.Errorf("set up tracing: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	met := metrics.New(reg)
	met.SetDLQDepth(func() float64 {
		n, err := s.db.DeadLetterCount(context.Background())
		if err != nil {
			return -1
		}
		return float64(n)
	})

	steps := &workflow.Steps{
		Files: s.stores.Files, Transactions: s.stores.Transactions, Statuses: s.stores.Statuses,
		Notifier: s.stores.Notifier, DeadLetters: s.stores.DeadLetters, Logger: logger,
	}
	s.engine = workflow.NewEngine(workflow.Pipeline(), steps, s.db, workflow.EngineOptions{
		Workers: cfg.Workers, Observer: met, Logger: logger, Tracer: s.tracing, Uploads: s.db,
	})
	uploadSecret, err := s.db.Secret(ctx, "upload-url")
	if err != nil {
		return nil, err
	}
	intake := &workflow.Intake{Files: s.stores.Files, Statuses: s.stores.Statuses, Runs: s.engine, Logger: logger}
	handler := httpapi.NewHandler(httpapi.Config{
		Uploader: intake, Statuses: s.stores.Statuses, Transactions: s.stores.Transactions, Keys: s.db,
		MaxBodyBytes: cfg.MaxBodyBytes, SpoolDir: s.spoolDir, Logger: logger, Metrics: met, Registry: reg,
		TracerProvider: s.tracing.Provider, Propagator: s.tracing.Propagator,
		Declarer:     &workflow.Uploads{Statuses: s.stores.Statuses, MaxBytes: cfg.MaxUploadBytes},
		UploadSecret: uploadSecret, UploadOrigins: cfg.UploadOrigins,
	})
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}

	s.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		dir = cfg.DataDir
	}
	if cfg.JSON {
		err = json.NewEncoder(stdout).Encode(struct {
			Address string `json:"address"`
			DataDir string `json:"data_dir"`
			APIKey  string `json:"api_key,omitempty"`
		}{s.URL(), dir, firstKey})
		if err != nil {
			return nil, fmt.Errorf("print start-up facts: %w", err)
		}
		return s, nil
	}
	if firstKey != "" {
		fmt.Fprintf(stdout, "created API key %q (shown only once): %s\n", "default", firstKey)
	}
	fmt.Fprintf(stdout, "txpipe listening on %s (data in %s)\n", s.URL(), dir)
	return s, nil
}

// URL is the server's base URL.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: uploads in
// flight finish, then the engine stops; unfinished jobs stay recorded and
// are resumed on the next start.
func (s *server) Run(ctx context.Context) error {
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.engine.Run(engineCtx); err != nil {
			s.logger.Error("engine stopped", "err", err)
		}
	})
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
	stopEngine()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases everything the server opened.
func (s *server) Close() error {
	var errs []error
	if s.ln != nil {
		s.ln.Close()
	}
	if s.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.notifier.Close(ctx)
		cancel()
	}
	if s.stores != nil && s.stores.Close != nil {
		errs = append(errs, s.stores.Close())
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
