// Command txpipe-lambda is the bootstrap of txpipe's three Lambda functions,
// one binary in one ARM64 container image. The image command (the first
// argument) or $TXPIPE_HANDLER picks the handler: validator (API Gateway
// events), transformer or notifier (Step Functions tasks). The functions
// find their tables, bucket, topic, queue and state machine in the
// TXPIPE_* environment variables.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	_ "github.com/txpipe/txpipe/xlsx" // reads .xlsx uploads
)

func main() {
	ctx := context.Background()
	logger := newLogger(os.Stderr, os.Getenv)
	fn, err := build(ctx, handlerName(os.Args[1:], os.Getenv), os.Getenv, os.Stdout, logger)
	if err != nil {
		logger.Error("txpipe-lambda: cannot start", "err", err)
		os.Exit(1)
	}
	awslambda.StartWithOptions(fn.handler, awslambda.WithEnableSIGTERM(func() {
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := fn.close(sctx); err != nil {
			logger.Warn("shutdown", "err", err)
		}
	}))
}

// newLogger returns the JSON logger of the functions, at the level Lambda's
// logging configuration sets (AWS_LAMBDA_LOG_LEVEL), INFO by default.
func newLogger(w *os.File, getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv("AWS_LAMBDA_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
