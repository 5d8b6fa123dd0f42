package prom_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	metrics "github.com/txpipe/txpipe/telemetry/prom"
)

// The workflow engine's Observer port, as the engine declares it: *Metrics
// must keep satisfying it.
type observer interface {
	StepFinished(step string, d time.Duration, err error)
	StepRetried(step string)
	RunFinished(status string, c txpipe.Counts)
}

var _ observer = (*metrics.Metrics)(nil)

func TestMetricsText(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	m.Upload(txpipe.UploadAccepted)
	m.Upload(txpipe.UploadRejected)
	m.RowsValidated(3)
	m.RowsRejected(5)
	m.StepFinished("Transform", 20*time.Millisecond, nil)
	m.StepFinished("Transform", time.Millisecond, txpipe.Errorf(txpipe.ETRANSIENT, "throttled"))
	m.StepFinished("Notify", time.Millisecond, errors.New("boom"))
	m.StepRetried("Transform")
	m.RunFinished(txpipe.StatusCompleted, txpipe.Counts{Inserted: 2, Updated: 1})
	m.HTTPRequest("POST /upload", 202, 5*time.Millisecond)
	depth := 0.0
	m.SetDLQDepth(func() float64 { return depth })
	depth = 4

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`txpipe_uploads_total{result="accepted"} 1`,
		`txpipe_uploads_total{result="rejected"} 1`,
		`txpipe_uploads_total{result="known"} 0`,
		`txpipe_rows_validated_total 3`,
		`txpipe_rows_rejected_total 5`,
		`txpipe_step_duration_seconds_count{result="ok",step="Transform"} 1`,
		`txpipe_step_duration_seconds_count{result="transient",step="Transform"} 1`,
		`txpipe_step_duration_seconds_count{result="internal",step="Notify"} 1`,
		`txpipe_step_retries_total{step="Transform"} 1`,
		`txpipe_runs_finished_total{status="COMPLETED"} 1`,
		`txpipe_rows_ingested_total{outcome="inserted"} 2`,
		`txpipe_rows_ingested_total{outcome="updated"} 1`,
		`txpipe_rows_ingested_total{outcome="unchanged"} 0`,
		`txpipe_dlq_depth 4`,
		`txpipe_http_request_duration_seconds_count{code="202",route="POST /upload"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics text lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics text:\n%s", text)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.Upload(txpipe.UploadAccepted)
	m.StepFinished("Transform", time.Second, nil)
	m.StepRetried("Transform")
	m.RunFinished(txpipe.StatusFailed, txpipe.Counts{})
	m.HTTPRequest("GET /healthz", 200, time.Millisecond)
	m.SetDLQDepth(func() float64 { return 1 })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got, want := rec.Code, 404; got != want {
		t.Fatalf("nil Metrics handler status = %d, want %d", got, want)
	}
}
