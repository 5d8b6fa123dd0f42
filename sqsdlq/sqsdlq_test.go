//go:build integration

package sqsdlq

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/workflow"
)

// The moto_server of this test package, started once by TestMain (not under -short).
var emulator = awstest.NewEmulator("moto_server", awstest.StartMoto)

func TestMain(m *testing.M) { emulator.Run(m) }

func newQueue(t *testing.T, name string) (*Queue, *sqs.Client) {
	t.Helper()
	c := sqs.NewFromConfig(awstest.Config(emulator.URL(t)))
	// Received messages come back after one second unless deleted.
	out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	return New(c, aws.ToString(out.QueueUrl)), c
}

func TestDepth(t *testing.T) {
	q, _ := newQueue(t, "txpipe-dlq-depth")
	ctx := t.Context()
	for i := range 3 {
		if n, err := q.Depth(ctx); err != nil || n != i {
			t.Fatalf("Depth = %d, %v; want %d", n, err, i)
		}
		if err := q.SendDeadLetter(ctx, workflow.RunState{FileID: fmt.Sprintf("d%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A message being read (hidden) is still in the queue.
	if _, err := q.Receive(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Depth(ctx); err != nil || n != 3 {
		t.Errorf("Depth while one is received = %d, %v; want 3", n, err)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	q, _ := newQueue(t, "txpipe-dlq-test")
	ctx := t.Context()
	states := map[string]workflow.RunState{}
	for _, id := range []string{"f1", "f2", "f3"} {
		st := workflow.RunState{
			FileID: id, FileKey: "key-" + id, Filename: id + ".csv", Rows: 42,
			Counts: &txpipe.Counts{Inserted: 40, Updated: 2},
			Error:  &workflow.StepError{Error: "TransientError", Cause: "write batch: throttled"},
		}
		states[id] = st
		if err := q.SendDeadLetter(ctx, st); err != nil {
			t.Fatalf("SendDeadLetter(%s): %v", id, err)
		}
	}

	got := map[string]Message{}
	for range 5 {
		msgs, err := q.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Err != nil {
				t.Fatalf("message %s: %v", m.ID, m.Err)
			}
			got[m.State.FileID] = m
		}
		if len(got) == len(states) {
			break
		}
	}
	if len(got) != len(states) {
		t.Fatalf("received %d dead letters, want %d", len(got), len(states))
	}
	for id, want := range states {
		if !reflect.DeepEqual(got[id].State, want) {
			t.Errorf("dead letter %s = %+v, want %+v", id, got[id].State, want)
		}
		if id == "f2" {
			continue // redrive failed: it stays in the queue
		}
		if err := q.Delete(ctx, got[id].ReceiptHandle); err != nil {
			t.Fatalf("Delete(%s): %v", id, err)
		}
	}
	// After the visibility timeout only the message not deleted is back.
	time.Sleep(1500 * time.Millisecond)
	var back []string
	for range 3 {
		msgs, err := q.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			back = append(back, m.State.FileID)
		}
		if len(back) > 0 {
			break
		}
	}
	if !reflect.DeepEqual(back, []string{"f2"}) {
		t.Errorf("after deleting f1 and f3, the queue gave back %v, want [f2]", back)
	}
}

func TestForeignMessage(t *testing.T) {
	q, c := newQueue(t, "txpipe-dlq-foreign")
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String("not json")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || txpipe.ErrorCode(msgs[0].Err) != txpipe.EINVALID || msgs[0].ReceiptHandle == "" {
		t.Fatalf("Receive of a foreign message = %+v, want one message with an EINVALID Err and a receipt handle", msgs)
	}
}

func TestMissingQueue(t *testing.T) {
	c := sqs.NewFromConfig(awstest.Config(emulator.URL(t)))
	q := New(c, emulator.URL(t)+"/123456789012/no-such-queue")
	err := q.SendDeadLetter(t.Context(), workflow.RunState{FileID: "f"})
	if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
		t.Errorf("SendDeadLetter to a missing queue: %v (code %q), want %q", err, got, want)
	}
}
