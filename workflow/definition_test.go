package workflow_test

import (
	"slices"
	"testing"
	"time"

	"github.com/txpipe/txpipe/workflow"
)

// The run is a Standard execution (no time limit), but each chunk runs in
// an Express child that must end within 5 minutes even when every attempt
// times out; and every Lambda function times out strictly before the tasks
// that invoke it, so Step Functions never retries an attempt still running.
func TestPipelineLimits(t *testing.T) {
	t.Parallel()
	def := workflow.Pipeline()
	maps := 0
	for _, s := range append(def.Steps, def.OnFailure...) {
		if s.Timeout <= 0 || s.Retry.MaxAttempts != 3 {
			t.Errorf("step %s: timeout %v, %d attempts; want a timeout and 3 attempts", s.Name, s.Timeout, s.Retry.MaxAttempts)
		}
		if s.Map != nil {
			maps++
			if got := s.ChildWorstCase(); got >= workflow.ExpressLimit {
				t.Errorf("map step %s: a child can run %v, over the Express limit of %v", s.Name, got, workflow.ExpressLimit)
			}
		}
		if s.Function == workflow.FunctionDeadLetter {
			continue
		}
		if ft := workflow.FunctionTimeout(def, s.Function); ft <= 0 || ft >= s.Timeout {
			t.Errorf("step %s: function %s times out after %v, want strictly below the task's %v", s.Name, s.Function, ft, s.Timeout)
		}
	}
	if maps != 1 {
		t.Errorf("%d map steps, want 1 (Transform)", maps)
	}
	for _, e := range []string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
		"Lambda.ClientExecutionTimeoutException", "Lambda.TooManyRequestsException", "States.Timeout", workflow.TransientErrorName} {
		if !slices.Contains(workflow.DefaultRetry().RetryOn, e) {
			t.Errorf("DefaultRetry does not retry %s", e)
		}
	}
	if got := workflow.FunctionTimeout(def, "nope"); got != 0 {
		t.Errorf("FunctionTimeout of a function with no step = %v, want 0", got)
	}
}

func TestConcurrencyFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ ceiling, want int }{{0, 2}, {4000, 2}, {1000, 1}, {40000, 20}, {100, 1}} {
		if got := workflow.ConcurrencyFor(c.ceiling); got != c.want {
			t.Errorf("ConcurrencyFor(%d) = %d, want %d", c.ceiling, got, c.want)
		}
	}
	if got := workflow.PipelineFor(40000).Steps[2].Map.MaxConcurrency; got != 20 {
		t.Errorf("PipelineFor(40000) map concurrency %d, want 20", got)
	}
	if got, want := workflow.ChunkRowsFor(1_000_000), int64(workflow.DefaultChunkRows); got != want {
		t.Errorf("ChunkRowsFor(1M) = %d, want %d", got, want)
	}
	if got := workflow.ChunkRowsFor(60_000_000); got*workflow.MaxChunks < 60_000_000 {
		t.Errorf("ChunkRowsFor(60M) = %d: more than %d chunks", got, workflow.MaxChunks)
	}
	_ = time.Second
}

// The local engine cuts a file into at most LocalChunks chunks of whole
// CutRows, none smaller than LocalChunkRows but the last: a 1M-row file
// gets 4 chunks, a 10M-row file 20 (each ends with a commit of the store's
// shards); AWS keeps its smaller chunks.
func TestChunkRowsWithinLocal(t *testing.T) {
	t.Parallel()
	if got, want := workflow.ChunkRowsWithin(1_000_000, workflow.LocalChunks, workflow.LocalChunkRows), int64(workflow.LocalChunkRows); got != want {
		t.Errorf("ChunkRowsWithin(1M, LocalChunks, LocalChunkRows) = %d, want %d", got, want)
	}
	for _, rows := range []int64{1, 2_000_000, 2_000_001, 10_000_000, 60_000_000} {
		per := workflow.ChunkRowsWithin(rows, workflow.LocalChunks, workflow.LocalChunkRows)
		if per < workflow.LocalChunkRows || per%workflow.CutRows != 0 {
			t.Errorf("ChunkRowsWithin(%d, LocalChunks, LocalChunkRows) = %d: below %d or not whole cuts of %d", rows, per, workflow.LocalChunkRows, workflow.CutRows)
		}
		if chunks := (rows + per - 1) / per; chunks > workflow.LocalChunks {
			t.Errorf("ChunkRowsWithin(%d, LocalChunks, LocalChunkRows) = %d: %d chunks, more than %d", rows, per, chunks, workflow.LocalChunks)
		}
		if got, want := workflow.ChunkRowsWithin(rows, 0, 0), workflow.ChunkRowsFor(rows); got != want {
			t.Errorf("ChunkRowsWithin(%d, 0, 0) = %d, ChunkRowsFor %d", rows, got, want)
		}
	}
	if got, want := workflow.ChunkRowsWithin(10_000_000, workflow.LocalChunks, workflow.LocalChunkRows), int64(500_000); got != want {
		t.Errorf("a 10M-row file's local chunks are %d rows, want %d (at most %d chunks)", got, want, workflow.LocalChunks)
	}
	if per := workflow.ChunkRowsWithin(1_000_000, workflow.LocalChunks, workflow.LocalChunkRows); per <= workflow.ChunkRowsFor(1_000_000) {
		t.Errorf("a 1M-row file's local chunks (%d rows) are no larger than on AWS (%d)", per, workflow.ChunkRowsFor(1_000_000))
	}
}
