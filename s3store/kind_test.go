package s3store

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/txpipe/txpipe"
)

// TestKindOf checks what S3 adds to awserr.Kind: a 404 response with an
// unlisted code is not found, and a body cut short is transient.
func TestKindOf(t *testing.T) {
	response := func(status int, cause error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      cause,
			},
		}}
	}
	api := func(code string, fault smithy.ErrorFault) error {
		return &smithy.GenericAPIError{Code: code, Fault: fault}
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"no such key", response(404, api("NoSuchKey", smithy.FaultClient)), txpipe.ENOTFOUND},
		{"404 with an unlisted code", response(404, api("NoSuchUpload", smithy.FaultClient)), txpipe.ENOTFOUND},
		{"404 without an API error", response(404, errors.New("empty body")), txpipe.ENOTFOUND},
		{"404 with a server fault", response(404, api("Odd", smithy.FaultServer)), txpipe.ETRANSIENT},
		{"listed code wins over 404", response(404, api("PreconditionFailed", smithy.FaultClient)), txpipe.ECONFLICT},
		{"entity too large", response(400, api("EntityTooLarge", smithy.FaultClient)), txpipe.ETOOLARGE},
		{"slow down", response(503, api("SlowDown", smithy.FaultClient)), txpipe.ETRANSIENT},
		{"429", response(http.StatusTooManyRequests, errors.New("too many requests")), txpipe.ETRANSIENT},
		{"403 unlisted", response(403, api("AccessDenied", smithy.FaultClient)), txpipe.EINTERNAL},
		{"body cut short", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), txpipe.ETRANSIENT},
		{"plain", errors.New("boom"), txpipe.EINTERNAL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf(tt.err); got != tt.want {
				t.Errorf("kindOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
