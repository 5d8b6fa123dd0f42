// Package awsnames holds the names txpipe's AWS resources and its runtime
// must agree on: table and index names and key attributes, the environment
// variables that name the resources, and the CloudWatch metrics the code
// emits. The runtime (dynamo, internal/awsenv, telemetry, the Lambda
// bootstrap) and the CDK app in infra/ both import these constants, so a
// name is written once. Standard library only: infra/ imports it.
package awsnames

import "slices"

// Physical table names, one pair per environment suffix.
const (
	TransactionsTablePrefix = "transactions-"      // + env
	StatusTablePrefix       = "processing-status-" // + env
)

// Key attributes and indexes of the tables (docs/dynamodb-keys.md).
const (
	TxKey         = "transaction_id" // transactions table partition key (S)
	TimeIndex     = "by-time"        // transactions GSI
	TimeBucketKey = "time_bucket"    // by-time partition key (S): "YYYY-MM-DD#<shard>"
	TimeSortKey   = "time_key"       // by-time sort key (S): fixed-width UTC timestamp "#" transaction_id

	StatusKey      = "file_id"     // status table partition key (S)
	CreatedIndex   = "by-created"  // status GSI
	CreatedDayKey  = "created_day" // by-created partition key (S): "YYYY-MM-DD"
	CreatedSortKey = "created_at"  // by-created sort key (S): fixed-width RFC 3339 UTC
)

// Environment variables that name the resources, as the stack sets them on
// the functions and `txpipe serve --aws` / `txpipe dlq --aws` read them.
const (
	EnvTransactionsTable = "TXPIPE_TRANSACTIONS_TABLE"
	EnvStatusTable       = "TXPIPE_STATUS_TABLE"
	EnvBucket            = "TXPIPE_BUCKET"
	EnvTopicARN          = "TXPIPE_TOPIC_ARN"
	EnvDLQURL            = "TXPIPE_DLQ_URL"
	EnvStateMachineARN   = "TXPIPE_STATE_MACHINE_ARN"
	EnvTimeShards        = "TXPIPE_TIME_SHARDS"
	// EnvVolumes "off" stops the transactions store keeping the per-day
	// volumes of GET /volumes (on by default; see dynamo.WithVolumes).
	EnvVolumes = "TXPIPE_VOLUMES"
)

// FunctionEnv returns the environment variables the handler (a
// workflow.Function* name: the function's image command) needs; the Lambda
// bootstrap refuses to start without them. Nil for an unknown handler.
// EnvTimeShards is optional and not listed.
func FunctionEnv(handler string) []string {
	switch handler {
	case "validator":
		return []string{EnvTransactionsTable, EnvStatusTable, EnvBucket, EnvStateMachineARN}
	case "transformer":
		return []string{EnvTransactionsTable, EnvStatusTable, EnvBucket}
	case "notifier":
		return []string{EnvStatusTable, EnvTopicARN}
	}
	return nil
}

// CLIEnv returns the environment variables `txpipe serve --aws` needs; the
// dead-letter commands need EnvDLQURL and, to redrive, EnvStateMachineARN.
func CLIEnv() []string {
	return []string{EnvTransactionsTable, EnvStatusTable, EnvBucket, EnvTopicARN, EnvDLQURL}
}

// CloudWatch custom metrics, written by the functions as Embedded Metric
// Format lines (telemetry.EMF) in MetricsNamespace with the one dimension
// MetricDimFunction (the handler name).
const (
	MetricsNamespace  = "txpipe"
	MetricDimFunction = "Function"

	MetricRowsValidated = "RowsValidated" // data rows of accepted files
	MetricRowsRejected  = "RowsRejected"  // data rows of rejected files
	MetricRowsWritten   = "RowsWritten"   // transactions written by a transform (inserted+updated+unchanged)
	MetricRowsInserted  = "RowsInserted"
	MetricRowsUpdated   = "RowsUpdated"
	MetricRowsUnchanged = "RowsUnchanged"
	MetricRetries       = "Retries"       // transient step errors, each retried by the workflow's policy
	MetricStepDuration  = "StepDuration"  // one attempt of a step (milliseconds)
	MetricStepErrors    = "StepErrors"    // step attempts that failed
	MetricRunsFinished  = "RunsFinished"  // runs that ended (property status)
	MetricRunsFailed    = "RunsFailed"    // runs that ended FAILED
	MetricUploads       = "Uploads"       // uploads (property result)
	MetricFilesRejected = "FilesRejected" // uploads rejected as invalid files
)

// Metrics returns every metric name the code emits.
func Metrics() []string {
	return slices.Clone(metrics)
}

var metrics = []string{
	MetricRowsValidated, MetricRowsRejected, MetricRowsWritten, MetricRowsInserted, MetricRowsUpdated,
	MetricRowsUnchanged, MetricRetries, MetricStepDuration, MetricStepErrors, MetricRunsFinished,
	MetricRunsFailed, MetricUploads, MetricFilesRejected,
}
