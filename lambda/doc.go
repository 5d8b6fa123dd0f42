// Package lambda holds txpipe's AWS Lambda handlers, thin adapters from
// Lambda events to the code the local server runs too:
//
//   - API serves API Gateway REST proxy events (the validator function) with
//     the httpapi handler, converting each event to an *http.Request and the
//     response back;
//   - StepHandler serves Step Functions task events (the transformer and notifier
//     functions) with workflow.Tasks, returning transient errors so that the
//     state machine's retry policy matches them.
//
// Handlers are plain func(ctx, In) (Out, error) for aws-lambda-go; the
// bootstrap binary in cmd/txpipe-lambda picks one and starts the runtime.
package lambda
