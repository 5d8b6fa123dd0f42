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
	"fmt"
	"log/slog"
	"strconv"
	"time"

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
	visibilityChanger interface {
		ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	}
	attributeGetter interface {
		GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	}
)

// RunStarter starts a run again (sfnrun.Starter: a new Step Functions
// execution).
type RunStarter interface {
	StartRun(ctx context.Context, st workflow.RunState) error
}

// Option configures a Queue.
type Option func(*Queue)

// WithRunStarter lets Redrive start runs with s.
func WithRunStarter(s RunStarter) Option { return func(q *Queue) { q.starter = s } }

// WithLogger sets where the queue logs what it cannot return (a message
// left hidden, one that is not a run state); nowhere by default.
func WithLogger(l *slog.Logger) Option { return func(q *Queue) { q.logger = l } }

// ScanVisibility is how long a dead letter received while listing or
// redriving stays hidden from other consumers. Receiving is the only way to
// read an SQS message, and it hides the message; a scan hides each one for
// this long (not the queue's default) and makes those it leaves visible
// again at once when it is done.
const ScanVisibility = 30 * time.Second

// Queue is one SQS queue holding the state of failed runs.
type Queue struct {
	send    sender
	recv    receiver
	del     deleter
	vis     visibilityChanger
	attrs   attributeGetter
	url     string
	starter RunStarter
	logger  *slog.Logger
}

// New returns the queue at queueURL (TXPIPE_DLQ_URL).
func New(client *sqs.Client, queueURL string, opts ...Option) *Queue {
	q := &Queue{send: client, recv: client, del: client, vis: client, attrs: client, url: queueURL, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(q)
	}
	return q
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
	return q.receive(ctx, max, 0)
}

// receive is Receive hiding the messages for visibility (the queue's
// default if 0).
func (q *Queue) receive(ctx context.Context, max int, visibility time.Duration) ([]Message, error) {
	max = min(10, max)
	if max <= 0 {
		max = 10
	}
	out, err := q.recv.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: int32(max),
		WaitTimeSeconds:     1,
		VisibilityTimeout:   int32(visibility / time.Second),
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

// Depth returns how many dead letters the queue holds, visible or being
// read (SQS's approximate counts): the gauge `txpipe serve --aws` reports,
// the same number the CloudWatch alarm watches.
func (q *Queue) Depth(ctx context.Context) (int, error) {
	out, err := q.attrs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, translate(err, "read the dead-letter queue's depth")
	}
	n := 0
	for _, a := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, err := strconv.Atoi(out.Attributes[string(a)])
		if err != nil {
			return 0, fmt.Errorf("dead-letter queue attribute %s = %q: %w", a, out.Attributes[string(a)], err)
		}
		n += v
	}
	return n, nil
}

// Delete removes a received message, by its receipt handle.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	_, err := q.del.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receiptHandle)})
	if err != nil {
		return translate(err, "delete dead letter")
	}
	return nil
}

// DeadLetters returns the run states in the queue (for `txpipe dlq list
// --aws`), leaving every message in it. Messages that are not run states
// are logged and skipped.
func (q *Queue) DeadLetters(ctx context.Context) ([]workflow.DeadLetter, error) {
	msgs, err := q.scan(ctx)
	if err != nil {
		return nil, err
	}
	defer q.release(ctx, msgs)
	out := make([]workflow.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		if m.Err != nil {
			q.logger.Warn("skipping a message that is not a run state", "message_id", m.ID, "err", m.Err)
			continue
		}
		out = append(out, workflow.DeadLetter{FileID: m.State.FileID, State: m.State})
	}
	return out, nil
}

// Redrive starts the failed run of fileID found in the queue again, from
// its first step, with the RunStarter (WithRunStarter), and then deletes the
// file's dead letters. A file not in the queue is an ENOTFOUND error.
func (q *Queue) Redrive(ctx context.Context, fileID string) error {
	if q.starter == nil {
		return txpipe.Errorf(txpipe.EUNSUPPORTED, "redrive needs a run starter (the state machine)")
	}
	msgs, err := q.scan(ctx)
	if err != nil {
		return err
	}
	var mine, others []Message
	for _, m := range msgs {
		if m.Err == nil && m.State.FileID == fileID {
			mine = append(mine, m)
		} else {
			others = append(others, m)
		}
	}
	q.release(ctx, others)
	if len(mine) == 0 {
		return txpipe.Errorf(txpipe.ENOTFOUND, "file %s is not in the dead-letter queue", fileID)
	}
	st := mine[len(mine)-1].State
	st.Error, st.Counts = nil, nil
	if err := q.starter.StartRun(ctx, st); err != nil {
		q.release(ctx, mine)
		return fmt.Errorf("redrive file %s: %w", fileID, err)
	}
	for _, m := range mine {
		if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
			// The run is started; a dead letter left behind is listed
			// again, and a second redrive is harmless.
			q.logger.Warn("dead letter not deleted after redrive", "file_id", fileID, "message_id", m.ID, "err", err)
		}
	}
	return nil
}

// scan receives every message of the queue (each once, by message ID),
// hiding each for ScanVisibility. The caller releases the ones it does not
// delete.
func (q *Queue) scan(ctx context.Context) ([]Message, error) {
	seen := map[string]bool{}
	var all []Message
	for {
		msgs, err := q.receive(ctx, 10, ScanVisibility)
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
func (q *Queue) release(ctx context.Context, msgs []Message) {
	for i := 0; i < len(msgs); i += 10 {
		var entries []types.ChangeMessageVisibilityBatchRequestEntry
		for j, m := range msgs[i:min(i+10, len(msgs))] {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: 0,
			})
		}
		_, err := q.vis.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(q.url), Entries: entries,
		})
		if err != nil {
			q.logger.Warn("dead letters stay hidden until their visibility timeout", "seconds", ScanVisibility.Seconds(), "err", err)
		}
	}
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
