package telemetry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/telemetry"
)

// emfLine is the part of an EMF document CloudWatch reads.
type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

func parseLines(t *testing.T, b []byte) []map[string]json.RawMessage {
	t.Helper()
	var docs []map[string]json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// TestEMFFollowsTheSpec checks what CloudWatch requires of each line: one
// JSON object per line with _aws.Timestamp in epoch milliseconds, every
// dimension key and every metric name a top-level member, dimension values
// strings, metric values numbers.
func TestEMFFollowsTheSpec(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := telemetry.NewEMF(&buf, "txpipe", map[string]string{"Function": "transformer", "Service": "txpipe"}, func() time.Time { return at })
	e.RowsWritten("f1", txpipe.Counts{Inserted: 7, Updated: 2, Unchanged: 1})
	e.StepRetried("Transform")
	e.StepFinished("Transform", 1500*time.Millisecond, txpipe.Errorf(txpipe.ETRANSIENT, "throttled"))

	docs := parseLines(t, buf.Bytes())
	if got, want := len(docs), 3; got != want {
		t.Fatalf("lines = %d, want %d:\n%s", got, want, buf.String())
	}
	for i, doc := range docs {
		var meta emfLine
		raw, _ := json.Marshal(doc)
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		if got, want := meta.AWS.Timestamp, at.UnixMilli(); got != want {
			t.Errorf("line %d: Timestamp = %d, want %d", i, got, want)
		}
		if got := len(meta.AWS.CloudWatchMetrics); got != 1 {
			t.Fatalf("line %d: %d directives, want 1", i, got)
		}
		d := meta.AWS.CloudWatchMetrics[0]
		if d.Namespace != "txpipe" {
			t.Errorf("line %d: Namespace = %q", i, d.Namespace)
		}
		if len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 2 {
			t.Errorf("line %d: Dimensions = %v, want one set of 2", i, d.Dimensions)
		}
		for _, set := range d.Dimensions {
			for _, k := range set {
				var v string
				if err := json.Unmarshal(doc[k], &v); err != nil {
					t.Errorf("line %d: dimension %s = %s, want a string", i, k, doc[k])
				}
			}
		}
		if len(d.Metrics) == 0 {
			t.Errorf("line %d: no metrics", i)
		}
		for _, m := range d.Metrics {
			var v float64
			if err := json.Unmarshal(doc[m.Name], &v); err != nil {
				t.Errorf("line %d: metric %s = %s, want a number", i, m.Name, doc[m.Name])
			}
		}
	}
	var written, retries float64
	var fileID string
	json.Unmarshal(docs[0]["RowsWritten"], &written)
	json.Unmarshal(docs[0]["file_id"], &fileID)
	json.Unmarshal(docs[1]["Retries"], &retries)
	if written != 10 || fileID != "f1" || retries != 1 {
		t.Errorf("RowsWritten = %v, file_id = %q, Retries = %v; want 10, f1, 1", written, fileID, retries)
	}
	var errName string
	json.Unmarshal(docs[2]["error"], &errName)
	if errName != "TransientError" {
		t.Errorf("error property = %q, want TransientError", errName)
	}
}

func TestEMFRepeatedMetricIsAList(t *testing.T) {
	var buf bytes.Buffer
	e := telemetry.NewEMF(&buf, "ns", nil, nil)
	if err := e.Put(nil, telemetry.Metric{Name: "Latency", Unit: telemetry.UnitMilliseconds, Value: 1},
		telemetry.Metric{Name: "Latency", Unit: telemetry.UnitMilliseconds, Value: 2}); err != nil {
		t.Fatal(err)
	}
	docs := parseLines(t, buf.Bytes())
	var vals []float64
	if err := json.Unmarshal(docs[0]["Latency"], &vals); err != nil || len(vals) != 2 {
		t.Fatalf("Latency = %s, want a list of 2 values", docs[0]["Latency"])
	}
}

func TestEMFRejectsMetricNamedLikeDimension(t *testing.T) {
	var buf bytes.Buffer
	e := telemetry.NewEMF(&buf, "ns", map[string]string{"Function": "x"}, nil)
	if err := e.Put(nil, telemetry.Metric{Name: "Function", Value: 1}); err == nil {
		t.Fatal("Put accepted a metric named like a dimension")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestEMFNilAndFailingWriter(t *testing.T) {
	var e *telemetry.EMF
	e.RowsRejected(3) // a nil EMF records nothing and does not panic
	if err := telemetry.NewEMF(failingWriter{}, "ns", nil, nil).Put(nil, telemetry.Metric{Name: "X", Value: 1}); err == nil {
		t.Fatal("Put on a failing writer returned nil")
	}
}

// TestEMFEmitsTheSharedNames drives every recorder method and checks that
// the metric names written are exactly awsnames.Metrics(), the list the CDK
// stack's dashboard and alarms read, in awsnames.MetricsNamespace.
func TestEMFEmitsTheSharedNames(t *testing.T) {
	if txpipe.UploadRejected != "rejected" {
		t.Fatalf("txpipe.UploadRejected = %q; telemetry counts FilesRejected on \"rejected\"", txpipe.UploadRejected)
	}
	var buf bytes.Buffer
	e := telemetry.NewEMF(&buf, awsnames.MetricsNamespace, map[string]string{awsnames.MetricDimFunction: "validator"}, nil)
	e.RowsWritten("f1", txpipe.Counts{Inserted: 1})
	e.Upload(txpipe.UploadAccepted)
	e.Upload(txpipe.UploadRejected)
	e.RowsValidated(3)
	e.RowsRejected(2)
	e.StepFinished("Transform", time.Second, errors.New("boom"))
	e.StepRetried("Transform")
	e.RunFinished(txpipe.StatusCompleted, txpipe.Counts{})
	e.RunFinished(txpipe.StatusFailed, txpipe.Counts{})

	emitted := map[string]bool{}
	for _, doc := range parseLines(t, buf.Bytes()) {
		var meta emfLine
		raw, _ := json.Marshal(doc)
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		for _, d := range meta.AWS.CloudWatchMetrics {
			if d.Namespace != awsnames.MetricsNamespace {
				t.Errorf("namespace %q, want %q", d.Namespace, awsnames.MetricsNamespace)
			}
			for _, m := range d.Metrics {
				emitted[m.Name] = true
			}
		}
	}
	want := map[string]bool{}
	for _, m := range awsnames.Metrics() {
		want[m] = true
		if !emitted[m] {
			t.Errorf("awsnames lists metric %s, which no recorder method emits", m)
		}
	}
	for m := range emitted {
		if !want[m] {
			t.Errorf("metric %s is emitted but not listed in awsnames.Metrics()", m)
		}
	}
}
