// Package awserr translates errors from the AWS SDK into txpipe error kinds.
// Each adapter lists its own service's API error codes; what every service
// shares (server faults, HTTP 5xx and 429, exhausted retries, client-side
// rate limits, timeouts and network errors) is decided here.
package awserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/txpipe/txpipe"
)

// Codes maps one service's API error codes (smithy.APIError.ErrorCode) to
// txpipe error kinds.
type Codes map[string]string

// Kind returns err's kind: the service's own code if listed, otherwise
// transient for server faults, HTTP 5xx and 429, exhausted SDK retries,
// client-side rate limits, timeouts and network errors, otherwise EINTERNAL.
// It returns "" for a nil err.
func Kind(err error, codes Codes) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if kind, ok := codes[ae.ErrorCode()]; ok {
			return kind
		}
	}
	if transient(err) {
		return txpipe.ETRANSIENT
	}
	return txpipe.EINTERNAL
}

// transient reports whether err is worth retrying whatever the service: a
// server fault, an HTTP 5xx or 429 response, exhausted SDK retries, a
// client-side rate limit, a timeout or a network error. It does not look at
// service-specific codes.
func transient(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests) {
		return true
	}
	var qe ratelimit.QuotaExceededError
	var me *retry.MaxAttemptsError
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &qe) || errors.As(err, &me) || errors.As(err, &ne)
}

// Translate wraps err in a *txpipe.Error of its kind (see Kind) with the
// message made from format and args, keeping err as the cause. It returns
// nil for a nil err.
func Translate(err error, codes Codes, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &txpipe.Error{Code: Kind(err, codes), Message: fmt.Sprintf(format, args...), Err: err}
}
