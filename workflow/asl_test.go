package workflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe/workflow"
)

// machine is the part of the States Language the tests read.
type machine struct {
	StartAt string
	States  map[string]state
}

type state struct {
	Type          string
	Resource      string
	Parameters    map[string]any
	OutputPath    string
	ItemsPath     string
	ItemSelector  map[string]any
	ItemProcessor *struct {
		ProcessorConfig map[string]string
		StartAt         string
		States          map[string]state
	}
	MaxConcurrency             int
	ToleratedFailurePercentage *int
	Choices                    []struct {
		And []struct {
			Variable      string
			IsPresent     *bool
			BooleanEquals *bool
		}
		Next string
	}
	Default        string
	ResultPath     *string // nil when null
	TimeoutSeconds int
	Retry          []struct {
		ErrorEquals     []string
		IntervalSeconds int
		MaxAttempts     int
		BackoffRate     float64
		MaxDelaySeconds int
		JitterStrategy  string
	}
	Catch []struct {
		ErrorEquals []string
		ResultPath  *string
		Next        string
	}
	Next  string
	End   bool
	Error string
	Cause string
}

func decode(t *testing.T, def workflow.Definition) machine {
	t.Helper()
	b, err := workflow.ASL(def)
	if err != nil {
		t.Fatalf("ASL: %v", err)
	}
	var m machine
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode ASL: %v\n%s", err, b)
	}
	return m
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

func TestASLPipelineStructure(t *testing.T) {
	t.Parallel()
	def := workflow.Pipeline()
	m := decode(t, def)

	if got, want := m.StartAt, workflow.StepValidate; got != want {
		t.Errorf("StartAt = %q, want %q", got, want)
	}
	// Each step, the Choice after Validate, Rejected and RunFailed.
	if got, want := len(m.States), len(def.Steps)+len(def.OnFailure)+3; got != want {
		t.Errorf("%d states, want %d", got, want)
	}

	// The main path: Validate -> (rejected?) -> Split -> Transform (map) ->
	// Finish -> Notify (end), each task through the optimised Lambda
	// integration with a StepInput payload whose result replaces the state.
	wantNext := map[string]string{
		workflow.StepValidate: workflow.StepValidate + "Outcome", workflow.StepSplit: workflow.StepTransform,
		workflow.StepTransform: workflow.StepFinish, workflow.StepFinish: workflow.StepNotify,
	}
	wantFunction := map[string]string{
		workflow.StepValidate:   "${ValidatorFunctionArn}",
		workflow.StepSplit:      "${ValidatorFunctionArn}",
		workflow.StepTransform:  "${TransformerFunctionArn}",
		workflow.StepFinish:     "${TransformerFunctionArn}",
		workflow.StepNotify:     "${NotifierFunctionArn}",
		workflow.StepMarkFailed: "${NotifierFunctionArn}",
	}
	checkTask := func(name string, s state, step workflow.Step, payload any) {
		t.Helper()
		if s.Type != "Task" || s.Resource != "arn:aws:states:::lambda:invoke" {
			t.Errorf("%s: %s %q, want a Task on arn:aws:states:::lambda:invoke", name, s.Type, s.Resource)
		}
		if got, want := s.Parameters["FunctionName"], wantFunction[step.Name]; got != want {
			t.Errorf("%s: FunctionName = %v, want %v", name, got, want)
		}
		if got := s.Parameters["Payload"]; payload != nil && !reflectEqual(got, payload) {
			t.Errorf("%s: Payload = %v, want %v", name, got, payload)
		}
		if str(s.ResultPath) != "$" || s.OutputPath != "$.Payload" {
			t.Errorf("%s: ResultPath %s OutputPath %q, want $ and $.Payload", name, str(s.ResultPath), s.OutputPath)
		}
		if got, want := s.TimeoutSeconds, int(step.Timeout/time.Second); got != want {
			t.Errorf("%s: TimeoutSeconds = %d, want %d", name, got, want)
		}
		if len(s.Retry) != 1 || !slices.Equal(s.Retry[0].ErrorEquals, workflow.DefaultRetry().RetryOn) {
			t.Errorf("%s: Retry = %+v, want DefaultRetry's", name, s.Retry)
		}
	}
	for _, step := range def.Steps {
		s, ok := m.States[step.Name]
		if !ok {
			t.Fatalf("no state %q", step.Name)
		}
		if step.Map != nil {
			if s.Type != "Map" || s.ItemsPath != "$.chunks" || str(s.ResultPath) != "$.chunk_results" {
				t.Errorf("%s: %s over %q into %s, want a Map over $.chunks into $.chunk_results", step.Name, s.Type, s.ItemsPath, str(s.ResultPath))
			}
			if s.MaxConcurrency != step.Map.MaxConcurrency || s.MaxConcurrency < 1 {
				t.Errorf("%s: MaxConcurrency = %d, want %d", step.Name, s.MaxConcurrency, step.Map.MaxConcurrency)
			}
			if s.ToleratedFailurePercentage == nil || *s.ToleratedFailurePercentage != 0 {
				t.Errorf("%s: ToleratedFailurePercentage = %v, want 0", step.Name, s.ToleratedFailurePercentage)
			}
			p := s.ItemProcessor
			if p == nil || p.ProcessorConfig["Mode"] != "DISTRIBUTED" || p.ProcessorConfig["ExecutionType"] != "EXPRESS" {
				t.Fatalf("%s: ItemProcessor = %+v, want a DISTRIBUTED one of EXPRESS children", step.Name, p)
			}
			if s.ItemSelector["chunk.$"] != "$$.Map.Item.Value" || s.ItemSelector["step"] != step.Name {
				t.Errorf("%s: ItemSelector = %v, want the step and the chunk", step.Name, s.ItemSelector)
			}
			child := p.States[p.StartAt]
			checkTask(step.Name+" child", child, step, nil)
			if child.Parameters["Payload.$"] != "$" || !child.End {
				t.Errorf("%s child: Parameters %v End %v, want Payload.$ = $ and End", step.Name, child.Parameters, child.End)
			}
			if w := step.ChildWorstCase(); w >= workflow.ExpressLimit {
				t.Errorf("%s: a child can run %v, not within Express's %v", step.Name, w, workflow.ExpressLimit)
			}
		} else {
			checkTask(step.Name, s, step, map[string]any{"step": step.Name, "state.$": "$"})
		}
		if next, ok := wantNext[step.Name]; ok {
			if s.Next != next || s.End {
				t.Errorf("%s: Next = %q End = %v, want Next %q", step.Name, s.Next, s.End, next)
			}
		} else if !s.End || s.Next != "" {
			t.Errorf("%s: Next = %q End = %v, want End", step.Name, s.Next, s.End)
		}
		if len(s.Catch) != 1 {
			t.Fatalf("%s: %d catchers, want 1", step.Name, len(s.Catch))
		}
		c := s.Catch[0]
		if !slices.Equal(c.ErrorEquals, []string{"States.ALL"}) || str(c.ResultPath) != "$.error" || c.Next != workflow.StepMarkFailed {
			t.Errorf("%s: Catch = %v %s -> %s, want [States.ALL] $.error -> %s", step.Name, c.ErrorEquals, str(c.ResultPath), c.Next, workflow.StepMarkFailed)
		}
	}
	choice := m.States[workflow.StepValidate+"Outcome"]
	if choice.Type != "Choice" || len(choice.Choices) != 1 || choice.Choices[0].Next != workflow.StateRejected || choice.Default != workflow.StepSplit {
		t.Errorf("Choice after Validate = %+v, want rejected -> Rejected, else Split", choice)
	}
	if got := m.States[workflow.StateRejected].Type; got != "Succeed" {
		t.Errorf("Rejected: Type = %q, want Succeed", got)
	}

	// The failure path: MarkFailed -> SendToDeadLetterQueue -> RunFailed,
	// each going on when it fails too, with the state unchanged.
	mark := m.States[workflow.StepMarkFailed]
	checkTask("MarkFailed", mark, def.OnFailure[0], map[string]any{"step": workflow.StepMarkFailed, "state.$": "$"})
	if mark.Next != workflow.StepSendToDLQ {
		t.Errorf("MarkFailed: Next = %q, want %q", mark.Next, workflow.StepSendToDLQ)
	}
	dlq := m.States[workflow.StepSendToDLQ]
	if got, want := dlq.Resource, "arn:aws:states:::sqs:sendMessage"; got != want {
		t.Errorf("SendToDeadLetterQueue: Resource = %q, want %q", got, want)
	}
	if got, want := dlq.Parameters, map[string]any{"QueueUrl": "${DeadLetterQueueUrl}", "MessageBody.$": "$"}; !maps.Equal(got, want) {
		t.Errorf("SendToDeadLetterQueue: Parameters = %v, want %v", got, want)
	}
	if dlq.ResultPath != nil {
		t.Errorf("SendToDeadLetterQueue: ResultPath = %s, want null (keep the state)", *dlq.ResultPath)
	}
	if dlq.Next != workflow.StateRunFailed {
		t.Errorf("SendToDeadLetterQueue: Next = %q, want %q", dlq.Next, workflow.StateRunFailed)
	}
	for _, name := range []string{workflow.StepMarkFailed, workflow.StepSendToDLQ} {
		s := m.States[name]
		if len(s.Catch) != 1 || s.Catch[0].Next != s.Next || s.Catch[0].ResultPath != nil {
			t.Errorf("%s: Catch = %+v, want one going on to %q with ResultPath null", name, s.Catch, s.Next)
		}
	}
	fail := m.States[workflow.StateRunFailed]
	if fail.Type != "Fail" || fail.Error != workflow.RunFailedError || fail.Cause == "" {
		t.Errorf("RunFailed = %+v, want a Fail state with Error %q and a Cause", fail, workflow.RunFailedError)
	}
}

func reflectEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestASLRetryFromPolicy(t *testing.T) {
	t.Parallel()
	policy := workflow.RetryPolicy{
		MaxAttempts: 5,
		Interval:    2 * time.Second,
		BackoffRate: 1.5,
		MaxDelay:    10 * time.Second,
		FullJitter:  true,
		RetryOn:     []string{"TransientError", "States.Timeout"},
	}
	noJitter := policy
	noJitter.FullJitter = false
	once := policy
	once.MaxAttempts = 1
	def := workflow.Definition{
		Name: "test",
		Steps: []workflow.Step{
			{Name: "A", Function: workflow.FunctionTransformer, Retry: policy, Timeout: 90 * time.Second},
			{Name: "B", Function: workflow.FunctionNotifier, Retry: noJitter, Timeout: time.Second},
			{Name: "C", Function: workflow.FunctionNotifier, Retry: once, Timeout: time.Second},
		},
		OnFailure: []workflow.Step{
			{Name: "D", Function: workflow.FunctionDeadLetter, Retry: policy, Timeout: 5 * time.Second},
		},
	}
	m := decode(t, def)

	a := m.States["A"]
	if len(a.Retry) != 1 {
		t.Fatalf("A: %d retriers, want 1", len(a.Retry))
	}
	r := a.Retry[0]
	if !slices.Equal(r.ErrorEquals, policy.RetryOn) {
		t.Errorf("A: ErrorEquals = %v, want %v", r.ErrorEquals, policy.RetryOn)
	}
	if got, want := r.MaxAttempts, 4; got != want {
		t.Errorf("A: MaxAttempts = %d, want %d (retries after the first of 5 attempts)", got, want)
	}
	if got, want := r.IntervalSeconds, 2; got != want {
		t.Errorf("A: IntervalSeconds = %d, want %d", got, want)
	}
	if got, want := r.BackoffRate, 1.5; got != want {
		t.Errorf("A: BackoffRate = %v, want %v", got, want)
	}
	if got, want := r.MaxDelaySeconds, 10; got != want {
		t.Errorf("A: MaxDelaySeconds = %d, want %d", got, want)
	}
	if got, want := r.JitterStrategy, "FULL"; got != want {
		t.Errorf("A: JitterStrategy = %q, want %q", got, want)
	}
	if got, want := a.TimeoutSeconds, 90; got != want {
		t.Errorf("A: TimeoutSeconds = %d, want %d", got, want)
	}
	if got := m.States["B"].Retry[0].JitterStrategy; got != "" {
		t.Errorf("B: JitterStrategy = %q, want none", got)
	}
	if got := m.States["C"].Retry; len(got) != 0 {
		t.Errorf("C: Retry = %+v, want none for a policy of one attempt", got)
	}
	if got, want := m.States["D"].Retry[0].ErrorEquals, []string{"States.TaskFailed", "States.Timeout"}; !slices.Equal(got, want) {
		t.Errorf("D (dead letter): ErrorEquals = %v, want %v", got, want)
	}
	if got, want := m.States["D"].Retry[0].MaxAttempts, 4; got != want {
		t.Errorf("D: MaxAttempts = %d, want %d", got, want)
	}
}

// The default pipeline's retry matches DefaultRetry: 3 attempts means 2
// retries, and the local engine's policy is the one Step Functions runs.
func TestASLPipelineRetryIsDefaultRetry(t *testing.T) {
	t.Parallel()
	m := decode(t, workflow.Pipeline())
	p := workflow.DefaultRetry()
	for _, name := range []string{workflow.StepValidate, workflow.StepSplit, workflow.StepFinish, workflow.StepNotify, workflow.StepMarkFailed, workflow.StepTransform} {
		r := m.States[name].Retry
		if name == workflow.StepTransform {
			ip := m.States[name].ItemProcessor
			r = ip.States[ip.StartAt].Retry
		}
		if len(r) != 1 {
			t.Fatalf("%s: %d retriers, want 1", name, len(r))
		}
		if got, want := r[0].MaxAttempts, p.MaxAttempts-1; got != want {
			t.Errorf("%s: MaxAttempts = %d, want %d", name, got, want)
		}
		if got, want := r[0].IntervalSeconds, int(p.Interval/time.Second); got != want {
			t.Errorf("%s: IntervalSeconds = %d, want %d", name, got, want)
		}
		if got, want := r[0].BackoffRate, p.BackoffRate; got != want {
			t.Errorf("%s: BackoffRate = %v, want %v", name, got, want)
		}
		if got, want := r[0].MaxDelaySeconds, int(p.MaxDelay/time.Second); got != want {
			t.Errorf("%s: MaxDelaySeconds = %d, want %d", name, got, want)
		}
		if !slices.Equal(r[0].ErrorEquals, p.RetryOn) {
			t.Errorf("%s: ErrorEquals = %v, want %v", name, r[0].ErrorEquals, p.RetryOn)
		}
		if !slices.Contains(r[0].ErrorEquals, workflow.TransientErrorName) {
			t.Errorf("%s: not retried on %s", name, workflow.TransientErrorName)
		}
	}
}

func TestASLEveryStateReachable(t *testing.T) {
	t.Parallel()
	m := decode(t, workflow.Pipeline())
	reached := map[string]bool{}
	queue := []string{m.StartAt}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if reached[name] {
			continue
		}
		s, ok := m.States[name]
		if !ok {
			t.Errorf("transition to %q, which is not a state", name)
			continue
		}
		reached[name] = true
		if s.Next != "" {
			queue = append(queue, s.Next)
		}
		for _, c := range s.Catch {
			queue = append(queue, c.Next)
		}
		for _, c := range s.Choices {
			queue = append(queue, c.Next)
		}
		if s.Default != "" {
			queue = append(queue, s.Default)
		}
		if s.Type == "Task" && s.Next == "" && !s.End {
			t.Errorf("%s: a task with neither Next nor End", name)
		}
	}
	for name := range m.States {
		if !reached[name] {
			t.Errorf("state %q is not reachable from %q", name, m.StartAt)
		}
	}
}

func TestASLDeterministic(t *testing.T) {
	t.Parallel()
	a, err := workflow.ASL(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := workflow.ASL(workflow.Pipeline())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("ASL output differs between calls:\n%s\n%s", a, b)
		}
	}
}

func TestSubstitutions(t *testing.T) {
	t.Parallel()
	got, err := workflow.Substitutions(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{workflow.SubstDeadLetterQueueURL, workflow.SubstNotifierArn, workflow.SubstTransformerArn, workflow.SubstValidatorArn}
	if !slices.Equal(got, want) {
		t.Errorf("Substitutions = %v, want %v", got, want)
	}
	b, err := workflow.ASL(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	// Every placeholder in the document is one of them, and each is used.
	for _, name := range want {
		if !bytes.Contains(b, []byte("${"+name+"}")) {
			t.Errorf("ASL does not use ${%s}", name)
		}
	}
	if n, w := bytes.Count(b, []byte("${")), 7; n != w { // Validate, Split, Transform's child, Finish, Notify, MarkFailed, the queue
		t.Errorf("%d placeholders in ASL, want %d", n, w)
	}
	if _, err := workflow.Substitution("nope"); err == nil {
		t.Error("Substitution of an unknown function: no error")
	}
}

func TestASLRejectsInvalidDefinitions(t *testing.T) {
	t.Parallel()
	ok := workflow.Step{Name: "A", Function: workflow.FunctionTransformer, Retry: workflow.DefaultRetry(), Timeout: time.Second}
	with := func(f func(*workflow.Step)) workflow.Step {
		s := ok
		f(&s)
		return s
	}
	tests := []struct {
		name string
		def  workflow.Definition
		want string
	}{
		{"no steps", workflow.Definition{Name: "x"}, "no steps"},
		{"duplicate", workflow.Definition{Steps: []workflow.Step{ok, ok}}, "is taken"},
		{"reserved name", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Name = workflow.StateRunFailed })}}, "is taken"},
		{"unknown function", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Function = "nope" })}}, "no definition substitution"},
		{"fractional timeout", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Timeout = 1500 * time.Millisecond })}}, "whole number of seconds"},
		{"no timeout", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Timeout = 0 })}}, "at least 1s"},
		{"no attempts", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Retry.MaxAttempts = 0 })}}, "MaxAttempts"},
		{"sub-second interval", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Retry.Interval = time.Millisecond })}}, "retry interval"},
		{"shrinking backoff", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Retry.BackoffRate = 0.5 })}}, "backoff rate"},
		{"no retry errors", workflow.Definition{Steps: []workflow.Step{with(func(s *workflow.Step) { s.Retry.RetryOn = nil })}}, "no RetryOn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := workflow.ASL(tt.def)
			if err == nil {
				t.Fatalf("ASL: no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ASL error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestASLValidator checks the pipeline's States Language with the
// asl-validator npm package (installed by scripts/test.sh).
func TestASLValidator(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	bin, err := filepath.Abs(filepath.Join("..", "node_modules", ".bin", "asl-validator"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("asl-validator is missing (run npm ci at the repository root): %v", err)
		}
		t.Skipf("asl-validator is missing (run npm ci at the repository root): %v", err)
	}
	b, err := workflow.ASL(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pipeline.asl.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--json-path", path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("asl-validator rejects the pipeline: %v\n%s\n%s", err, out, b)
	}
	if err != nil {
		t.Fatalf("run asl-validator: %v\n%s", err, out)
	}

	// The validator catches a broken document: a transition to no state.
	broken := bytes.Replace(b, []byte(`"Next": "Notify"`), []byte(`"Next": "Nowhere"`), 1)
	if bytes.Equal(broken, b) {
		t.Fatal("no transition to Notify to break")
	}
	if err := os.WriteFile(path, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), bin, "--json-path", path).CombinedOutput(); err == nil {
		t.Errorf("asl-validator accepts a transition to a missing state:\n%s", out)
	}
}
