package telemetry

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/workflow"
)

// Metric units of CloudWatch used here.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// Metric names written by EMF (written once, in internal/awsnames, which
// the CDK stack's dashboard and alarms read too).
const (
	MetricRowsValidated = awsnames.MetricRowsValidated // data rows of accepted files
	MetricRowsRejected  = awsnames.MetricRowsRejected  // data rows of rejected files
	MetricRowsWritten   = awsnames.MetricRowsWritten   // transactions written by a transform (inserted+updated+unchanged)
	MetricRowsInserted  = awsnames.MetricRowsInserted
	MetricRowsUpdated   = awsnames.MetricRowsUpdated
	MetricRowsUnchanged = awsnames.MetricRowsUnchanged
	MetricRetries       = awsnames.MetricRetries      // transient step errors, each retried by the workflow's policy
	MetricStepDuration  = awsnames.MetricStepDuration // one attempt of a step
	MetricStepErrors    = awsnames.MetricStepErrors   // step attempts that failed
	MetricRunsFinished  = awsnames.MetricRunsFinished // runs that ended (property status)
	MetricRunsFailed    = awsnames.MetricRunsFailed   // runs that ended FAILED
	MetricUploads       = awsnames.MetricUploads      // uploads (property result)
	MetricFilesRejected = awsnames.MetricFilesRejected
)

// uploadRejected is the result of an upload rejected as an invalid file
// (txpipe.UploadRejected; a test holds them equal).
const uploadRejected = "rejected"

// Metric is one value of an EMF line.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// EMF writes metrics in CloudWatch Embedded Metric Format: one JSON object
// per line, its _aws.CloudWatchMetrics envelope naming which top-level
// members are metrics and which dimensions. In Lambda, whatever the function
// writes to stdout reaches CloudWatch Logs, which extracts the metrics: no
// API calls, no credentials, no latency.
//
// A nil *EMF writes nothing. It is safe for concurrent use.
type EMF struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	dims      map[string]string
	dimKeys   []string
	now       func() time.Time
}

// NewEMF returns a writer of EMF lines to w (os.Stdout on Lambda) in the
// CloudWatch namespace, each line carrying dims as its one dimension set.
// now is time.Now if nil.
func NewEMF(w io.Writer, namespace string, dims map[string]string, now func() time.Time) *EMF {
	if now == nil {
		now = time.Now
	}
	return &EMF{w: w, namespace: namespace, dims: maps.Clone(dims), dimKeys: slices.Sorted(maps.Keys(dims)), now: now}
}

type emfMetricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type emfDirective struct {
	Namespace  string         `json:"Namespace"`
	Dimensions [][]string     `json:"Dimensions"`
	Metrics    []emfMetricDef `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// Put writes one line holding ms, the dimensions and props (high-cardinality
// context such as a file id: searchable in Logs Insights, not a dimension).
// Props never override the metrics, the dimensions or _aws.
func (e *EMF) Put(props map[string]any, ms ...Metric) error {
	if e == nil || len(ms) == 0 {
		return nil
	}
	doc := make(map[string]any, len(props)+len(e.dims)+len(ms)+1)
	maps.Copy(doc, props)
	for k, v := range e.dims {
		doc[k] = v
	}
	defs := make([]emfMetricDef, 0, len(ms))
	for _, m := range ms {
		if _, isDim := e.dims[m.Name]; isDim {
			return fmt.Errorf("emf: metric %q has a dimension's name", m.Name)
		}
		if i := slices.IndexFunc(defs, func(d emfMetricDef) bool { return d.Name == m.Name }); i >= 0 {
			// Repeated names become a list of values, as EMF allows.
			switch v := doc[m.Name].(type) {
			case []float64:
				doc[m.Name] = append(v, m.Value)
			case float64:
				doc[m.Name] = []float64{v, m.Value}
			}
			continue
		}
		defs = append(defs, emfMetricDef{Name: m.Name, Unit: m.Unit})
		doc[m.Name] = m.Value
	}
	dims := [][]string{e.dimKeys}
	if len(e.dimKeys) == 0 {
		dims = [][]string{{}}
	}
	doc["_aws"] = emfMeta{
		Timestamp:         e.now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: e.namespace, Dimensions: dims, Metrics: defs}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: encode metrics: %w", err)
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(line); err != nil {
		return fmt.Errorf("emf: write metrics: %w", err)
	}
	return nil
}

// put is Put for the recorder methods, which have no error to return: a
// metric that cannot be written is not worth failing a step for.
func (e *EMF) put(props map[string]any, ms ...Metric) { _ = e.Put(props, ms...) }

// RowsWritten records what a transform wrote for a file.
func (e *EMF) RowsWritten(fileID string, c txpipe.Counts) {
	e.put(map[string]any{"file_id": fileID},
		Metric{MetricRowsWritten, UnitCount, float64(c.Total())},
		Metric{MetricRowsInserted, UnitCount, float64(c.Inserted)},
		Metric{MetricRowsUpdated, UnitCount, float64(c.Updated)},
		Metric{MetricRowsUnchanged, UnitCount, float64(c.Unchanged)},
	)
}

// Upload records an upload's result (txpipe.UploadAccepted, ...).
func (e *EMF) Upload(result string) {
	ms := []Metric{{MetricUploads, UnitCount, 1}}
	if result == uploadRejected {
		ms = append(ms, Metric{MetricFilesRejected, UnitCount, 1})
	}
	e.put(map[string]any{"result": result}, ms...)
}

// RowsValidated records the rows of an accepted file.
func (e *EMF) RowsValidated(n int64) {
	e.put(nil, Metric{MetricRowsValidated, UnitCount, float64(n)})
}

// RowsRejected records the rows of a rejected file.
func (e *EMF) RowsRejected(n int64) {
	e.put(nil, Metric{MetricRowsRejected, UnitCount, float64(n)})
}

// StepFinished records one attempt of a step. It implements
// workflow.Observer, as StepRetried and RunFinished do.
func (e *EMF) StepFinished(step string, d time.Duration, err error) {
	ms := []Metric{{MetricStepDuration, UnitMilliseconds, float64(d) / float64(time.Millisecond)}}
	props := map[string]any{"step": step}
	if err != nil {
		ms = append(ms, Metric{MetricStepErrors, UnitCount, 1})
		props["error"] = workflow.ErrorName(err)
	}
	e.put(props, ms...)
}

// StepRetried records a retry of step after a transient error.
func (e *EMF) StepRetried(step string) {
	e.put(map[string]any{"step": step}, Metric{MetricRetries, UnitCount, 1})
}

// RunFinished records a run that ended with status.
func (e *EMF) RunFinished(status string, c txpipe.Counts) {
	ms := []Metric{{MetricRunsFinished, UnitCount, 1}}
	if status == txpipe.StatusFailed {
		ms = append(ms, Metric{MetricRunsFailed, UnitCount, 1})
	}
	e.put(map[string]any{"status": status}, ms...)
}

var _ workflow.Observer = (*EMF)(nil)
