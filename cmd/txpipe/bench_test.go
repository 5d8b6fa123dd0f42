package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
)

// BenchmarkIngest measures the end-to-end figure: a generated file
// (1M rows unless TXPIPE_BENCH_ROWS says otherwise) uploaded over loopback
// to a real `txpipe serve` process until it is COMPLETED, the server's peak
// RSS while it ingests, and a time-range query for 1,000 of its rows.
//
//	go test ./cmd/txpipe -run '^$' -bench Ingest -benchtime 1x
func BenchmarkIngest(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("TXPIPE_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	bin := buildTxpipe(b)
	csvPath := filepath.Join(b.TempDir(), "big.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := txgen.Write(f, txgen.Options{Rows: rows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	info, _ := f.Stat()
	f.Close()

	for i := 0; i < b.N; i++ {
		p := startServe(b, bin, b.TempDir())
		c := &httpapi.Client{Endpoint: p.url, APIKey: p.apiKey}
		body, err := os.Open(csvPath)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		start := time.Now()
		res, err := c.Upload(ctx, "big.csv", body)
		body.Close()
		if err != nil || !res.Created() {
			b.Fatalf("upload: %v %+v", err, res)
		}
		accepted := time.Since(start)
		st, err := c.Wait(ctx, res.Record.FileID, 120*time.Millisecond) // within the key's 10 requests a second
		if err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		if st.Status != txpipe.StatusCompleted || st.Inserted != int64(rows) {
			b.Fatalf("status %+v, want COMPLETED with %d inserted", st, rows)
		}
		hwm := peakRSS(b, p.cmd.Process.Pid)

		// A time-range query for 1,000 rows in the middle of the data.
		q := txpipe.TxQuery{From: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 1000}
		var best time.Duration
		for range 10 {
			qs := time.Now()
			page, err := c.Transactions(ctx, q)
			if err != nil || len(page.Items) != 1000 {
				b.Fatalf("query: %v, %d items", err, len(page.Items))
			}
			if d := time.Since(qs); best == 0 || d < best {
				best = d
			}
		}
		b.ReportMetric(total.Seconds(), "s-to-completed")
		b.ReportMetric(accepted.Seconds(), "s-to-202")
		b.ReportMetric(float64(rows)/total.Seconds(), "rows/s")
		b.ReportMetric(float64(info.Size())/total.Seconds()/1e6, "MB/s")
		b.ReportMetric(hwm, "peak-RSS-MiB")
		b.ReportMetric(float64(best.Microseconds())/1000, "query-1000-ms")
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// peakRSS reads a process's high-water resident set size (VmHWM) in MiB.
func peakRSS(tb testing.TB, pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				tb.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	tb.Fatal("no VmHWM in /proc status")
	return 0
}
