package workflow_test

import (
	"testing"

	"github.com/txpipe/txpipe/workflow"
)

// The pipeline must end within an Express execution's 5 minutes even when
// every attempt times out, or a slow run would be cut off before it is
// marked FAILED and sent to the dead-letter queue.
func TestPipelineFitsExpressLimit(t *testing.T) {
	def := workflow.Pipeline()
	if got := def.WorstCase(); got > workflow.ExpressLimit {
		t.Errorf("worst case %v, over the Express limit of %v", got, workflow.ExpressLimit)
	}
	for _, s := range append(def.Steps, def.OnFailure...) {
		if s.Timeout <= 0 || s.Retry.MaxAttempts != 3 {
			t.Errorf("step %s: timeout %v, %d attempts; want a timeout and 3 attempts", s.Name, s.Timeout, s.Retry.MaxAttempts)
		}
	}
}
