package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"

	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/httpapi"
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
	envHandler           = "TXPIPE_HANDLER"
	envTransactionsTable = "TXPIPE_TRANSACTIONS_TABLE"
	envStatusTable       = "TXPIPE_STATUS_TABLE"
	envBucket            = "TXPIPE_BUCKET"
	envTopicARN          = "TXPIPE_TOPIC_ARN"
	envDLQURL            = "TXPIPE_DLQ_URL"
	envStateMachineARN   = "TXPIPE_STATE_MACHINE_ARN"
	envTimeShards        = "TXPIPE_TIME_SHARDS"
)

// maxBodyBytes is API Gateway's payload limit: no larger body reaches the
// validator.
const maxBodyBytes = 10 << 20

// metricsNamespace is the CloudWatch namespace of the custom metrics.
const metricsNamespace = "txpipe"

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

// need returns the values of the named environment variables, or an error
// naming the missing ones.
func need(getenv func(string) string, names ...string) (map[string]string, error) {
	vals := map[string]string{}
	var missing []string
	for _, n := range names {
		if v := getenv(n); v != "" {
			vals[n] = v
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %v", missing)
	}
	return vals, nil
}

// build does all the work of a cold start before the first event: the SDK
// configuration, the telemetry, the adapters and the handler named name.
// It makes no network call (credentials are resolved on the first request).
func build(ctx context.Context, name string, getenv func(string) string, stdout io.Writer, logger *slog.Logger) (*function, error) {
	var required []string
	switch name {
	case workflow.FunctionValidator:
		required = []string{envTransactionsTable, envStatusTable, envBucket, envStateMachineARN}
	case workflow.FunctionTransformer:
		required = []string{envTransactionsTable, envStatusTable, envBucket}
	case workflow.FunctionNotifier:
		required = []string{envStatusTable, envTopicARN}
	default:
		return nil, fmt.Errorf("unknown handler %q: want %s, %s or %s (image command or $%s)",
			name, workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier, envHandler)
	}
	env, err := need(getenv, required...)
	if err != nil {
		return nil, fmt.Errorf("handler %s: %w", name, err)
	}
	var shardOpts []dynamo.Option
	if s := getenv(envTimeShards); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive integer", envTimeShards, s)
		}
		shardOpts = append(shardOpts, dynamo.WithTimeShards(n))
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
		Metrics:        telemetry.NewEMF(stdout, metricsNamespace, map[string]string{"Function": name}, nil),
	}
	fn := &function{close: tracing.Shutdown}

	db := dynamodb.NewFromConfig(cfg)
	statuses := dynamo.NewStatusStore(db, env[envStatusTable], shardOpts...)
	switch name {
	case workflow.FunctionValidator:
		txs := dynamo.NewTransactionStore(db, env[envTransactionsTable], shardOpts...)
		intake := &workflow.Intake{
			Files:    newFileStore(cfg, getenv, env[envBucket]),
			Statuses: statuses,
			Runs:     sfnrun.New(sfn.NewFromConfig(cfg), env[envStateMachineARN]),
			Logger:   logger,
		}
		api := &lambda.API{Telemetry: tel}
		api.NewHandler = func(baseURL string) http.Handler {
			return httpapi.NewHandler(httpapi.Config{
				Uploader:       lambda.CountUploads(intake, tel.Metrics),
				Statuses:       statuses,
				Transactions:   txs,
				Keys:           nil, // API Gateway checks the keys, rates and quotas
				MaxBodyBytes:   maxBodyBytes,
				SpoolDir:       os.TempDir(),
				BaseURL:        baseURL,
				Logger:         logger,
				TracerProvider: tracing.Provider,
			})
		}
		fn.handler = api.Handle
	default:
		steps := &workflow.Steps{Statuses: statuses, Logger: logger}
		if name == workflow.FunctionTransformer {
			steps.Files = newFileStore(cfg, getenv, env[envBucket])
			steps.Transactions = dynamo.NewTransactionStore(db, env[envTransactionsTable], shardOpts...)
		} else {
			steps.Notifier = snsnotify.New(sns.NewFromConfig(cfg), env[envTopicARN])
		}
		if u := getenv(envDLQURL); u != "" {
			steps.DeadLetters = sqsdlq.New(sqs.NewFromConfig(cfg), u)
		}
		fn.handler = (&lambda.Steps{Runner: steps, Function: name, Telemetry: tel}).Handle
	}
	return fn, nil
}

// newFileStore returns the S3 file store. With an S3 endpoint set
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: an emulator) it addresses
// buckets by path, which emulators need.
func newFileStore(cfg aws.Config, getenv func(string) string, bucket string) *s3store.Store {
	pathStyle := getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return s3store.New(client, bucket)
}
