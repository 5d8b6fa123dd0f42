package lambda

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"go.opentelemetry.io/otel/attribute"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// StepRunner runs one step of a run (implemented by *workflow.Tasks).
type StepRunner interface {
	Run(ctx context.Context, in workflow.StepInput) (workflow.RunState, error)
}

// StepHandler serves the Step Functions task events of one Lambda function (the
// transformer or the notifier): the event is a workflow.StepInput, the
// result the workflow.RunState for the next state.
//
// Errors come back to Step Functions with the name the state machine
// matches: a transient error as *workflow.TransientError, which the
// runtime reports as errorType "TransientError" (the name
// workflow.DefaultRetry() retries on); any other error with errorType
// "txpipe.<code>" (workflow.ErrorName), which is caught and sent down the
// failure path without retries.
type StepHandler struct {
	Runner StepRunner
	// Function is the workflow function this Lambda function is
	// (workflow.FunctionTransformer, ...): it runs the steps of
	// workflow.Pipeline assigned to it and refuses the others.
	Function string
	Telemetry
}

// stepsOf returns the names of the steps def assigns to function.
func stepsOf(def workflow.Definition, function string) []string {
	var names []string
	for _, s := range slices.Concat(def.Steps, def.OnFailure) {
		if s.Function == function {
			names = append(names, s.Name)
		}
	}
	return names
}

// Handle runs the step the event names.
func (s *StepHandler) Handle(ctx context.Context, in workflow.StepInput) (workflow.RunState, error) {
	ctx, end := s.start(ctx, in.Step,
		attribute.String("txpipe.step", in.Step), attribute.String("txpipe.file_id", in.State.FileID))
	log := s.logger().With("request_id", requestID(ctx), "function", s.Function, "step", in.Step, "file_id", in.State.FileID)

	if !slices.Contains(stepsOf(workflow.Pipeline(), s.Function), in.Step) {
		err := txpipe.Errorf(txpipe.EINVALID, "function %s does not run step %q", s.Function, in.Step)
		end(err)
		log.ErrorContext(ctx, "step refused", "err", err)
		return in.State, invokeError(err)
	}

	start := time.Now()
	out, err := s.Runner.Run(ctx, in)
	d := time.Since(start)
	s.Metrics.StepFinished(in.Step, d, err)
	if err != nil {
		end(err)
		if workflow.ErrorName(err) == workflow.TransientErrorName {
			// Step Functions retries it while the step has attempts left.
			s.Metrics.StepRetried(in.Step)
			log.WarnContext(ctx, "step failed, transient", "err", err, "seconds", d.Seconds())
		} else {
			log.ErrorContext(ctx, "step failed", "err", err, "seconds", d.Seconds())
		}
		return out, invokeError(err)
	}
	if in.Step == workflow.StepTransform && out.Counts != nil {
		s.Metrics.RowsWritten(out.FileID, *out.Counts)
	}
	end(nil)
	log.InfoContext(ctx, "step done", "seconds", d.Seconds())
	return out, nil
}

// invokeError is the error a handler returns for err. aws-lambda-go names a
// returned error by its Go type (the pointer's element type), except for a
// messages.InvokeResponse_Error, which it reports as is.
func invokeError(err error) error {
	var te *workflow.TransientError
	if errors.As(err, &te) {
		return te
	}
	if txpipe.IsTransient(err) {
		return &workflow.TransientError{Err: err}
	}
	return messages.InvokeResponse_Error{Type: workflow.ErrorName(err), Message: err.Error()}
}
