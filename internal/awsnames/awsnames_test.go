package awsnames_test

import (
	"testing"

	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/workflow"
)

// Every function of the workflow has its environment listed.
func TestFunctionEnv(t *testing.T) {
	for _, fn := range []string{workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier} {
		if len(awsnames.FunctionEnv(fn)) == 0 {
			t.Errorf("FunctionEnv(%q) is empty", fn)
		}
	}
	if got := awsnames.FunctionEnv("nope"); got != nil {
		t.Errorf("FunctionEnv(nope) = %v, want nil", got)
	}
}

func TestMetricsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range awsnames.Metrics() {
		if seen[m] {
			t.Errorf("metric %s listed twice", m)
		}
		seen[m] = true
	}
}
