//go:build integration

package snsnotify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
)

// The moto_server of this test package, started once by TestMain (not under -short).
var emulator = awstest.NewEmulator("moto_server", awstest.StartMoto)

func TestMain(m *testing.M) { emulator.Run(m) }

// subscribedQueue creates a topic and an SQS queue subscribed to it (with
// the subscription attributes given, such as a filter policy).
func subscribedQueue(t *testing.T, snsc *sns.Client, sqsc *sqs.Client, topicName, queueName string, subAttrs map[string]string) (*sns.CreateTopicOutput, *sqs.CreateQueueOutput) {
	t.Helper()
	ctx := t.Context()
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queueName)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"]),
		Attributes: subAttrs,
	}); err != nil {
		t.Fatal(err)
	}
	return topic, q
}

// TestNotifyReachesSubscriber publishes through the real SNS API of the
// emulator to a topic with an SQS subscriber, and checks what the
// subscriber receives: the notification JSON and the status attribute.
func TestNotifyReachesSubscriber(t *testing.T) {
	cfg := awstest.Config(emulator.URL(t))
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	ctx := t.Context()

	topic, q := subscribedQueue(t, snsc, sqsc, "txpipe-results-test", "txpipe-results-subscriber", nil)

	n := txpipe.Notification{
		FileID: "f123", Tenant: txpipe.DefaultTenant, Status: txpipe.StatusCompleted, Filename: "march.csv", Rows: 10,
		Inserted: 7, Updated: 2, Unchanged: 1, FinishedAt: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}
	if err := New(snsc, aws.ToString(topic.TopicArn)).Notify(ctx, n); err != nil {
		t.Fatalf("Notify: %v", err)
	}

	out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("subscriber received %d messages, want 1", len(out.Messages))
	}
	// SNS wraps the message in its envelope for an SQS subscriber.
	var env struct {
		Message           string
		MessageAttributes map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &env); err != nil {
		t.Fatalf("decode SNS envelope: %v", err)
	}
	var got txpipe.Notification
	if err := json.Unmarshal([]byte(env.Message), &got); err != nil {
		t.Fatalf("decode notification %q: %v", env.Message, err)
	}
	if got != n {
		t.Errorf("subscriber got %+v, want %+v", got, n)
	}
	if a := env.MessageAttributes[StatusAttribute]; a.Type != "String" || a.Value != txpipe.StatusCompleted {
		t.Errorf("status attribute = %+v, want String %s", a, txpipe.StatusCompleted)
	}
}

func TestNotifyMissingTopic(t *testing.T) {
	c := sns.NewFromConfig(awstest.Config(emulator.URL(t)))
	err := New(c, "arn:aws:sns:us-east-1:123456789012:no-such-topic").Notify(t.Context(), txpipe.Notification{FileID: "f", Status: txpipe.StatusFailed})
	if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
		t.Errorf("Notify to a missing topic: %v (code %q), want %q", err, got, want)
	}
}

// TestTenantFilterPolicy: a subscription whose filter policy names a tenant
// receives that tenant's notifications only.
func TestTenantFilterPolicy(t *testing.T) {
	cfg := awstest.Config(emulator.URL(t))
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	ctx := t.Context()
	topic, q := subscribedQueue(t, snsc, sqsc, "txpipe-results-tenants", "txpipe-results-acme",
		map[string]string{"FilterPolicy": `{"tenant": ["acme"]}`})
	notifier := New(snsc, aws.ToString(topic.TopicArn))
	for _, tenant := range []string{txpipe.DefaultTenant, "beta", "acme"} {
		if err := notifier.Notify(ctx, txpipe.Notification{FileID: "f-" + tenant, Tenant: tenant, Status: txpipe.StatusCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for range 3 {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var env struct {
				Message           string
				MessageAttributes map[string]struct{ Type, Value string }
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatal(err)
			}
			var n txpipe.Notification
			if err := json.Unmarshal([]byte(env.Message), &n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n.FileID+"/"+env.MessageAttributes[TenantAttribute].Value)
		}
	}
	if len(got) != 1 || got[0] != "f-acme/acme" {
		t.Errorf("acme's subscription received %v, want f-acme/acme only", got)
	}
}
