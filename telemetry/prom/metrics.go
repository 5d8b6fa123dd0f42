// Package prom is txpipe's metrics in Prometheus: uploads, rows, workflow
// steps and runs, the dead-letter queue's depth and HTTP request latency.
// *Metrics implements httpapi.Metrics and workflow.Observer for the local
// server, which serves them at /metrics; telemetry.EMF implements the same
// ports in CloudWatch's embedded metric format for the Lambda functions.
package prom

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/txpipe/txpipe"
)

// Metrics are txpipe's collectors. The zero value is not usable; call New.
// A nil *Metrics is valid and records nothing, so callers need no checks.
type Metrics struct {
	reg prometheus.Registerer

	uploads       *prometheus.CounterVec
	rowsValidated prometheus.Counter
	rowsRejected  prometheus.Counter
	rowsIngested  *prometheus.CounterVec
	stepDuration  *prometheus.HistogramVec
	stepRetries   *prometheus.CounterVec
	runsFinished  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec

	mu       sync.Mutex
	dlqDepth func() float64
}

// New creates the collectors and registers them on reg. It panics if they
// are registered on reg already (as prometheus.MustRegister does): call it
// once per registry.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "txpipe_uploads_total",
			Help: "Uploads by result: accepted, known (same bytes as an earlier upload), rejected or error.",
		}, []string{"result"}),
		rowsValidated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "txpipe_rows_validated_total",
			Help: "Data rows of accepted files, all of them valid.",
		}),
		rowsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "txpipe_rows_rejected_total",
			Help: "Data rows of rejected files.",
		}),
		rowsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "txpipe_rows_ingested_total",
			Help: "Transactions written by finished runs, by outcome: inserted, updated or unchanged.",
		}, []string{"outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "txpipe_step_duration_seconds",
			Help:    "Duration of one attempt of a workflow step, by step and result (ok or the error code).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"step", "result"}),
		stepRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "txpipe_step_retries_total",
			Help: "Retries of workflow steps after transient errors, by step.",
		}, []string{"step"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "txpipe_runs_finished_total",
			Help: "Workflow runs that ended, by final status (COMPLETED or FAILED).",
		}, []string{"status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "txpipe_http_request_duration_seconds",
			Help:    "Latency of HTTP requests, by route pattern and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
	}
	dlq := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "txpipe_dlq_depth",
		Help: "Failed runs waiting in the dead-letter queue.",
	}, m.readDLQDepth)
	reg.MustRegister(m.uploads, m.rowsValidated, m.rowsRejected, m.rowsIngested,
		m.stepDuration, m.stepRetries, m.runsFinished, m.httpDuration, dlq)
	for _, o := range []string{"inserted", "updated", "unchanged"} {
		m.rowsIngested.WithLabelValues(o)
	}
	for _, r := range []string{txpipe.UploadAccepted, txpipe.UploadKnown, txpipe.UploadRejected, txpipe.UploadError} {
		m.uploads.WithLabelValues(r)
	}
	return m
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors, for a server to pass to New and serve with Handler.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics of the registry m was created with in the
// Prometheus text format. The registry must also be a prometheus.Gatherer
// (a *prometheus.Registry is); otherwise, and for a nil m, it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	g, ok := m.reg.(prometheus.Gatherer)
	if !ok {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// SetDLQDepth sets the function the DLQ depth gauge reads at each scrape.
// Until it is set the gauge reads 0.
func (m *Metrics) SetDLQDepth(f func() float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.dlqDepth = f
	m.mu.Unlock()
}

func (m *Metrics) readDLQDepth() float64 {
	m.mu.Lock()
	f := m.dlqDepth
	m.mu.Unlock()
	if f == nil {
		return 0
	}
	return f()
}

// Upload counts one upload with its result (UploadAccepted, ...).
func (m *Metrics) Upload(result string) {
	if m == nil {
		return
	}
	m.uploads.WithLabelValues(result).Inc()
}

// RowsValidated counts n rows of an accepted file.
func (m *Metrics) RowsValidated(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.rowsValidated.Add(float64(n))
}

// RowsRejected counts n rows of a rejected file.
func (m *Metrics) RowsRejected(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.rowsRejected.Add(float64(n))
}

// StepFinished records one attempt of a workflow step: its duration and
// its result, "ok" or the txpipe error code of err.
func (m *Metrics) StepFinished(step string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = txpipe.ErrorCode(err)
	}
	m.stepDuration.WithLabelValues(step, result).Observe(d.Seconds())
}

// StepRetried counts a retry of step.
func (m *Metrics) StepRetried(step string) {
	if m == nil {
		return
	}
	m.stepRetries.WithLabelValues(step).Inc()
}

// RunFinished counts a run that ended with status and the rows it wrote.
func (m *Metrics) RunFinished(status string, c txpipe.Counts) {
	if m == nil {
		return
	}
	m.runsFinished.WithLabelValues(status).Inc()
	m.rowsIngested.WithLabelValues("inserted").Add(float64(c.Inserted))
	m.rowsIngested.WithLabelValues("updated").Add(float64(c.Updated))
	m.rowsIngested.WithLabelValues("unchanged").Add(float64(c.Unchanged))
}

// HTTPRequest records the latency of one HTTP request by route pattern
// and status code.
func (m *Metrics) HTTPRequest(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpDuration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}
