package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe/httpapi"
)

// TestConcurrentUploads sends 200 uploads of small files at once through
// the real handler (key checks, spooling, hashing, validation, stores) and
// reports the p50 and p99 latency. Every upload must be answered 202.
//
//	go test ./httpapi -run TestConcurrentUploads -v
func TestConcurrentUploads(t *testing.T) {
	const n = 200
	e := newEnv(t, envOptions{})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n
	c := &httpapi.Client{Endpoint: e.url, APIKey: e.key, HTTP: &http.Client{Transport: tr}}
	defer tr.CloseIdleConnections()

	files := make([]string, n)
	for i := range files {
		files[i] = validCSV(fmt.Sprintf("conc%03d", i), 20)
	}
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			res, err := c.Upload(t.Context(), fmt.Sprintf("f%d.csv", i), strings.NewReader(files[i]))
			lat[i] = time.Since(t0)
			if err == nil && !res.Created() {
				err = fmt.Errorf("answered %d, want 202", res.StatusCode)
			}
			errs[i] = err
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	if got, want := e.runs.count(), n; got != want {
		t.Errorf("runs started = %d, want %d", got, want)
	}
	logServerDurations(t, e.logs.String())
	slices.Sort(lat)
	p50, p99 := lat[n*50/100], lat[n*99/100]
	t.Logf("%d concurrent uploads of %d-byte files: p50 %v, p99 %v, max %v, wall %v (%.0f uploads/s)",
		n, len(files[0]), p50.Round(time.Microsecond), p99.Round(time.Microsecond), lat[n-1].Round(time.Microsecond),
		wall.Round(time.Millisecond), float64(n)/wall.Seconds())
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
