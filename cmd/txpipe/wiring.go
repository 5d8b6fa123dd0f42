package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/sfnrun"
	"github.com/txpipe/txpipe/snsnotify"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqsdlq"
	"github.com/txpipe/txpipe/webhook"
)

// localServer assembles the embedded pipeline: SQLite, a folder for the
// files, webhooks.
func localServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*server.Server, error) {
	db, err := server.OpenDataDir(ctx, cfg.DataDir, logger)
	if err != nil {
		return nil, err
	}
	files, err := localfs.Open(filepath.Join(cfg.DataDir, "files"))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open file store: %w", err)
	}
	// Run results go to the webhooks through the durable outbox, written
	// with each run's final status; the notifier only logs them.
	for _, v := range cfg.Webhooks {
		tenant, u, err := txpipe.ParseTenantURL(v)
		if err != nil {
			db.Close()
			return nil, usageErrorf("--webhook: %v", err)
		}
		if _, _, err := db.EnsureTenantWebhook(ctx, tenant, u); err != nil {
			db.Close()
			return nil, err
		}
	}
	deliverer := webhook.NewDeliverer(db, logger, webhook.DelivererOptions{Poll: cfg.outboxPoll})
	notifier := webhook.New(nil, logger, webhook.Options{Notified: deliverer.Poke})
	return server.New(ctx, cfg.Config, cfg.DataDir, db, server.Adapters{
		Transactions: db, Statuses: db, Files: files, Notifier: notifier, DeadLetters: db,
		DeadLetterCount: db.DeadLetterCount,
		Background:      deliverer.Run,
		Close: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			notifier.Close(ctx)
			return nil
		},
	}, logger)
}

// awsServer assembles the local engine over the AWS adapters named by the
// TXPIPE_* variables: DynamoDB tables, the S3 bucket, the SNS topic and the
// SQS dead-letter queue. The data dir keeps the API keys and the jobs.
func awsServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*server.Server, error) {
	a, err := awsAdapters(ctx, logger)
	if err != nil {
		return nil, fmt.Errorf("open AWS stores: %w", err)
	}
	db, err := server.OpenDataDir(ctx, cfg.DataDir, logger)
	if err != nil {
		return nil, err
	}
	return server.New(ctx, cfg.Config, cfg.DataDir, db, a, logger)
}

func awsAdapters(ctx context.Context, logger *slog.Logger) (server.Adapters, error) {
	env, err := awsenv.Need(os.Getenv, awsenv.TransactionsTable, awsenv.StatusTable, awsenv.Bucket, awsenv.TopicARN, awsenv.DLQURL)
	if err != nil {
		return server.Adapters{}, err
	}
	opts, err := awsenv.DynamoOptions(os.Getenv)
	if err != nil {
		return server.Adapters{}, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return server.Adapters{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	var dlqOpts []sqsdlq.Option
	if arn := os.Getenv(awsenv.StateMachineARN); arn != "" {
		// Redrive (the console's POST /dlq/{id}/redrive) starts a new
		// execution of the state machine, as `txpipe dlq redrive --aws`.
		dlqOpts = append(dlqOpts, sqsdlq.WithRunStarter(sfnrun.New(sfn.NewFromConfig(cfg), arn)), sqsdlq.WithLogger(logger))
	}
	dlq := sqsdlq.New(sqs.NewFromConfig(cfg), env[awsenv.DLQURL], dlqOpts...)
	logger.Info("using AWS stores", "transactions_table", env[awsenv.TransactionsTable], "status_table", env[awsenv.StatusTable],
		"bucket", env[awsenv.Bucket], "topic", env[awsenv.TopicARN], "dlq", env[awsenv.DLQURL])
	return server.Adapters{
		Transactions: dynamo.NewTransactionStore(db, env[awsenv.TransactionsTable], opts...),
		Statuses:     dynamo.NewStatusStore(db, env[awsenv.StatusTable], opts...),
		Files:        awsenv.FileStore(cfg, os.Getenv, env[awsenv.Bucket]),
		Profiles:     awsenv.Profiles(cfg, os.Getenv, env[awsenv.Bucket]),
		Notifier:     snsnotify.New(sns.NewFromConfig(cfg), env[awsenv.TopicARN]),
		DeadLetters:  dlq,
		// The gauge reads the queue the engine writes dead letters to
		// (`txpipe dlq --aws` lists and redrives the same queue).
		DeadLetterCount: dlq.Depth,
	}, nil
}

// awsDeadLetters is the SQS dead-letter queue, redriving to new Step
// Functions executions.
func awsDeadLetters(ctx context.Context, stderr io.Writer) (*sqsdlq.Queue, error) {
	env, err := awsenv.Need(os.Getenv, awsenv.DLQURL, awsenv.StateMachineARN)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return sqsdlq.New(sqs.NewFromConfig(cfg), env[awsenv.DLQURL],
		sqsdlq.WithRunStarter(sfnrun.New(sfn.NewFromConfig(cfg), env[awsenv.StateMachineARN])),
		sqsdlq.WithLogger(logger)), nil
}

// awsStatusStore is the status table named by the environment.
func awsStatusStore(ctx context.Context) (*dynamo.StatusStore, error) {
	env, err := awsenv.Need(os.Getenv, awsenv.StatusTable)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return dynamo.NewStatusStore(dynamodb.NewFromConfig(cfg), env[awsenv.StatusTable]), nil
}

// errNoDataDir is a data dir that has no txpipe database.
var errNoDataDir = errors.New("no txpipe data dir")

// openLocalStore opens the database of the data dir the flags name, found
// the way serve finds it (--data-dir, $TXPIPE_DATA_DIR, ./data). It never
// creates one.
func openLocalStore(cmd *cobra.Command) (*sqlite.DB, error) {
	dir := dataDir(cmd)
	path := filepath.Join(dir, "txpipe.db")
	if _, err := os.Stat(path); err != nil {
		abs, aerr := filepath.Abs(dir)
		if aerr != nil {
			abs = dir
		}
		return nil, fmt.Errorf("%w at %s (no txpipe.db there): point to the one `txpipe serve` uses with --data-dir DIR or %s, or start `txpipe serve` to make one",
			errNoDataDir, abs, envDataDir)
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sqlite.Open(cmd.Context(), path, logger)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
