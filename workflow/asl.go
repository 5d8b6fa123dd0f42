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

// ASL returns the Amazon States Language JSON of def, for a Standard Step
// Functions state machine: each step a Lambda Task with its retries and a
// Catch to the OnFailure steps (the dead-letter step an SQS sendMessage), a
// Map step a Distributed Map of Express children, EndIfRejected a Choice to
// StateRejected. ARNs and the queue URL are "${Name}" placeholders (see
// Substitution); the same def gives the same bytes. docs/workflow.md has
// the states one by one.
func ASL(def Definition) ([]byte, error) {
	if len(def.Steps) == 0 {
		return nil, fmt.Errorf("workflow %s: no steps", def.Name)
	}
	seen := map[string]bool{StateRunFailed: true, StateRejected: true}
	for _, s := range slices.Concat(def.Steps, def.OnFailure) {
		if s.Name == "" || len(s.Name) > 70 {
			return nil, fmt.Errorf("workflow %s: step name %q: must have 1 to 70 characters", def.Name, s.Name)
		}
		if seen[s.Name] || seen[s.Name+choiceSuffix] {
			return nil, fmt.Errorf("workflow %s: step name %q is taken", def.Name, s.Name)
		}
		seen[s.Name], seen[s.Name+choiceSuffix] = true, true
	}

	failTarget := StateRunFailed
	if len(def.OnFailure) > 0 {
		failTarget = def.OnFailure[0].Name
	}
	states := make(map[string]aslState, len(def.Steps)+len(def.OnFailure)+2)
	for i, s := range def.Steps {
		var st aslState
		var err error
		if s.Map != nil {
			st, err = mapState(s)
		} else {
			st, err = task(s)
		}
		if err != nil {
			return nil, fmt.Errorf("workflow %s: step %s: %w", def.Name, s.Name, err)
		}
		next := ""
		if i+1 < len(def.Steps) {
			next = def.Steps[i+1].Name
		}
		if s.EndIfRejected {
			st.Next = s.Name + choiceSuffix
			choice := aslState{Type: "Choice", Choices: []aslChoice{{
				And: []aslCondition{
					{Variable: "$.rejected", IsPresent: ptr(true)},
					{Variable: "$.rejected", BooleanEquals: ptr(true)},
				},
				Next: StateRejected,
			}}, Default: next}
			if next == "" {
				choice.Default = StateRejected
			}
			states[s.Name+choiceSuffix] = choice
			states[StateRejected] = aslState{Type: "Succeed", Comment: "the file was rejected; its status record says why"}
		} else if next != "" {
			st.Next = next
		} else {
			st.End = true
		}
		st.Catch = []aslCatch{{ErrorEquals: []string{errorAll}, ResultPath: json.RawMessage(`"$.error"`), Next: failTarget}}
		states[s.Name] = st
	}
	for i, s := range def.OnFailure {
		if s.Map != nil || s.EndIfRejected {
			return nil, fmt.Errorf("workflow %s: failure step %s: must be a plain task", def.Name, s.Name)
		}
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

// choiceSuffix names the Choice state after a step with EndIfRejected.
const choiceSuffix = "Outcome"

func ptr[T any](v T) *T { return &v }

// LambdaInvoke is the optimised Lambda integration's resource.
const LambdaInvoke = "arn:aws:states:::lambda:invoke"

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
		st.Parameters = map[string]any{"QueueUrl": "${" + subst + "}", "MessageBody.$": "$"}
		st.ResultPath = resultNull
	} else {
		st.Resource = LambdaInvoke
		st.Parameters = map[string]any{
			"FunctionName": "${" + subst + "}",
			"Payload":      map[string]any{"step": s.Name, "state.$": "$"},
		}
		st.ResultPath = json.RawMessage(`"$"`)
		st.OutputPath = "$.Payload"
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

// mapState returns the Distributed Map state of a map step s, without its
// transitions.
func mapState(s Step) (aslState, error) {
	if s.Function == FunctionDeadLetter {
		return aslState{}, fmt.Errorf("a map step cannot send to the dead-letter queue")
	}
	if s.Map.MaxConcurrency < 1 {
		return aslState{}, fmt.Errorf("map MaxConcurrency %d: must be at least 1", s.Map.MaxConcurrency)
	}
	child, err := task(s)
	if err != nil {
		return aslState{}, err
	}
	child.Parameters["Payload.$"] = "$"
	delete(child.Parameters, "Payload")
	child.End = true
	return aslState{
		Type:      "Map",
		Comment:   "each chunk of whole rows in an Express child execution",
		ItemsPath: "$.chunks",
		ItemSelector: map[string]any{
			"step":    s.Name,
			"chunk.$": "$$.Map.Item.Value",
			"state": map[string]any{
				"file_id.$": "$.file_id", "file_key.$": "$.file_key", "header_end.$": "$.header_end", "format.$": "$.format",
			},
		},
		ItemProcessor: &aslProcessor{
			ProcessorConfig: map[string]string{"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
			StartAt:         s.Name + "Chunk",
			States:          map[string]aslState{s.Name + "Chunk": child},
		},
		MaxConcurrency:             s.Map.MaxConcurrency,
		ToleratedFailurePercentage: ptr(0),
		Label:                      s.Name,
		ResultPath:                 json.RawMessage(`"$.chunk_results"`),
	}, nil
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
	Type                       string          `json:"Type"`
	Comment                    string          `json:"Comment,omitempty"`
	Resource                   string          `json:"Resource,omitempty"`
	Parameters                 map[string]any  `json:"Parameters,omitempty"`
	ItemsPath                  string          `json:"ItemsPath,omitempty"`
	ItemSelector               map[string]any  `json:"ItemSelector,omitempty"`
	ItemProcessor              *aslProcessor   `json:"ItemProcessor,omitempty"`
	MaxConcurrency             int             `json:"MaxConcurrency,omitempty"`
	ToleratedFailurePercentage *int            `json:"ToleratedFailurePercentage,omitempty"`
	Label                      string          `json:"Label,omitempty"`
	ResultSelector             map[string]any  `json:"ResultSelector,omitempty"`
	ResultPath                 json.RawMessage `json:"ResultPath,omitempty"`
	OutputPath                 string          `json:"OutputPath,omitempty"`
	TimeoutSeconds             int64           `json:"TimeoutSeconds,omitempty"`
	Retry                      []aslRetrier    `json:"Retry,omitempty"`
	Catch                      []aslCatch      `json:"Catch,omitempty"`
	Choices                    []aslChoice     `json:"Choices,omitempty"`
	Default                    string          `json:"Default,omitempty"`
	Next                       string          `json:"Next,omitempty"`
	End                        bool            `json:"End,omitempty"`
	Error                      string          `json:"Error,omitempty"`
	Cause                      string          `json:"Cause,omitempty"`
}

type aslProcessor struct {
	ProcessorConfig map[string]string   `json:"ProcessorConfig"`
	StartAt         string              `json:"StartAt"`
	States          map[string]aslState `json:"States"`
}

type aslChoice struct {
	And  []aslCondition `json:"And"`
	Next string         `json:"Next"`
}

type aslCondition struct {
	Variable      string `json:"Variable"`
	IsPresent     *bool  `json:"IsPresent,omitempty"`
	BooleanEquals *bool  `json:"BooleanEquals,omitempty"`
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
