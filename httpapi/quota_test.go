package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

// TestQuotaExactUnderConcurrency: 60 concurrent requests of a key with a
// quota of 25 admit exactly 25, and the saved count is 25.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	key := e.newKey(t, txpipe.APIKey{Name: "q", RatePerSecond: 1e6, Burst: 1e6, QuotaPerDay: 25})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 60 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", e.url+txQuery, nil)
			req.Header.Set("x-api-key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 25 || codes[http.StatusTooManyRequests] != 35 {
		t.Errorf("answers %v, want 25 x 200 and 35 x 429", codes)
	}
	if err := e.handler.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, err := e.db.LookupKey(t.Context(), httpapi.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.db.RequestCount(t.Context(), k.ID, time.Now().UTC().Format(time.DateOnly))
	if err != nil || n != 25 {
		t.Errorf("saved count = %d, %v; want 25 (refused requests spend nothing)", n, err)
	}
}

// TestRefusedRequestsSpendNothing: requests refused by the rate limit do
// not count against the daily quota, and status reads never do.
func TestRefusedRequestsSpendNothing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, envOptions{now: clock})
	key := e.newKey(t, txpipe.APIKey{Name: "q", RatePerSecond: 1, Burst: 1, QuotaPerDay: 3})
	get := func(path string) int { return do(t, request(t, "GET", e.url+path, key, "", nil)).code }

	if got := get(txQuery); got != http.StatusOK {
		t.Fatalf("first request = %d", got)
	}
	for i := range 5 {
		if got := get(txQuery); got != http.StatusTooManyRequests {
			t.Fatalf("request %d past the rate = %d, want 429", i, got)
		}
	}
	for i := range 3 {
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
		// A status read is rate-limited but free of the quota.
		if got := get("/status/none"); got != http.StatusNotFound {
			t.Fatalf("status read %d = %d, want 404", i, got)
		}
	}
	for i := range 2 {
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
		if got := get(txQuery); got != http.StatusOK {
			t.Fatalf("request %d in the quota (the refused ones spent nothing) = %d, want 200", i+2, got)
		}
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if got := get(txQuery); got != http.StatusTooManyRequests {
		t.Errorf("request over the quota = %d, want 429", got)
	}
}

// TestQuotaSurvivesRestart: the count is saved and a new server on the
// same store goes on from it.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	key := e.newKey(t, txpipe.APIKey{Name: "q", RatePerSecond: 1e6, Burst: 1e6, QuotaPerDay: 5})
	for i := range 3 {
		if a := do(t, request(t, "GET", e.url+txQuery, key, "", nil)); a.code != http.StatusOK {
			t.Fatalf("request %d = %d", i, a.code)
		}
	}
	if err := e.handler.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A new server over the same store.
	h := httpapi.NewServer(httpapi.Config{Statuses: e.db, Transactions: e.db, Keys: e.db})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var codes []int
	for range 4 {
		codes = append(codes, do(t, request(t, "GET", srv.URL+txQuery, key, "", nil)).code)
	}
	if fmt.Sprint(codes) != "[200 200 429 429]" {
		t.Errorf("after a restart: %v, want [200 200 429 429] (3 of 5 spent before)", codes)
	}
}

// TestWaitBacksOff: waiting 3 s on a file that stays PROCESSING polls a
// handful of times, not every 50 ms.
func TestWaitBacksOff(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"file_id":"f","status":"PROCESSING","errors":[]}`)
	}))
	defer srv.Close()
	c := &httpapi.Client{Endpoint: srv.URL, APIKey: "k"}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := c.Wait(ctx, "f", 50*time.Millisecond); err == nil {
		t.Fatal("Wait returned no error on a file that never finished")
	}
	mu.Lock()
	defer mu.Unlock()
	if polls > 15 || polls < 5 {
		t.Errorf("%d polls in 3 s from 50 ms, want 5-15 (back-off 1.5x; without it 60)", polls)
	}
}
