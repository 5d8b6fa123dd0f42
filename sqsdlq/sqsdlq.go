// Package sqsdlq is txpipe's dead-letter queue on Amazon SQS with
// aws-sdk-go-v2: workflow.DeadLetterQueue, plus receiving and deleting the
// messages that `txpipe dlq list` and `txpipe dlq redrive --aws` need.
//
// A message's body is the workflow.RunState JSON of the failed run, the
// same body the Step Functions state machine sends on its failure path.
package sqsdlq

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.DeadLetterQueue = (*Queue)(nil)

// The SQS calls the queue makes, one interface each.
type (
	sender interface {
		SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	}
	receiver interface {
		ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	}
	deleter interface {
		DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	}
)

// Queue is one SQS queue holding the state of failed runs.
type Queue struct {
	send sender
	recv receiver
	del  deleter
	url  string
}

// New returns the queue at queueURL (TXPIPE_DLQ_URL).
func New(client *sqs.Client, queueURL string) *Queue {
	return &Queue{send: client, recv: client, del: client, url: queueURL}
}

// FileIDAttribute is the message attribute holding the run's file id.
const FileIDAttribute = "file_id"

// SendDeadLetter implements workflow.DeadLetterQueue: the body is st as
// JSON.
func (q *Queue) SendDeadLetter(ctx context.Context, st workflow.RunState) error {
	body, err := json.Marshal(st)
	if err != nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "encode dead letter of %s: %w", st.FileID, err)
	}
	_, err = q.send.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.url),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			FileIDAttribute: {DataType: aws.String("String"), StringValue: aws.String(st.FileID)},
		},
	})
	if err != nil {
		return translate(err, "send dead letter of %s", st.FileID)
	}
	return nil
}

// Message is a received dead letter.
type Message struct {
	ID            string
	ReceiptHandle string // for Delete
	State         workflow.RunState
	// Err is set when the body is not a RunState (a message put in the
	// queue by something else); State is then empty.
	Err error
}

// Receive returns up to max messages (at most 10, SQS's limit), waiting up
// to a second for the first. The messages stay in the queue, hidden for
// its visibility timeout, until Delete removes them; listing every message
// of a queue therefore takes receives until one returns none.
func (q *Queue) Receive(ctx context.Context, max int) ([]Message, error) {
	max = min(10, max)
	if max <= 0 {
		max = 10
	}
	out, err := q.recv.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: int32(max),
		WaitTimeSeconds:     1,
	})
	if err != nil {
		return nil, translate(err, "receive dead letters")
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle)}
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg.State); err != nil {
			msg.State = workflow.RunState{}
			msg.Err = txpipe.Errorf(txpipe.EINVALID, "dead letter %s is not a run state: %w", msg.ID, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes a received message, by its receipt handle.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	_, err := q.del.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receiptHandle)})
	if err != nil {
		return translate(err, "delete dead letter")
	}
	return nil
}

// codes maps SQS API error codes to txpipe kinds. Server faults, 5xx and
// 429 responses, timeouts and network errors are transient for every service
// (awserr.Kind).
var codes = awserr.Codes{
	"AWS.SimpleQueueService.NonExistentQueue":   txpipe.ENOTFOUND,
	"QueueDoesNotExist":                         txpipe.ENOTFOUND,
	"ReceiptHandleIsInvalid":                    txpipe.EINVALID,
	"InvalidParameterValue":                     txpipe.EINVALID,
	"InvalidMessageContents":                    txpipe.EINVALID,
	"MessageTooLong":                            txpipe.EINVALID,
	"InvalidAttributeValue":                     txpipe.EINVALID,
	"InvalidAddress":                            txpipe.EINVALID,
	"RequestThrottled":                          txpipe.ETRANSIENT,
	"ThrottlingException":                       txpipe.ETRANSIENT,
	"KmsThrottled":                              txpipe.ETRANSIENT,
	"ServiceUnavailable":                        txpipe.ETRANSIENT,
	"InternalError":                             txpipe.ETRANSIENT,
	"OverLimit":                                 txpipe.ETRANSIENT,
	"AWS.SimpleQueueService.ServiceUnavailable": txpipe.ETRANSIENT,
}

// translate wraps an SDK error in a *txpipe.Error of its kind, with what the
// adapter was doing as the message.
func translate(err error, format string, args ...any) error {
	return awserr.Translate(err, codes, format, args...)
}
