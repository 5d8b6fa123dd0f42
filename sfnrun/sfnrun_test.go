package sfnrun

// There is no Step Functions emulator on these machines (no Java, no
// Docker), so these tests run the real SDK client over real HTTP against a
// small loopback server that decodes the StartExecution request as the
// service receives it (AWS JSON 1.0 protocol) and checks it.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/workflow"
)

const machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:txpipe-dev"

type startRequest struct {
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Input           string `json:"input"`
}

// fakeStepFunctions records StartExecution requests; fail, if set, is the
// error type to answer with.
type fakeStepFunctions struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []startRequest
	fail string
}

func (f *fakeStepFunctions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got, want := r.Header.Get("X-Amz-Target"), "AWSStepFunctions.StartExecution"; got != want {
		f.t.Errorf("X-Amz-Target = %q, want %q", got, want)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		f.t.Errorf("Content-Type = %q, want application/x-amz-json-1.0", got)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("request not signed with SigV4: Authorization = %q", r.Header.Get("Authorization"))
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Error(err)
	}
	var req startRequest
	if err := json.Unmarshal(b, &req); err != nil {
		f.t.Errorf("decode StartExecution body %s: %v", b, err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	fail := f.fail
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if fail != "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.swf.service.v2.model#`+fail+`","message":"injected"}`)
		return
	}
	_, _ = io.WriteString(w, `{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:txpipe-dev:`+req.Name+`","startDate":1767225600.5}`)
}

func newStarter(t *testing.T) (*Starter, *fakeStepFunctions) {
	f := &fakeStepFunctions{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := sfn.NewFromConfig(awstest.Config(srv.URL), func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
	s := New(c, machineARN)
	s.now = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }
	return s, f
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestStartRun(t *testing.T) {
	s, f := newStarter(t)
	st := workflow.RunState{FileID: "0123456789abcdef0123456789abcdef", FileKey: strings.Repeat("ab", 32), Filename: "march.csv", Rows: 1000}
	for range 2 {
		if err := s.StartRun(t.Context(), st); err != nil {
			t.Fatalf("StartRun: %v", err)
		}
	}
	if len(f.reqs) != 2 {
		t.Fatalf("%d StartExecution requests, want 2", len(f.reqs))
	}
	for _, req := range f.reqs {
		if req.StateMachineArn != machineARN {
			t.Errorf("stateMachineArn = %q, want %q", req.StateMachineArn, machineARN)
		}
		if !nameRE.MatchString(req.Name) || !strings.HasPrefix(req.Name, st.FileID+"-20260304T050607Z-") {
			t.Errorf("name = %q, want the file id, the time and a suffix, Step Functions' characters only", req.Name)
		}
		var got workflow.RunState
		if err := json.Unmarshal([]byte(req.Input), &got); err != nil {
			t.Fatalf("input %q: %v", req.Input, err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("input = %+v, want %+v", got, st)
		}
	}
	if f.reqs[0].Name == f.reqs[1].Name {
		t.Errorf("two runs of one file got the same execution name %q", f.reqs[0].Name)
	}
}

func TestExecutionName(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	for _, id := range []string{"", "a b/c:d*é", strings.Repeat("x", 200)} {
		name, err := ExecutionName(id, at)
		if err != nil {
			t.Fatal(err)
		}
		if !nameRE.MatchString(name) || !strings.Contains(name, "-20260304T040607Z-") {
			t.Errorf("ExecutionName(%q) = %q: not a valid name with the UTC time", id, name)
		}
	}
}

func TestStartRunErrors(t *testing.T) {
	for fail, want := range map[string]string{
		"StateMachineDoesNotExist": txpipe.ENOTFOUND,
		"ExecutionLimitExceeded":   txpipe.ETRANSIENT,
		"ThrottlingException":      txpipe.ETRANSIENT,
		"InvalidExecutionInput":    txpipe.EINVALID,
	} {
		s, f := newStarter(t)
		f.fail = fail
		err := s.StartRun(t.Context(), workflow.RunState{FileID: "f"})
		if got := txpipe.ErrorCode(err); got != want {
			t.Errorf("%s: error %v (code %q), want code %q", fail, err, got, want)
		}
	}
}

// TestTwoStepExecutionPerTenant: the execution of a two-step upload is
// named by the whole scoped file id, so the same bytes of two tenants
// (even of a 32-character tenant name) are two executions.
func TestTwoStepExecutionPerTenant(t *testing.T) {
	s, f := newStarter(t)
	id := "0123456789abcdef0123456789abcdef"
	long := strings.Repeat("t", txpipe.MaxTenantLen)
	for _, tenant := range []string{txpipe.DefaultTenant, "acme", long} {
		st := workflow.RunState{FileID: txpipe.ScopedFileID(tenant, id), FileKey: strings.Repeat("ab", 32), UploadKey: "incoming/x"}
		if err := s.StartRun(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, req := range f.reqs {
		if !nameRE.MatchString(req.Name) || len(req.Name) > 80 {
			t.Errorf("name %q: not a Step Functions name", req.Name)
		}
		names = append(names, req.Name)
	}
	if want := []string{id, "acme_" + id, long + "_" + id}; !reflect.DeepEqual(names, want) {
		t.Errorf("execution names = %q, want %q", names, want)
	}
}
