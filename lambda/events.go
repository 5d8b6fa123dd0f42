package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// EventBridge detail types the functions take.
const (
	DetailObjectCreated    = "Object Created"
	DetailExecutionChanged = "Step Functions Execution Status Change"
)

// RunStarter starts a run (sfnrun.Starter: one Standard execution named by
// the file id, so a second event for the same bytes starts nothing).
type RunStarter interface {
	StartRun(ctx context.Context, st workflow.RunState) error
}

// Objects serves the S3 "Object Created" events of the upload bucket (on
// EventBridge): the bytes of a two-step upload arrived under the incoming
// prefix, so their run starts; its first step validates them from S3.
type Objects struct {
	Runs RunStarter
	// FileKeyOf returns the file key (hex SHA-256) of an incoming object
	// key, or an error for a key that is not one (s3store.FileKeyOfIncoming).
	FileKeyOf func(key string) (string, error)
	// TenantOf, if set, returns the tenant of an incoming object key that
	// FileKeyOf accepted (s3store.TenantFileKeyOfIncoming); the default
	// tenant otherwise.
	TenantOf func(key string) string
	Telemetry
}

type s3ObjectDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"object"`
}

// Handle starts the run of the object the event names. An object outside
// the incoming prefix is logged and ignored (not retried).
func (o *Objects) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	ctx, end := o.start(ctx, "S3 "+ev.DetailType)
	if ev.DetailType != DetailObjectCreated {
		err := txpipe.Errorf(txpipe.EINVALID, "event %s: detail-type %q, want %q", ev.ID, ev.DetailType, DetailObjectCreated)
		end(err)
		return err
	}
	var d s3ObjectDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		err = txpipe.Errorf(txpipe.EINVALID, "event %s: decode detail: %w", ev.ID, err)
		end(err)
		return err
	}
	sum, err := o.FileKeyOf(d.Object.Key)
	tenant := txpipe.DefaultTenant
	if err == nil && o.TenantOf != nil {
		tenant = o.TenantOf(d.Object.Key)
	}
	if err != nil {
		o.logger().WarnContext(ctx, "object ignored", "bucket", d.Bucket.Name, "key", d.Object.Key, "err", err)
		end(nil)
		return nil
	}
	st := workflow.RunState{
		FileID: txpipe.ScopedFileID(tenant, txpipe.FileIDFromSHA256(sum)), FileKey: sum, UploadKey: d.Object.Key, SizeBytes: d.Object.Size,
	}
	if err := o.Runs.StartRun(ctx, st); err != nil {
		err = fmt.Errorf("start run of s3://%s/%s: %w", d.Bucket.Name, d.Object.Key, err)
		end(err)
		return err
	}
	o.logger().InfoContext(ctx, "run started", "file_id", st.FileID, "key", d.Object.Key, "size_bytes", d.Object.Size)
	end(nil)
	return nil
}

// FailureSteps are the steps a failed execution needs: marking the file
// FAILED and notifying it, and the dead-letter queue (*workflow.Steps).
type FailureSteps interface {
	MarkFailed(ctx context.Context, st workflow.RunState) (workflow.RunState, error)
}

// DeadLetters sends a run's state to the dead-letter queue.
type DeadLetters interface {
	SendDeadLetter(ctx context.Context, st workflow.RunState) error
}

// Executions serves the Step Functions "Execution Status Change" events of
// the state machine (on EventBridge): an execution that failed outside the
// workflow's own Catch, timed out or was aborted is marked FAILED, notified
// and sent to the dead-letter queue like any failed run, so no run stays
// PROCESSING. An execution that ended through the workflow's failure path
// (error txpipe.RunFailed) was handled already and is ignored.
type Executions struct {
	Steps       FailureSteps
	DeadLetters DeadLetters
	Telemetry
}

type executionDetail struct {
	ExecutionArn string  `json:"executionArn"`
	Name         string  `json:"name"`
	Status       string  `json:"status"`
	Input        *string `json:"input"`
	Error        *string `json:"error"`
	Cause        *string `json:"cause"`
}

// Handle marks the execution's run failed; an error is returned (and the
// event retried by Lambda's asynchronous invocation) when that fails.
func (x *Executions) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	ctx, end := x.start(ctx, "SFN "+ev.DetailType)
	var d executionDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		err = txpipe.Errorf(txpipe.EINVALID, "event %s: decode detail: %w", ev.ID, err)
		end(err)
		return err
	}
	log := x.logger().With("execution", d.ExecutionArn, "status", d.Status)
	if !slices.Contains([]string{"FAILED", "TIMED_OUT", "ABORTED"}, d.Status) ||
		(d.Error != nil && *d.Error == workflow.RunFailedError) {
		log.DebugContext(ctx, "execution end handled by the workflow")
		end(nil)
		return nil
	}
	var st workflow.RunState
	if d.Input == nil || json.Unmarshal([]byte(*d.Input), &st) != nil || st.FileID == "" {
		err := txpipe.Errorf(txpipe.EINVALID, "execution %s ended %s without a run state in its input", d.ExecutionArn, d.Status)
		log.ErrorContext(ctx, "failed execution without a run", "err", err)
		end(err)
		return err
	}
	se := &workflow.StepError{Error: statusErrors[d.Status], Cause: "the execution " + strings.ToLower(strings.ReplaceAll(d.Status, "_", " "))}
	if d.Error != nil && *d.Error != "" {
		se.Error = *d.Error
	}
	if d.Cause != nil && *d.Cause != "" {
		se.Cause = *d.Cause
	}
	st.Error = se
	if _, err := x.Steps.MarkFailed(ctx, st); err != nil {
		err = fmt.Errorf("mark file %s failed after execution %s %s: %w", st.FileID, d.Name, d.Status, err)
		end(err)
		return err
	}
	if err := x.DeadLetters.SendDeadLetter(ctx, st); err != nil {
		err = fmt.Errorf("dead-letter file %s after execution %s %s: %w", st.FileID, d.Name, d.Status, err)
		end(err)
		return err
	}
	log.WarnContext(ctx, "execution ended outside the workflow: run marked FAILED and dead-lettered", "file_id", st.FileID, "error", se.Error)
	end(nil)
	return nil
}

// statusErrors name the failure of an execution that ended without an error
// of its own.
var statusErrors = map[string]string{"FAILED": "States.ExecutionFailed", "TIMED_OUT": "States.Timeout", "ABORTED": "States.Aborted"}

// Mux serves the several kinds of event one function receives, told apart
// by their shape: API Gateway requests (httpMethod), Step Functions task
// payloads (step) and EventBridge events (detail-type). A nil handler
// refuses its kind.
type Mux struct {
	API        func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
	Steps      func(context.Context, workflow.StepInput) (workflow.RunState, error)
	Objects    func(context.Context, events.EventBridgeEvent) error
	Executions func(context.Context, events.EventBridgeEvent) error
}

// Handle decodes raw as the kind of event it is and serves it.
func (m *Mux) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		HTTPMethod string          `json:"httpMethod"`
		Step       string          `json:"step"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, txpipe.Errorf(txpipe.EINVALID, "event is not a JSON object: %w", err)
	}
	switch {
	case probe.HTTPMethod != "" && m.API != nil:
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, txpipe.Errorf(txpipe.EINVALID, "decode API Gateway event: %w", err)
		}
		return m.API(ctx, ev)
	case probe.Step != "" && m.Steps != nil:
		var in workflow.StepInput
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, txpipe.Errorf(txpipe.EINVALID, "decode step input: %w", err)
		}
		return m.Steps(ctx, in)
	case probe.DetailType == DetailObjectCreated && m.Objects != nil:
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, txpipe.Errorf(txpipe.EINVALID, "decode EventBridge event: %w", err)
		}
		return nil, m.Objects(ctx, ev)
	case probe.DetailType == DetailExecutionChanged && m.Executions != nil:
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, txpipe.Errorf(txpipe.EINVALID, "decode EventBridge event: %w", err)
		}
		return nil, m.Executions(ctx, ev)
	}
	return nil, txpipe.Errorf(txpipe.EINVALID, "event of no kind this function serves (httpMethod %q, step %q, detail-type %q)",
		probe.HTTPMethod, probe.Step, probe.DetailType)
}
