// Package snsnotify publishes txpipe's run notifications to an Amazon SNS
// topic with aws-sdk-go-v2: workflow.Notifier.
package snsnotify

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.Notifier = (*Notifier)(nil)

// publisher is the SNS call the notifier makes.
type publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Notifier publishes notifications to one topic.
type Notifier struct {
	pub   publisher
	topic string
}

// New returns a Notifier publishing to the topic topicARN.
func New(client *sns.Client, topicARN string) *Notifier {
	return &Notifier{pub: client, topic: topicARN}
}

// StatusAttribute is the message attribute holding the file's final status,
// so subscribers can filter on it (a filter policy on "status").
const StatusAttribute = "status"

// TenantAttribute is the message attribute holding the file's tenant, so a
// tenant's subscription receives its results only (a filter policy
// {"tenant": ["NAME"]}).
const TenantAttribute = "tenant"

// Notify publishes n as JSON, with n.Status as the "status" message
// attribute and its tenant as the "tenant" one (a subscription of one
// tenant filters on it).
func (p *Notifier) Notify(ctx context.Context, n txpipe.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "encode notification of %s: %w", n.FileID, err)
	}
	_, err = p.pub.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.topic),
		Message:  aws.String(string(body)),
		Subject:  aws.String("txpipe: file " + n.Status),
		MessageAttributes: map[string]types.MessageAttributeValue{
			StatusAttribute: {DataType: aws.String("String"), StringValue: aws.String(n.Status)},
			TenantAttribute: {DataType: aws.String("String"), StringValue: aws.String(txpipe.TenantOrDefault(n.Tenant))},
		},
	})
	if err != nil {
		return translate(err, "publish notification of %s to %s", n.FileID, p.topic)
	}
	return nil
}

// codes maps SNS API error codes to txpipe kinds. Server faults, 5xx and
// 429 responses, timeouts and network errors are transient for every service
// (awserr.Kind).
var codes = awserr.Codes{
	"NotFound":                       txpipe.ENOTFOUND,
	"NotFoundException":              txpipe.ENOTFOUND,
	"InvalidParameter":               txpipe.EINVALID,
	"InvalidParameterException":      txpipe.EINVALID,
	"InvalidParameterValue":          txpipe.EINVALID,
	"InvalidParameterValueException": txpipe.EINVALID,
	"Throttled":                      txpipe.ETRANSIENT,
	"ThrottledException":             txpipe.ETRANSIENT,
	"Throttling":                     txpipe.ETRANSIENT,
	"ThrottlingException":            txpipe.ETRANSIENT,
	"InternalError":                  txpipe.ETRANSIENT,
	"InternalErrorException":         txpipe.ETRANSIENT,
	"KMSThrottling":                  txpipe.ETRANSIENT,
	"KMSThrottlingException":         txpipe.ETRANSIENT,
	"AuthorizationError":             txpipe.EFORBIDDEN,
	"AuthorizationErrorException":    txpipe.EFORBIDDEN,
}

// translate wraps an SDK error in a *txpipe.Error of its kind, with what the
// adapter was doing as the message.
func translate(err error, format string, args ...any) error {
	return awserr.Translate(err, codes, format, args...)
}
