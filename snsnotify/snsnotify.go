// Package snsnotify publishes txpipe's run notifications to an Amazon SNS
// topic with aws-sdk-go-v2: workflow.Notifier.
package snsnotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/txpipe/txpipe"
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

// Notify publishes n as JSON, with n.Status as the "status" message
// attribute.
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
		},
	})
	if err != nil {
		return translate(err, "publish notification of %s to %s", n.FileID, p.topic)
	}
	return nil
}

func kindOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NotFoundException":
			return txpipe.ENOTFOUND
		case "InvalidParameter", "InvalidParameterException", "InvalidParameterValue", "InvalidParameterValueException":
			return txpipe.EINVALID
		case "Throttled", "ThrottledException", "Throttling", "ThrottlingException", "InternalError", "InternalErrorException",
			"KMSThrottling", "KMSThrottlingException":
			return txpipe.ETRANSIENT
		case "AuthorizationError", "AuthorizationErrorException":
			return txpipe.EFORBIDDEN
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return txpipe.ETRANSIENT
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429) {
		return txpipe.ETRANSIENT
	}
	var qe ratelimit.QuotaExceededError
	var me *retry.MaxAttemptsError
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &qe) || errors.As(err, &me) || errors.As(err, &ne) {
		return txpipe.ETRANSIENT
	}
	return txpipe.EINTERNAL
}

func translate(err error, format string, args ...any) error {
	return &txpipe.Error{Code: kindOf(err), Message: fmt.Sprintf(format, args...), Err: err}
}
