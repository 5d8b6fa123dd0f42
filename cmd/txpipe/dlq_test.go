package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe/workflow"
)

// TestDLQListAndRedrive: a failed run in the local dead-letter queue is
// listed, a redrive while its job still exists changes nothing, and a
// redrive after it records a fresh job and empties the queue.
func TestDLQListAndRedrive(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	db := openDB(t, dataDir)
	ctx := context.Background()
	st := workflow.RunState{FileID: "f1", FileKey: "ab", Filename: "a.csv", Rows: 3,
		Error: &workflow.StepError{Error: "TransientError", Cause: "table unavailable"}}
	if err := db.SendDeadLetter(ctx, st); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := localCLI(t, dataDir, "dlq", "list", "--json")
	var list struct {
		Items []deadLetter `json:"items"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 ||
		list.Items[0].FileID != "f1" || !strings.Contains(list.Items[0].Failure, "table unavailable") {
		t.Fatalf("dlq list = %d %q %q", code, out, errOut)
	}

	// The failed run's job is still there (its failure path is finishing).
	if err := db.EnqueueJob(ctx, workflow.Job{FileID: "f1", Phase: workflow.PhaseFail, Step: 1, State: st, DueAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = localCLI(t, dataDir, "dlq", "redrive", "f1")
	if code != exitUsage || !strings.Contains(errOut, "still running") {
		t.Fatalf("redrive with a live job = %d %q, want exit 2 and why", code, errOut)
	}
	if n, _ := db.DeadLetterCount(ctx); n != 1 {
		t.Fatalf("dead letters after a refused redrive: %d, want 1", n)
	}

	if err := db.DeleteJob(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = localCLI(t, dataDir, "dlq", "redrive", "f1", "--json") // flags after the argument
	if code != exitOK || !strings.Contains(out, `"redriven": true`) {
		t.Fatalf("redrive = %d %q %q", code, out, errOut)
	}
	if n, _ := db.DeadLetterCount(ctx); n != 0 {
		t.Errorf("dead letters after the redrive: %d, want 0", n)
	}
	job, err := db.ClaimJob(ctx, time.Now().Add(time.Second), time.Minute)
	if err != nil || job == nil || job.Phase != workflow.PhaseRun || job.Step != 0 || job.State.Error != nil || job.State.FileKey != "ab" {
		t.Fatalf("job after redrive = %+v, %v; want a fresh run of f1 without its error", job, err)
	}

	code, _, _ = localCLI(t, dataDir, "dlq", "redrive", "nope")
	if n, _ := db.JobCount(ctx); code != exitRejected || n != 1 {
		t.Errorf("redrive of an unknown file = %d and %d jobs, want 1 (not found) and no new job", code, n)
	}
	if code, _, _ := localCLI(t, dataDir, "dlq", "list", "-h"); code != exitOK {
		t.Errorf("dlq list -h = %d, want 0", code)
	}
}
