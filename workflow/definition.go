package workflow

import (
	"math/rand/v2"
	"time"
)

// Function names: which of the three Lambda functions runs a step. The
// local engine runs every step in process.
const (
	FunctionValidator   = "validator"
	FunctionTransformer = "transformer"
	FunctionNotifier    = "notifier"
	// FunctionDeadLetter is not a Lambda function: the step sends the run's
	// state to the dead-letter queue (an SQS integration on AWS).
	FunctionDeadLetter = "dead-letter"
)

// Step names.
const (
	StepValidate       = "Validate"
	StepSplit          = "Split"
	StepTransform      = "Transform"
	StepFinish         = "Finish"
	StateRejected      = "Rejected"
	StepNotify         = "Notify"
	StepMarkFailed     = "MarkFailed"
	StepSendToDLQ      = "SendToDeadLetterQueue"
	StateRunFailed     = "RunFailed"
	TransientErrorName = "TransientError"
)

// Step is one state of the workflow.
type Step struct {
	Name     string
	Function string
	Retry    RetryPolicy
	// Timeout bounds one attempt on AWS (the Task's TimeoutSeconds; the
	// Lambda function's own timeout is below it, see FunctionTimeout). The
	// local engine has no such limit and lets a step take what it needs.
	Timeout time.Duration
	// Map, if set, makes the step a map over the run's chunks: Function
	// runs once per chunk (on AWS in an Express child execution of a
	// Distributed Map; locally in parallel across the engine's workers),
	// each chunk retried by Retry, and the step's output is the run state
	// with ChunkResults.
	Map *MapSpec
	// EndIfRejected ends the run (successfully: the file is REJECTED, not
	// failed) when the step's output has Rejected set.
	EndIfRejected bool
}

// MapSpec tunes a map step.
type MapSpec struct {
	// MaxConcurrency is how many chunks are written at once on AWS (see
	// ConcurrencyFor).
	MaxConcurrency int
}

// FunctionMargin is how much sooner than its tasks' timeouts a Lambda
// function times out, so Step Functions never gives up on an attempt (and
// retries it) while the attempt still runs.
const FunctionMargin = 5 * time.Second

// FunctionTimeout returns the timeout of function's Lambda: FunctionMargin
// below the shortest Timeout of the steps it runs, so it is strictly below
// every task's timeout. It is 0 when def gives function no step.
func FunctionTimeout(def Definition, function string) time.Duration {
	var t time.Duration
	for _, s := range append(append([]Step{}, def.Steps...), def.OnFailure...) {
		if s.Function == function && (t == 0 || s.Timeout < t) {
			t = s.Timeout
		}
	}
	if t == 0 {
		return 0
	}
	return max(t-FunctionMargin, time.Second)
}

// RetryPolicy says how a step is retried on transient errors.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included
	Interval    time.Duration // delay before the first retry
	BackoffRate float64       // each further delay is the previous one times this
	MaxDelay    time.Duration // cap on one delay
	FullJitter  bool          // each delay is drawn uniformly from [0, delay]
	// RetryOn names the errors retried on AWS (Step Functions ErrorEquals);
	// the local engine retries the errors txpipe.IsTransient accepts.
	RetryOn []string
}

// Delay returns how long to wait before attempt (2 for the first retry).
func (p RetryPolicy) Delay(attempt int) time.Duration {
	d := float64(p.Interval)
	for i := 2; i < attempt; i++ {
		d *= p.BackoffRate
	}
	if p.MaxDelay > 0 && d > float64(p.MaxDelay) {
		d = float64(p.MaxDelay)
	}
	if p.FullJitter && d > 0 {
		d = rand.Float64() * d
	}
	return time.Duration(d)
}

// Definition is a workflow: steps run in order, each retried by its
// policy; when one still fails, the OnFailure steps run in order and the run
// ends failed.
type Definition struct {
	Name      string
	Comment   string
	Steps     []Step
	OnFailure []Step
}

// DefaultRetry returns the policy of every step after validation: 3
// attempts, exponential back-off from 1 s doubling, full jitter. Each call
// returns a fresh value, so no caller can change another's policy.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{
		MaxAttempts: 3,
		Interval:    time.Second,
		BackoffRate: 2,
		MaxDelay:    30 * time.Second,
		FullJitter:  true,
		RetryOn: []string{
			TransientErrorName,
			"Lambda.ServiceException",
			"Lambda.AWSLambdaException",
			"Lambda.SdkClientException",
			"Lambda.ClientExecutionTimeoutException",
			"Lambda.TooManyRequestsException",
			"States.Timeout",
		},
	}
}

// ExpressLimit is the longest a Step Functions Express execution may run.
const ExpressLimit = 5 * time.Minute

// WorstCase is the longest a run of def can take when every attempt times
// out and every retry waits its longest: the slowest path through the steps
// (a step that succeeds on its last attempt, the next failing for good) and
// then the whole failure path.
func (def Definition) WorstCase() time.Duration {
	var run, fail time.Duration
	for _, s := range def.Steps {
		run += s.worstCase()
	}
	for _, s := range def.OnFailure {
		fail += s.worstCase()
	}
	return run + fail
}

// Write-rate defaults (see ConcurrencyFor).
const (
	// DefaultWriteCeiling is the DynamoDB write units a second the
	// transform may use: what a new on-demand table absorbs at first.
	DefaultWriteCeiling = 4000
	// WritesPerRow is the write units one row costs: the item and its
	// by-day index entry.
	WritesPerRow = 2
	// ChunkWriteRate is the rows a second one chunk writer sustains
	// (BatchWriteItem of 25, a few in flight), measured against DynamoDB
	// Local and assumed on AWS.
	ChunkWriteRate = 1000
)

// ConcurrencyFor returns the chunks written at once under a ceiling of
// writeCeiling write units a second: each chunk writer uses ChunkWriteRate
// rows, WritesPerRow units each; at least 1.
func ConcurrencyFor(writeCeiling int) int {
	if writeCeiling <= 0 {
		writeCeiling = DefaultWriteCeiling
	}
	return max(1, writeCeiling/(WritesPerRow*ChunkWriteRate))
}

// Pipeline is PipelineFor(DefaultWriteCeiling).
func Pipeline() Definition { return PipelineFor(DefaultWriteCeiling) }

// PipelineFor is txpipe's workflow, for a DynamoDB write ceiling of
// writeCeiling units a second (docs/workflow.md says what each step does):
//
//	Validate -> (rejected: end) -> Split -> Transform (a map over chunks)
//	-> Finish -> Notify; on failure MarkFailed -> SendToDeadLetterQueue.
func PipelineFor(writeCeiling int) Definition {
	return Definition{
		Name:    "txpipe",
		Comment: "txpipe: validate a file, write its transactions in chunks, then notify",
		Steps: []Step{
			// The validator reads up to 5 GB from S3; its Lambda gets 895 s.
			{Name: StepValidate, Function: FunctionValidator, Retry: DefaultRetry(), Timeout: 900 * time.Second, EndIfRejected: true},
			{Name: StepSplit, Function: FunctionValidator, Retry: DefaultRetry(), Timeout: 900 * time.Second},
			// A chunk (DefaultChunkRows rows) takes about 20 s at
			// ChunkWriteRate; 3 attempts of 80 s fit an Express child.
			{Name: StepTransform, Function: FunctionTransformer, Retry: DefaultRetry(), Timeout: 80 * time.Second,
				Map: &MapSpec{MaxConcurrency: ConcurrencyFor(writeCeiling)}},
			{Name: StepFinish, Function: FunctionTransformer, Retry: DefaultRetry(), Timeout: 80 * time.Second},
			{Name: StepNotify, Function: FunctionNotifier, Retry: DefaultRetry(), Timeout: 30 * time.Second},
		},
		OnFailure: []Step{
			{Name: StepMarkFailed, Function: FunctionNotifier, Retry: DefaultRetry(), Timeout: 30 * time.Second},
			{Name: StepSendToDLQ, Function: FunctionDeadLetter, Retry: DefaultRetry(), Timeout: 30 * time.Second},
		},
	}
}

// ChildWorstCase is the longest the Express child execution of a map step
// can take: every attempt timing out, every retry waiting its longest.
func (s Step) ChildWorstCase() time.Duration { return s.worstCase() }

// worstCase is the longest s can take: every attempt timing out, every
// retry waiting its longest.
func (s Step) worstCase() time.Duration {
	n := max(s.Retry.MaxAttempts, 1)
	d := time.Duration(n) * s.Timeout
	for a := 2; a <= n; a++ {
		p := s.Retry
		p.FullJitter = false
		d += p.Delay(a)
	}
	return d
}
