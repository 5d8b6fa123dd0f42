package awserr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
)

var codes = awserr.Codes{
	"NoSuchThing":       txpipe.ENOTFOUND,
	"ConditionFailed":   txpipe.ECONFLICT,
	"BadInput":          txpipe.EINVALID,
	"SlowDown":          txpipe.ETRANSIENT,
	"ServerSaysInvalid": txpipe.EINVALID,
}

func apiErr(code string, fault smithy.ErrorFault) error {
	return &smithy.GenericAPIError{Code: code, Message: "message of " + code, Fault: fault}
}

// responseErr is what the SDK returns for a failed call: the HTTP response
// wrapping the deserialized API error (or any other cause).
func responseErr(status int, cause error) error {
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      cause,
		},
		RequestID: "req-1",
	}
}

// opErr is what the SDK returns around every failure: the operation name
// wrapping the cause.
func opErr(cause error) error {
	return &smithy.OperationError{ServiceID: "Test", OperationName: "Do", Err: cause}
}

func TestKind(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"listed not found", apiErr("NoSuchThing", smithy.FaultClient), txpipe.ENOTFOUND},
		{"listed conflict in a response", opErr(responseErr(400, apiErr("ConditionFailed", smithy.FaultClient))), txpipe.ECONFLICT},
		{"listed invalid", apiErr("BadInput", smithy.FaultUnknown), txpipe.EINVALID},
		{"listed transient", apiErr("SlowDown", smithy.FaultClient), txpipe.ETRANSIENT},
		{"listed code wins over server fault", apiErr("ServerSaysInvalid", smithy.FaultServer), txpipe.EINVALID},
		{"listed code wins over 503", responseErr(503, apiErr("BadInput", smithy.FaultClient)), txpipe.EINVALID},
		{"unlisted client fault", apiErr("Mystery", smithy.FaultClient), txpipe.EINTERNAL},
		{"unlisted server fault", apiErr("Mystery", smithy.FaultServer), txpipe.ETRANSIENT},
		{"unlisted code in a 400", opErr(responseErr(400, apiErr("Mystery", smithy.FaultClient))), txpipe.EINTERNAL},
		{"unlisted code in a 404", responseErr(404, apiErr("Mystery", smithy.FaultClient)), txpipe.EINTERNAL},
		{"503", opErr(responseErr(503, errors.New("service unavailable"))), txpipe.ETRANSIENT},
		{"500", responseErr(500, apiErr("Mystery", smithy.FaultUnknown)), txpipe.ETRANSIENT},
		{"429", opErr(responseErr(http.StatusTooManyRequests, errors.New("too many requests"))), txpipe.ETRANSIENT},
		{"retries exhausted", opErr(&retry.MaxAttemptsError{Attempt: 3, Err: errors.New("last")}), txpipe.ETRANSIENT},
		{"client rate limit", opErr(ratelimit.QuotaExceededError{Available: 0, Requested: 5}), txpipe.ETRANSIENT},
		{"network error", opErr(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), txpipe.ETRANSIENT},
		{"deadline", fmt.Errorf("put item: %w", context.DeadlineExceeded), txpipe.ETRANSIENT},
		{"canceled", fmt.Errorf("put item: %w", context.Canceled), txpipe.EINTERNAL},
		{"plain", errors.New("boom"), txpipe.EINTERNAL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := awserr.Kind(tt.err, codes); got != tt.want {
				t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestKindNilCodes(t *testing.T) {
	if got, want := awserr.Kind(apiErr("NoSuchThing", smithy.FaultClient), nil), txpipe.EINTERNAL; got != want {
		t.Errorf("Kind with nil Codes = %q, want %q", got, want)
	}
}

func TestTranslate(t *testing.T) {
	if err := awserr.Translate(nil, codes, "get %s", "x"); err != nil {
		t.Fatalf("Translate(nil) = %v, want nil", err)
	}
	cause := opErr(responseErr(404, apiErr("NoSuchThing", smithy.FaultClient)))
	err := awserr.Translate(cause, codes, "get thing %s", "t-1")
	var te *txpipe.Error
	if !errors.As(err, &te) {
		t.Fatalf("Translate returned %T, want *txpipe.Error", err)
	}
	if got, want := te.Code, txpipe.ENOTFOUND; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := te.Message, "get thing t-1"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(err, cause) = false, want the SDK error kept as the cause")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchThing" {
		t.Errorf("API error not reachable through the translated error: %v", err)
	}
	if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
		t.Errorf("txpipe.ErrorCode = %q, want %q", got, want)
	}
}
