// Package httpapitest drives a txpipe API for tests and benchmarks, as
// net/http/httptest does for handlers.
package httpapitest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/txpipe/txpipe/httpapi"
)

// Load is the outcome of a burst of uploads.
type Load struct {
	Latencies []time.Duration // sorted, one an upload
	Errors    []error         // by upload; nil for an upload answered 202
	Wall      time.Duration   // from the first request to the last answer
}

// UploadAll sends every body as its own upload at the same moment (after
// one start signal) and waits for all answers. Anything but a 202 is an
// error. The client should keep enough idle connections (see Transport).
func UploadAll(ctx context.Context, c *httpapi.Client, bodies []string) Load {
	n := len(bodies)
	l := Load{Latencies: make([]time.Duration, n), Errors: make([]error, n)}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			res, err := c.Upload(ctx, fmt.Sprintf("load-%04d.csv", i), strings.NewReader(bodies[i]))
			l.Latencies[i] = time.Since(t0)
			if err == nil && !res.Created() {
				err = fmt.Errorf("answered %d, want 202", res.StatusCode)
			}
			l.Errors[i] = err
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	l.Wall = time.Since(t0)
	slices.Sort(l.Latencies)
	return l
}

// Percentile returns the latency below which p percent of the uploads
// were answered.
func (l Load) Percentile(p int) time.Duration {
	if len(l.Latencies) == 0 {
		return 0
	}
	return l.Latencies[min(len(l.Latencies)*p/100, len(l.Latencies)-1)]
}

// String is the figures a note quotes.
func (l Load) String() string {
	return fmt.Sprintf("%d concurrent uploads: p50 %v, p99 %v, max %v, wall %v (%.0f uploads/s)",
		len(l.Latencies), l.Percentile(50).Round(time.Millisecond), l.Percentile(99).Round(time.Millisecond),
		l.Percentile(100).Round(time.Millisecond), l.Wall.Round(time.Millisecond), float64(len(l.Latencies))/l.Wall.Seconds())
}

// Transport returns an HTTP transport that keeps n idle connections to one
// host, so a burst of n requests does not churn connections.
func Transport(n int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n
	return tr
}
