package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/txpipe/txpipe"
)

// kindOf returns the txpipe error code for an SDK error: throttling, server
// faults, timeouts and network errors are transient; a failed condition is
// a conflict; a missing table is not found.
func kindOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ConditionalCheckFailedException", "TransactionConflictException":
			return txpipe.ECONFLICT
		case "ResourceNotFoundException":
			return txpipe.ENOTFOUND
		case "ValidationException", "SerializationException":
			return txpipe.EINVALID
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
			"LimitExceededException", "InternalServerError", "ServiceUnavailable", "TransactionInProgressException":
			return txpipe.ETRANSIENT
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return txpipe.ETRANSIENT
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return txpipe.ETRANSIENT
	}
	var qe ratelimit.QuotaExceededError
	var me *retry.MaxAttemptsError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &qe), errors.As(err, &me), errors.As(err, &ne):
		return txpipe.ETRANSIENT
	}
	return txpipe.EINTERNAL
}

// translate wraps an SDK error in a *txpipe.Error of its kind, with what
// the adapter was doing as the message.
func translate(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &txpipe.Error{Code: kindOf(err), Message: fmt.Sprintf(format, args...), Err: err}
}
