// Package sfnrun starts txpipe's pipeline runs as AWS Step Functions
// executions with aws-sdk-go-v2: workflow.Starter.
package sfnrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.Starter = (*Starter)(nil)

// executionStarter is the Step Functions call the starter makes.
type executionStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Starter starts executions of one state machine.
type Starter struct {
	start executionStarter
	arn   string
	now   workflow.Clock
}

// New returns a Starter of the state machine stateMachineARN
// (TXPIPE_STATE_MACHINE_ARN).
func New(client *sfn.Client, stateMachineARN string) *Starter {
	return &Starter{start: client, arn: stateMachineARN, now: time.Now}
}

// StartRun implements workflow.Starter: it starts an execution whose input
// is st as JSON, named after the file id and a unique suffix (a redrive of
// the same file starts a new execution).
func (s *Starter) StartRun(ctx context.Context, st workflow.RunState) error {
	input, err := json.Marshal(st)
	if err != nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "encode run state of %s: %w", st.FileID, err)
	}
	name, err := ExecutionName(st.FileID, s.now())
	if err != nil {
		return err
	}
	if st.UploadKey != "" {
		// The bytes of a two-step upload arrived (an S3 event, which may
		// come twice): the execution is named by the file id alone, and a
		// Standard machine runs at most one execution per name. A tenant's
		// file id is scoped ("tenant#id" -> "tenant_id", whole: at most 65
		// characters), so two tenants' same bytes are two executions.
		name = sanitize(st.FileID, 80)
	}
	_, err = s.start.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.arn),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	if err != nil {
		err = translate(err, "start execution %s of %s", name, s.arn)
		if st.UploadKey != "" && txpipe.ErrorCode(err) == txpipe.ECONFLICT {
			return nil // the file's run exists: one run per file
		}
		return err
	}
	return nil
}

// ExecutionName returns a Step Functions execution name for a run of
// fileID started at t: the file id (characters other than letters, digits,
// '-' and '_' replaced by '_', at most 48 of them), the UTC time to the
// second and 8 random hex digits; at most 80 characters, as Step Functions
// requires.
func ExecutionName(fileID string, t time.Time) (string, error) {
	base := sanitize(fileID, 48)
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", txpipe.Errorf(txpipe.EINTERNAL, "execution name: %w", err)
	}
	return base + "-" + t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix), nil
}

// sanitize returns fileID as an execution name: characters other than
// letters, digits, '-' and '_' replaced by '_', at most n of them.
func sanitize(fileID string, n int) string {
	var b strings.Builder
	for _, r := range fileID {
		if b.Len() == n {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("run")
	}
	return b.String()
}

// codes maps Step Functions API error codes to txpipe kinds. Server faults,
// 5xx and 429 responses, timeouts and network errors are transient for every
// service (awserr.Kind).
var codes = awserr.Codes{
	"StateMachineDoesNotExist": txpipe.ENOTFOUND,
	"ExecutionAlreadyExists":   txpipe.ECONFLICT,
	"InvalidArn":               txpipe.EINVALID,
	"InvalidName":              txpipe.EINVALID,
	"InvalidExecutionInput":    txpipe.EINVALID,
	"ValidationException":      txpipe.EINVALID,
	"StateMachineDeleting":     txpipe.EINVALID,
	"ExecutionLimitExceeded":   txpipe.ETRANSIENT,
	"ThrottlingException":      txpipe.ETRANSIENT,
	"ServiceUnavailable":       txpipe.ETRANSIENT,
	"InternalFailure":          txpipe.ETRANSIENT,
	"KmsThrottlingException":   txpipe.ETRANSIENT,
}

// translate wraps an SDK error in a *txpipe.Error of its kind, with what the
// adapter was doing as the message.
func translate(err error, format string, args ...any) error {
	return awserr.Translate(err, codes, format, args...)
}
