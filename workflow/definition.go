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
	StepTransform      = "Transform"
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
	// Timeout bounds one attempt on AWS, where the whole Express execution
	// must end within 5 minutes (see ExpressLimit). The local engine has no
	// such limit and lets a step take as long as a large file needs.
	Timeout time.Duration
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

// DefaultRetry is the policy of every step after validation: 3 attempts,
// exponential back-off from 1 s doubling, full jitter.
var DefaultRetry = RetryPolicy{
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
		"Lambda.TooManyRequestsException",
		"States.Timeout",
	},
}

// ExpressLimit is the longest a Step Functions Express execution may run.
const ExpressLimit = 5 * time.Minute

// WorstCase is the longest a run of def can take when every attempt times
// out and every retry waits its longest: the slowest path through the steps
// (a step that succeeds on its last attempt, the next failing for good) and
// then the whole failure path.
func (def Definition) WorstCase() time.Duration {
	worst := func(s Step) time.Duration {
		n := max(s.Retry.MaxAttempts, 1)
		d := time.Duration(n) * s.Timeout
		for a := 2; a <= n; a++ {
			p := s.Retry
			p.FullJitter = false
			d += p.Delay(a)
		}
		return d
	}
	var run, fail time.Duration
	for _, s := range def.Steps {
		run += worst(s)
	}
	for _, s := range def.OnFailure {
		fail += worst(s)
	}
	return run + fail
}

// Pipeline is txpipe's workflow, after a file was validated and stored:
// transform and write its rows, then notify; on failure mark it FAILED,
// notify the failure and send its state to the dead-letter queue. Its step
// timeouts keep the worst case within ExpressLimit: a transform attempt has
// 60 s, which covers the largest file API Gateway takes (10 MB, about
// 110,000 rows) at DynamoDB's on-demand write rates.
func Pipeline() Definition {
	return Definition{
		Name:    "txpipe",
		Comment: "txpipe: transform and store a validated file's transactions, then notify",
		Steps: []Step{
			{Name: StepTransform, Function: FunctionTransformer, Retry: DefaultRetry, Timeout: 60 * time.Second},
			{Name: StepNotify, Function: FunctionNotifier, Retry: DefaultRetry, Timeout: 10 * time.Second},
		},
		OnFailure: []Step{
			{Name: StepMarkFailed, Function: FunctionNotifier, Retry: DefaultRetry, Timeout: 10 * time.Second},
			{Name: StepSendToDLQ, Function: FunctionDeadLetter, Retry: DefaultRetry, Timeout: 10 * time.Second},
		},
	}
}
