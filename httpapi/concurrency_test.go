package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/httpapi/httpapitest"
)

// TestConcurrentUploads sends 200 uploads of small files at once through
// the real handler (key checks, spooling, hashing, validation, stores) and
// reports the p50 and p99 latency. Every upload must be answered 202.
//
//	go test ./httpapi -run TestConcurrentUploads -v
func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	const n = 200
	e := newEnv(t, envOptions{})
	tr := httpapitest.Transport(n)
	defer tr.CloseIdleConnections()
	c := &httpapi.Client{Endpoint: e.url, APIKey: e.key, HTTP: &http.Client{Transport: tr}}

	files := make([]string, n)
	for i := range files {
		files[i] = validCSV(fmt.Sprintf("conc%03d", i), 20)
	}
	load := httpapitest.UploadAll(t.Context(), c, files)
	for i, err := range load.Errors {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	if got, want := e.runs.count(), n; got != want {
		t.Errorf("runs started = %d, want %d", got, want)
	}
	logServerDurations(t, e.logs.String())
	t.Logf("%d-byte files: %v", len(files[0]), load)
}

// logServerDurations reports the percentiles of the request durations the
// server logged.
func logServerDurations(t *testing.T, logs string) {
	var ds []float64
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http request" {
			ds = append(ds, m["duration_ms"].(float64))
		}
	}
	slices.Sort(ds)
	if len(ds) > 0 {
		t.Logf("server-side durations: n=%d p50=%.1fms p99=%.1fms max=%.1fms", len(ds), ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1])
	}
}

// BenchmarkUpload measures one upload of a small new file through the
// whole handler, with as many in flight as -cpu says.
//
//	go test ./httpapi -run '^$' -bench Upload
func BenchmarkUpload(b *testing.B) {
	e := newEnv(b, envOptions{})
	c := e.client()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := validCSV(fmt.Sprintf("bench%d", seq.Add(1)), 20)
			res, err := c.Upload(b.Context(), "b.csv", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			if !res.Created() {
				b.Errorf("answered %d, want 202", res.StatusCode)
				return
			}
		}
	})
}
