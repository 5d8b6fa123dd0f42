package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"

	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sfnrun"
	"github.com/txpipe/txpipe/snsnotify"
	"github.com/txpipe/txpipe/sqsdlq"
	"github.com/txpipe/txpipe/telemetry"
	"github.com/txpipe/txpipe/workflow"
)

// Environment variables of the functions (see the shared AWS names).
const (
	envHandler = "TXPIPE_HANDLER"
)

// maxBodyBytes is API Gateway's payload limit: no larger body reaches the
// validator. Bodies over httpapi.MaxDirectUpload (4 MiB) are refused
// before it with 413 use_uploads: base64 grows them past Lambda's 6 MB.
const maxBodyBytes = 10 << 20

// rowErrorsTimeout bounds errors.csv's reading of a stored file again: the
// API Lambda answers only when done, and API Gateway waits 29 s.
const rowErrorsTimeout = 25 * time.Second

// handlerName is the first argument (the image command), or
// $TXPIPE_HANDLER.
func handlerName(args []string, getenv func(string) string) string {
	if len(args) > 0 && args[0] != "" {
		return args[0]
	}
	return getenv(envHandler)
}

// function is a built handler and what to release on shutdown.
type function struct {
	handler any // a func(ctx, In) (Out, error) for aws-lambda-go
	close   func(context.Context) error
}

// build does all the work of a cold start before the first event: the SDK
// configuration, the telemetry, the adapters and the handler named name.
// It makes no network call (credentials are resolved on the first request).
func build(ctx context.Context, name string, getenv func(string) string, stdout io.Writer, logger *slog.Logger) (*function, error) {
	required := awsnames.FunctionEnv(name)
	if required == nil {
		return nil, fmt.Errorf("unknown handler %q: want %s, %s or %s (image command or $%s)",
			name, workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier, envHandler)
	}
	env, err := awsenv.Need(getenv, required...)
	if err != nil {
		return nil, fmt.Errorf("handler %s: %w", name, err)
	}
	shardOpts, err := awsenv.DynamoOptions(getenv)
	if err != nil {
		return nil, err
	}

	tracing, err := telemetry.NewTracing(ctx, telemetry.TraceOptions{
		ServiceName: "txpipe-" + name,
		Attributes:  []attribute.KeyValue{attribute.String("faas.name", getenv("AWS_LAMBDA_FUNCTION_NAME"))},
		XRay:        true,
		Export:      telemetry.OTLPConfigured(getenv),
	})
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	tracing.InstrumentAWS(&cfg)

	tel := lambda.Telemetry{
		Logger:         logger,
		TracerProvider: tracing.Provider,
		Propagator:     tracing.Propagator,
		Flush:          tracing.ForceFlush,
		Metrics:        telemetry.NewEMF(stdout, awsnames.MetricsNamespace, map[string]string{awsnames.MetricDimFunction: name}, nil),
	}
	fn := &function{close: tracing.Shutdown}

	db := dynamodb.NewFromConfig(cfg)
	statuses := dynamo.NewStatusStore(db, env[awsenv.StatusTable], shardOpts...)
	switch name {
	case workflow.FunctionValidator:
		txs := dynamo.NewTransactionStore(db, env[awsenv.TransactionsTable], shardOpts...)
		intake := &workflow.Intake{
			Files:    awsenv.FileStore(cfg, getenv, env[awsenv.Bucket]),
			Statuses: statuses,
			Runs:     sfnrun.New(sfn.NewFromConfig(cfg), env[awsenv.StateMachineARN]),
			Logger:   logger,
		}
		files := awsenv.FileStore(cfg, getenv, env[awsenv.Bucket])
		declarer := &workflow.Uploads{Statuses: statuses, MaxBytes: workflow.MaxS3UploadBytes}
		presigner := awsenv.Presigner(cfg, getenv, env[awsenv.Bucket])
		profiles := awsenv.Profiles(cfg, getenv, env[awsenv.Bucket])
		// Answers over 5 MB (a large errors.csv or transactions.csv) go
		// to the bucket's exports/ and are answered 303 with their URL.
		api := &lambda.API{Telemetry: tel, Exports: lambda.ExportsOf[*s3store.Export](awsenv.Exports(cfg, getenv, env[awsenv.Bucket]))}
		tenants := &lambda.KeyTenants{Lookup: statuses.KeyTenant}
		// The console's dead letters: listed from the SQS queue, redriven to
		// a new execution (only when the stack names the queue).
		var deadLetters httpapi.DeadLetters
		if u := getenv(awsenv.DLQURL); u != "" {
			deadLetters = sqsdlq.New(sqs.NewFromConfig(cfg), u, sqsdlq.WithRunStarter(intake.Runs), sqsdlq.WithLogger(logger))
		}
		api.NewHandler = func(baseURL string) http.Handler {
			return httpapi.NewServer(httpapi.Config{
				Files:            statuses,
				Volumes:          txs,
				RowErrors:        &workflow.RowErrors{Files: files, Profiles: profiles},
				RowErrorsTimeout: rowErrorsTimeout,
				DeadLetters:      deadLetters,
				Uploader:         lambda.CountUploads(intake, tel.Metrics),
				Statuses:         statuses,
				Transactions:     txs,
				Keys:             nil, // API Gateway checks the keys, rates and quotas
				Identify:         tenants.Identify,
				MaxBodyBytes:     maxBodyBytes,
				SpoolDir:         os.TempDir(),
				BaseURL:          baseURL,
				Logger:           logger,
				TracerProvider:   tracing.Provider,
				Profiles:         profiles,
				Declarer:         declarer,
				Presigner:        presigner,
				UseUploadsAbove:  httpapi.MaxDirectUpload,
			})
		}
		// The validator also runs Validate and Split (the bytes of two-step
		// uploads, read from S3) and starts the run of an S3 object that
		// arrived (EventBridge Object Created).
		steps := &workflow.Tasks{Files: files, Uploads: files, Statuses: statuses, Profiles: profiles, Logger: logger}
		objects := &lambda.Objects{Runs: intake.Runs, FileKeyOf: s3store.FileKeyOfIncoming, TenantOf: incomingTenant, Telemetry: tel}
		mux := &lambda.Mux{
			API:     api.Handle,
			Steps:   (&lambda.StepHandler{Runner: steps, Function: name, Telemetry: tel}).Handle,
			Objects: objects.Handle,
		}
		fn.handler = mux.Handle
	default:
		steps := &workflow.Tasks{Statuses: statuses, Logger: logger}
		if name == workflow.FunctionTransformer {
			steps.Files = awsenv.FileStore(cfg, getenv, env[awsenv.Bucket])
			steps.Transactions = dynamo.NewTransactionStore(db, env[awsenv.TransactionsTable], shardOpts...)
		} else {
			steps.Notifier = snsnotify.New(sns.NewFromConfig(cfg), env[awsenv.TopicARN])
		}
		// No DeadLetters for the steps: on AWS the state machine's SQS task
		// writes the dead-letter queue. The notifier also takes the status
		// changes of executions that ended outside the workflow (timed out,
		// aborted), which it marks FAILED and sends to the queue itself.
		mux := &lambda.Mux{Steps: (&lambda.StepHandler{Runner: steps, Function: name, Telemetry: tel}).Handle}
		if u := getenv(awsenv.DLQURL); name == workflow.FunctionNotifier && u != "" {
			x := &lambda.Executions{Steps: steps, DeadLetters: sqsdlq.New(sqs.NewFromConfig(cfg), u), Telemetry: tel}
			mux.Executions = x.Handle
		}
		fn.handler = mux.Handle
	}
	return fn, nil
}

// incomingTenant is the tenant of an incoming object key.
func incomingTenant(key string) string {
	tenant, _, _ := s3store.TenantFileKeyOfIncoming(key)
	return tenant
}
