package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Definition substitution names: the Amazon States Language of ASL holds
// "${Name}" where an ARN or URL of the deployed stack belongs, and the
// stack passes the values as the state machine's DefinitionSubstitutions.
const (
	SubstValidatorArn       = "ValidatorFunctionArn"
	SubstTransformerArn     = "TransformerFunctionArn"
	SubstNotifierArn        = "NotifierFunctionArn"
	SubstDeadLetterQueueURL = "DeadLetterQueueUrl"
)

// Substitution returns the definition substitution name that stands for a
// step's Function in the output of ASL: the ARN of the Lambda function that
// runs it, or for FunctionDeadLetter the URL of the dead-letter queue.
func Substitution(function string) (string, error) {
	switch function {
	case FunctionValidator:
		return SubstValidatorArn, nil
	case FunctionTransformer:
		return SubstTransformerArn, nil
	case FunctionNotifier:
		return SubstNotifierArn, nil
	case FunctionDeadLetter:
		return SubstDeadLetterQueueURL, nil
	}
	return "", fmt.Errorf("function %q has no definition substitution", function)
}

// Substitutions returns the sorted definition substitution names that
// ASL(def) uses; the stack must map each of them.
func Substitutions(def Definition) ([]string, error) {
	var names []string
	for _, s := range slices.Concat(def.Steps, def.OnFailure) {
		name, err := Substitution(s.Function)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", s.Name, err)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// ASL errors: what the Fail state that ends a failed run reports.
const (
	RunFailedError = "txpipe.RunFailed"
	RunFailedCause = "a step failed after its retries; the run was marked FAILED and its state sent to the dead-letter queue"
)

// errorAll matches every error in a Catch.
const errorAll = "States.ALL"

// resultNull is the ResultPath that discards a state's result and passes
// its input on.
var resultNull = json.RawMessage("null")

// ASL returns the Amazon States Language JSON of def, for a Step Functions
// state machine:
//
//   - each of def.Steps is a Task invoking its function's Lambda with the
//     event {"step": <name>, "state": <the run state>} (a StepInput), whose
//     result (a RunState) replaces the state; it is retried on the errors
//     of its RetryPolicy, and a Catch on every other error puts the error
//     at $.error and goes to the first OnFailure step;
//   - the OnFailure steps run in order, each retried by its policy; a
//     FunctionDeadLetter step is an SQS sendMessage of the state to the
//     dead-letter queue; an OnFailure step that still fails passes the
//     state, unchanged, on to the next one, so the dead-letter queue gets it
//     even when marking the file failed did not work;
//   - the failure path ends in the Fail state StateRunFailed.
//
// ARNs and the queue URL are "${Name}" placeholders (see Substitution). The
// output is deterministic: the same def gives the same bytes.
func ASL(def Definition) ([]byte, error) {
	if len(def.Steps) == 0 {
		return nil, fmt.Errorf("workflow %s: no steps", def.Name)
	}
	seen := map[string]bool{StateRunFailed: true}
	for _, s := range slices.Concat(def.Steps, def.OnFailure) {
		if s.Name == "" || len(s.Name) > 80 {
			return nil, fmt.Errorf("workflow %s: step name %q: must have 1 to 80 characters", def.Name, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("workflow %s: step name %q is taken", def.Name, s.Name)
		}
		seen[s.Name] = true
	}

	failTarget := StateRunFailed
	if len(def.OnFailure) > 0 {
		failTarget = def.OnFailure[0].Name
	}
	states := make(map[string]aslState, len(def.Steps)+len(def.OnFailure)+1)
	for i, s := range def.Steps {
		st, err := task(s)
		if err != nil {
			return nil, fmt.Errorf("workflow %s: step %s: %w", def.Name, s.Name, err)
		}
		if i+1 < len(def.Steps) {
			st.Next = def.Steps[i+1].Name
		} else {
			st.End = true
		}
		st.Catch = []aslCatch{{ErrorEquals: []string{errorAll}, ResultPath: json.RawMessage(`"$.error"`), Next: failTarget}}
		states[s.Name] = st
	}
	for i, s := range def.OnFailure {
		st, err := task(s)
		if err != nil {
			return nil, fmt.Errorf("workflow %s: step %s: %w", def.Name, s.Name, err)
		}
		next := StateRunFailed
		if i+1 < len(def.OnFailure) {
			next = def.OnFailure[i+1].Name
		}
		st.Next = next
		st.Catch = []aslCatch{{ErrorEquals: []string{errorAll}, ResultPath: resultNull, Next: next}}
		states[s.Name] = st
	}
	states[StateRunFailed] = aslState{Type: "Fail", Error: RunFailedError, Cause: RunFailedCause}

	m := aslMachine{Comment: def.Comment, StartAt: def.Steps[0].Name, States: states}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("workflow %s: encode states language: %w", def.Name, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// task returns the Task state of s, without its transitions.
func task(s Step) (aslState, error) {
	subst, err := Substitution(s.Function)
	if err != nil {
		return aslState{}, err
	}
	timeout, err := wholeSeconds("timeout", s.Timeout)
	if err != nil {
		return aslState{}, err
	}
	if timeout < 1 {
		return aslState{}, fmt.Errorf("timeout %v: must be at least 1s", s.Timeout)
	}
	st := aslState{Type: "Task", TimeoutSeconds: timeout}
	if s.Function == FunctionDeadLetter {
		// The SQS integration answers with the message ID; the run's state
		// is kept for the Fail state.
		st.Resource = "arn:aws:states:::sqs:sendMessage"
		st.Parameters = map[string]string{"QueueUrl": "${" + subst + "}", "MessageBody.$": "$"}
		st.ResultPath = resultNull
	} else {
		st.Resource = "${" + subst + "}"
		st.Parameters = map[string]string{"step": s.Name, "state.$": "$"}
		st.ResultPath = json.RawMessage(`"$"`)
	}
	r, err := retrier(s)
	if err != nil {
		return aslState{}, err
	}
	if r != nil {
		st.Retry = []aslRetrier{*r}
	}
	return st, nil
}

// retrier returns the Retry of s, or nil when its policy makes one attempt.
func retrier(s Step) (*aslRetrier, error) {
	p := s.Retry
	if p.MaxAttempts < 1 {
		return nil, fmt.Errorf("retry policy: MaxAttempts %d: must be at least 1", p.MaxAttempts)
	}
	if p.MaxAttempts == 1 {
		return nil, nil
	}
	if p.MaxAttempts-1 > 99999999 {
		return nil, fmt.Errorf("retry policy: MaxAttempts %d: too many", p.MaxAttempts)
	}
	errs := p.RetryOn
	if s.Function == FunctionDeadLetter {
		// A service integration fails with its service's errors (such as
		// SQS.SqsException), not a Lambda's: the last chance to keep the
		// run is retried on every error.
		errs = []string{"States.TaskFailed", "States.Timeout"}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("retry policy: %d attempts but no RetryOn errors", p.MaxAttempts)
	}
	interval, err := wholeSeconds("retry interval", p.Interval)
	if err != nil {
		return nil, err
	}
	if interval < 1 {
		return nil, fmt.Errorf("retry policy: interval %v: must be at least 1s", p.Interval)
	}
	if p.BackoffRate < 1 {
		return nil, fmt.Errorf("retry policy: backoff rate %v: must be at least 1", p.BackoffRate)
	}
	maxDelay, err := wholeSeconds("retry max delay", p.MaxDelay)
	if err != nil {
		return nil, err
	}
	r := &aslRetrier{
		ErrorEquals:     slices.Clone(errs),
		IntervalSeconds: interval,
		MaxAttempts:     p.MaxAttempts - 1, // retries after the first attempt
		BackoffRate:     p.BackoffRate,
		MaxDelaySeconds: maxDelay,
	}
	if p.FullJitter {
		r.JitterStrategy = "FULL"
	}
	return r, nil
}

// wholeSeconds returns d in seconds, or an error if it is not a whole
// number of them (the States Language counts in integer seconds).
func wholeSeconds(what string, d time.Duration) (int64, error) {
	if d < 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%s %v: must be a whole number of seconds", what, d)
	}
	return int64(d / time.Second), nil
}

// The States Language document. Fields are written in struct order and map
// keys sorted, so the output is stable.
type aslMachine struct {
	Comment string              `json:"Comment,omitempty"`
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
}

type aslState struct {
	Type           string            `json:"Type"`
	Resource       string            `json:"Resource,omitempty"`
	Parameters     map[string]string `json:"Parameters,omitempty"`
	ResultPath     json.RawMessage   `json:"ResultPath,omitempty"`
	TimeoutSeconds int64             `json:"TimeoutSeconds,omitempty"`
	Retry          []aslRetrier      `json:"Retry,omitempty"`
	Catch          []aslCatch        `json:"Catch,omitempty"`
	Next           string            `json:"Next,omitempty"`
	End            bool              `json:"End,omitempty"`
	Error          string            `json:"Error,omitempty"`
	Cause          string            `json:"Cause,omitempty"`
}

type aslRetrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds int64    `json:"IntervalSeconds"`
	MaxAttempts     int      `json:"MaxAttempts"`
	BackoffRate     float64  `json:"BackoffRate"`
	MaxDelaySeconds int64    `json:"MaxDelaySeconds,omitempty"`
	JitterStrategy  string   `json:"JitterStrategy,omitempty"`
}

type aslCatch struct {
	ErrorEquals []string        `json:"ErrorEquals"`
	ResultPath  json.RawMessage `json:"ResultPath"`
	Next        string          `json:"Next"`
}
