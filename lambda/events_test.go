package lambda_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

func readEBEvent(t *testing.T, name string) events.EventBridgeEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

type startedRuns struct {
	mu     sync.Mutex
	states []workflow.RunState
}

func (r *startedRuns) StartRun(ctx context.Context, st workflow.RunState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, st)
	return nil
}

// An S3 Object Created event (EventBridge) for the incoming prefix starts
// the run of the file whose SHA-256 names the object; other keys start
// nothing.
func TestObjectCreatedStartsRun(t *testing.T) {
	runs := &startedRuns{}
	o := &lambda.Objects{Runs: runs, FileKeyOf: s3store.FileKeyOfIncoming}
	ev := readEBEvent(t, "eventbridge-s3-object-created.json")
	if err := o.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	sum := "5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2"
	want := workflow.RunState{FileID: txpipe.FileIDFromSHA256(sum), FileKey: sum, UploadKey: "incoming/" + sum, SizeBytes: 812345678}
	if len(runs.states) != 1 || runs.states[0].FileID != want.FileID || runs.states[0].FileKey != want.FileKey ||
		runs.states[0].UploadKey != want.UploadKey || runs.states[0].SizeBytes != want.SizeBytes {
		t.Fatalf("runs started = %+v, want %+v", runs.states, want)
	}

	var d map[string]any
	json.Unmarshal(ev.Detail, &d)
	d["object"].(map[string]any)["key"] = "uploads/" + sum
	ev.Detail, _ = json.Marshal(d)
	if err := o.Handle(t.Context(), ev); err != nil {
		t.Fatalf("object outside incoming/: %v, want it ignored", err)
	}
	if len(runs.states) != 1 {
		t.Errorf("an object outside incoming/ started a run")
	}

	// Through the Mux, as the validator function receives it.
	raw, _ := os.ReadFile(filepath.Join("testdata", "events", "eventbridge-s3-object-created.json"))
	m := &lambda.Mux{Objects: o.Handle}
	if _, err := m.Handle(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if len(runs.states) != 2 {
		t.Errorf("the Mux did not pass the event to Objects")
	}
	if _, err := m.Handle(t.Context(), json.RawMessage(`{"httpMethod": "GET"}`)); err == nil {
		t.Error("Mux without an API handler served an API Gateway event")
	}
}

type notes struct {
	mu   sync.Mutex
	list []txpipe.Notification
}

func (n *notes) Notify(ctx context.Context, m txpipe.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, m)
	return nil
}

// An execution that timed out (the real EventBridge event of a Step
// Functions status change) ends FAILED, notified and in the dead-letter
// queue; one that ended through the workflow's own failure path is left
// alone.
func TestTimedOutExecutionIsFailedAndDeadLettered(t *testing.T) {
	db, err := sqlite.Open(t.Context(), sqlitetest.Seed(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := readEBEvent(t, "eventbridge-sfn-timed-out.json")
	fileID := "5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1"
	now := time.Now().UTC()
	if _, _, err := db.CreateStatus(t.Context(), &txpipe.FileStatus{FileID: fileID, Status: txpipe.StatusProcessing,
		SHA256: "5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	n := &notes{}
	steps := &workflow.Tasks{Statuses: db, Notifier: n, DeadLetters: db}
	x := &lambda.Executions{Steps: steps, DeadLetters: db}
	raw, _ := os.ReadFile(filepath.Join("testdata", "events", "eventbridge-sfn-timed-out.json"))
	m := &lambda.Mux{Executions: x.Handle}
	if _, err := m.Handle(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	st, err := db.GetStatus(t.Context(), fileID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusFailed || !strings.Contains(st.Failure, "timed out") {
		t.Errorf("status %s failure %q, want FAILED saying it timed out", st.Status, st.Failure)
	}
	if len(n.list) != 1 || n.list[0].Status != txpipe.StatusFailed {
		t.Errorf("notifications %+v, want one FAILED", n.list)
	}
	dl, err := db.GetDeadLetter(t.Context(), fileID)
	if err != nil || dl.State.Error == nil || dl.State.Error.Error != "States.Timeout" || dl.State.UploadKey == "" {
		t.Fatalf("dead letter %+v, %v; want the run's state with States.Timeout", dl, err)
	}

	// Ended by the workflow's Fail state: handled already.
	var d map[string]any
	json.Unmarshal(ev.Detail, &d)
	d["status"], d["error"] = "FAILED", workflow.RunFailedError
	ev.Detail, _ = json.Marshal(d)
	if err := x.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if len(n.list) != 1 {
		t.Errorf("a run failed through the workflow was notified again: %+v", n.list)
	}
	// A succeeded execution is no failure.
	d["status"], d["error"] = "SUCCEEDED", nil
	ev.Detail, _ = json.Marshal(d)
	if err := x.Handle(t.Context(), ev); err != nil || len(n.list) != 1 {
		t.Errorf("SUCCEEDED execution: %v, %d notifications; want nothing done", err, len(n.list))
	}
}

// TestObjectCreatedOfTenant: the bytes a tenant's upload URL sends land
// under incoming/TENANT/ and start that tenant's run; a malformed tenant
// part starts nothing.
func TestObjectCreatedOfTenant(t *testing.T) {
	runs := &startedRuns{}
	o := &lambda.Objects{Runs: runs, FileKeyOf: s3store.FileKeyOfIncoming, TenantOf: func(key string) string {
		tenant, _, _ := s3store.TenantFileKeyOfIncoming(key)
		return tenant
	}}
	ev := readEBEvent(t, "eventbridge-s3-object-created.json")
	sum := "5f1b6cbd9c0b2b3b7c2e2fa6b5f4c4a1d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2"
	for _, key := range []string{s3store.TenantIncomingKey("acme", sum), "incoming/Not A Tenant/" + sum, "incoming/a/b/" + sum} {
		var d map[string]any
		json.Unmarshal(ev.Detail, &d)
		d["object"].(map[string]any)["key"] = key
		ev.Detail, _ = json.Marshal(d)
		if err := o.Handle(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(runs.states) != 1 || runs.states[0].FileID != "acme#"+txpipe.FileIDFromSHA256(sum) || runs.states[0].FileKey != sum ||
		runs.states[0].UploadKey != "incoming/acme/"+sum {
		t.Fatalf("runs started = %+v, want acme's run only", runs.states)
	}
}
