package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/workflow"
)

func init() { commands = append(commands, newServeCmd) }

// serveConfig is what `txpipe serve` is told by its flags.
type serveConfig struct {
	server.Config
	DataDir  string
	Webhooks []string
	AWS      bool // AWS adapters (named by TXPIPE_* environment variables) instead of the embedded ones
	JSON     bool // print the start-up facts as one JSON document

	outboxPoll time.Duration // how often the webhook outbox is read; 1 s if 0 (tests set less)
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--data-dir DIR] [--aws] [--json]",
		Short: "Run the whole pipeline locally",
		Long: `Runs the whole pipeline locally: the HTTP API, the workflow engine and the
stores. On the first start with an empty data dir it creates an API key and
prints it once.`,
		Args: wantArgs(0, ""),
	}
	var cfg serveConfig
	var logLevel slog.Level
	f := cmd.Flags()
	f.String("addr", defaultAddr, "address to listen on ($"+envAddr+")")
	addDataDirFlag(cmd, "where the database and files live")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 100<<20, "largest upload body accepted")
	f.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", workflow.DefaultMaxUploadBytes, "largest file declared with POST /uploads")
	f.StringArrayVar(&cfg.UploadOrigins, "upload-origin", nil, "a web origin whose pages may PUT to upload URLs (repeatable)")
	f.StringArrayVar(&cfg.Webhooks, "webhook", nil, "POST each run result of the default tenant's files to this URL, or of a tenant's with TENANT=URL (repeatable)")
	f.IntVar(&cfg.Workers, "workers", 2, "files processed at once")
	f.BoolVar(&cfg.AWS, "aws", false, "store in DynamoDB, S3, SNS and SQS named by the TXPIPE_* environment variables")
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	logFormat := f.String("log-format", "auto", "text, json, or auto: text on a terminal, JSON otherwise")
	f.BoolVar(&cfg.JSON, "json", false, `print {"address", "data_dir", "api_key"} (the key on the first start only) instead of text`)
	memLimit := f.Int64("memory-limit", 192<<20, "soft limit of the Go heap in bytes, so a large file's validation and run stay within ~256 MiB RSS ($GOMEMLIMIT overrides it; 0: none)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
			// The garbage collector works harder near the limit rather than
			// let the heap double past the live set (a 10M-row file's
			// duplicate check alone holds 120 MiB).
			debug.SetMemoryLimit(*memLimit)
		}
		cfg.Addr = fromEnv(cmd, "addr", envAddr)
		cfg.DataDir = dataDir(cmd)
		logger, err := newLogger(cmd.ErrOrStderr(), *logFormat, logLevel)
		if err != nil {
			return err
		}
		s, err := openServer(cmd.Context(), cfg, logger, cmd.OutOrStdout())
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Run(cmd.Context())
	}
	return cmd
}

// openServer assembles the server of cfg's mode, listening, and prints
// where it listens and, on a new data dir, its first key.
func openServer(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) (*server.Server, error) {
	open := localServer
	if cfg.AWS {
		open = awsServer
	}
	s, err := open(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := printStart(stdout, s, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// printStart prints the address, the data dir and a new first key.
func printStart(w io.Writer, s *server.Server, cfg serveConfig) error {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		dir = cfg.DataDir
	}
	if cfg.JSON {
		err := json.NewEncoder(w).Encode(struct {
			Address string `json:"address"`
			DataDir string `json:"data_dir"`
			APIKey  string `json:"api_key,omitempty"`
		}{s.URL(), dir, s.FirstKey()})
		if err != nil {
			return fmt.Errorf("print start-up facts: %w", err)
		}
		return nil
	}
	if k := s.FirstKey(); k != "" {
		// Set apart from the rest: it is the one line to copy.
		fmt.Fprintf(w, "\ncreated API key %q (shown only once): %s\n\n", server.FirstKeyName, k)
	}
	fmt.Fprintf(w, "txpipe listening on %s (data in %s)\n", s.URL(), dir)
	return nil
}

// newLogger logs to w as text (format "text", or "auto" on a terminal) or
// JSON (format "json", or "auto" otherwise).
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch {
	case format == "json" || (format == "auto" && !isTerminal(w)):
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case format == "text" || format == "auto":
		// Short local times: a terminal is read by a person, now.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format(time.TimeOnly))
			}
			return a
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: want text, json or auto", format)
}
