package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/sfnrun"
	"github.com/txpipe/txpipe/snsnotify"
	"github.com/txpipe/txpipe/sqsdlq"
	"github.com/txpipe/txpipe/workflow"
)

// dlqVisibility is how long a dead letter received while listing or
// redriving stays hidden from other consumers. Receiving is the only way to
// read an SQS message, and it hides the message; the scan hides each one
// for this long (not the queue's default) and makes those it leaves visible
// again at once when it is done.
const dlqVisibility = 30 * time.Second

func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// openAWSStores returns the AWS adapters named by the TXPIPE_* variables:
// DynamoDB tables, the S3 bucket, the SNS topic and the SQS dead-letter
// queue.
func openAWSStores(ctx context.Context, logger *slog.Logger) (*stores, error) {
	env, err := awsenv.Need(os.Getenv, awsenv.TransactionsTable, awsenv.StatusTable, awsenv.Bucket, awsenv.TopicARN, awsenv.DLQURL)
	if err != nil {
		return nil, err
	}
	opts, err := awsenv.DynamoOptions(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	// An S3 endpoint of its own is an emulator: address buckets by path.
	logger.Info("using AWS stores", "transactions_table", env[awsenv.TransactionsTable], "status_table", env[awsenv.StatusTable],
		"bucket", env[awsenv.Bucket], "topic", env[awsenv.TopicARN], "dlq", env[awsenv.DLQURL])
	return &stores{
		Transactions: dynamo.NewTransactionStore(db, env[awsenv.TransactionsTable], opts...),
		Statuses:     dynamo.NewStatusStore(db, env[awsenv.StatusTable], opts...),
		Files:        awsenv.FileStore(cfg, os.Getenv, env[awsenv.Bucket]),
		Notifier:     snsnotify.New(sns.NewFromConfig(cfg), env[awsenv.TopicARN]),
		DeadLetters:  sqsdlq.New(sqs.NewFromConfig(cfg), env[awsenv.DLQURL]),
	}, nil
}

// awsDLQ is the dead-letter queue with what a scan of it needs.
type awsDLQ struct {
	url    string
	queue  *sqsdlq.Queue
	client *sqs.Client
	logger *slog.Logger
}

func openAWSDLQ(ctx context.Context, logger *slog.Logger) (*awsDLQ, aws.Config, error) {
	env, err := awsenv.Need(os.Getenv, awsenv.DLQURL)
	if err != nil {
		return nil, aws.Config{}, err
	}
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return nil, aws.Config{}, err
	}
	// The scan's receives hide each message for dlqVisibility, not for
	// the queue's default.
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, visibilityMiddleware(int32(dlqVisibility/time.Second)))
	})
	return &awsDLQ{url: env[awsenv.DLQURL], queue: sqsdlq.New(client, env[awsenv.DLQURL]), client: client, logger: logger}, cfg, nil
}

// scan receives every message of the queue (each once, by message ID).
// The caller must release the ones it does not delete.
func (q *awsDLQ) scan(ctx context.Context) ([]sqsdlq.Message, error) {
	seen := map[string]bool{}
	var all []sqsdlq.Message
	for {
		msgs, err := q.queue.Receive(ctx, 10)
		if err != nil {
			q.release(ctx, all)
			return nil, fmt.Errorf("read the dead-letter queue: %w", err)
		}
		fresh := 0
		for _, m := range msgs {
			if !seen[m.ID] {
				seen[m.ID] = true
				all = append(all, m)
				fresh++
			}
		}
		if fresh == 0 {
			return all, nil
		}
	}
}

// release makes msgs visible again at once.
func (q *awsDLQ) release(ctx context.Context, msgs []sqsdlq.Message) {
	for i := 0; i < len(msgs); i += 10 {
		var entries []sqstypes.ChangeMessageVisibilityBatchRequestEntry
		for j, m := range msgs[i:min(i+10, len(msgs))] {
			entries = append(entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: 0,
			})
		}
		_, err := q.client.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(q.url), Entries: entries,
		})
		if err != nil {
			q.logger.Warn("dead letters stay hidden until their visibility timeout", "seconds", dlqVisibility.Seconds(), "err", err)
		}
	}
}

// listAWSDeadLetters returns the run states in the SQS dead-letter queue.
// Messages that are not run states are logged and skipped.
func listAWSDeadLetters(ctx context.Context, logger *slog.Logger) ([]workflow.RunState, error) {
	q, _, err := openAWSDLQ(ctx, logger)
	if err != nil {
		return nil, err
	}
	msgs, err := q.scan(ctx)
	if err != nil {
		return nil, err
	}
	defer q.release(ctx, msgs)
	states := make([]workflow.RunState, 0, len(msgs))
	for _, m := range msgs {
		if m.Err != nil {
			logger.Warn("skipping a message that is not a run state", "message_id", m.ID, "err", m.Err)
			continue
		}
		states = append(states, m.State)
	}
	return states, nil
}

// redriveAWS starts a new Step Functions execution for the failed run of
// fileID found in the SQS dead-letter queue, from the run's first step, and
// then deletes the file's dead letters.
func redriveAWS(ctx context.Context, logger *slog.Logger, fileID string, stdout io.Writer) error {
	env, err := awsenv.Need(os.Getenv, awsenv.StateMachineARN)
	if err != nil {
		return err
	}
	q, cfg, err := openAWSDLQ(ctx, logger)
	if err != nil {
		return err
	}
	msgs, err := q.scan(ctx)
	if err != nil {
		return err
	}
	var mine, others []sqsdlq.Message
	for _, m := range msgs {
		if m.Err == nil && m.State.FileID == fileID {
			mine = append(mine, m)
		} else {
			others = append(others, m)
		}
	}
	q.release(ctx, others)
	if len(mine) == 0 {
		return fmt.Errorf("file %s is not in the dead-letter queue", fileID)
	}
	st := mine[len(mine)-1].State
	st.Error, st.Counts = nil, nil
	if err := sfnrun.New(sfn.NewFromConfig(cfg), env[awsenv.StateMachineARN]).StartRun(ctx, st); err != nil {
		q.release(ctx, mine)
		return fmt.Errorf("redrive file %s: %w", fileID, err)
	}
	for _, m := range mine {
		if err := q.queue.Delete(ctx, m.ReceiptHandle); err != nil {
			// The run is started; a dead letter left behind is shown by
			// `dlq list` again, and a second redrive is harmless.
			logger.Warn("dead letter not deleted after redrive", "file_id", fileID, "message_id", m.ID, "err", err)
		}
	}
	logger.Info("redriven", "file_id", fileID, "state_machine", env[awsenv.StateMachineARN])
	fmt.Fprintf(stdout, "started a new execution of %s for file %s\n", env[awsenv.StateMachineARN], fileID)
	return nil
}

// visibilityMiddleware sets the visibility timeout of every ReceiveMessage
// call of a client (sqsdlq.Queue.Receive leaves it to the queue).
func visibilityMiddleware(seconds int32) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("TxpipeDLQVisibility",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*sqs.ReceiveMessageInput); ok {
					p.VisibilityTimeout = seconds
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}
