package csvschema_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/txgen"
)

// benchRows is the size of the benchmark file; TXPIPE_BENCH_ROWS overrides it.
func benchRows(b *testing.B) int {
	if s := os.Getenv("TXPIPE_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("TXPIPE_BENCH_ROWS: %v", err)
		}
		return n
	}
	return 1_000_000
}

// benchFile writes the benchmark input to a temp file, shared by the
// benchmarks of a run (and later runs) since the generator is deterministic.
func benchFile(b *testing.B) (path string, rows int, size int64) {
	b.Helper()
	rows = benchRows(b)
	path = filepath.Join(os.TempDir(), fmt.Sprintf("txpipe-bench-%d-seed1-v1.csv", rows))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, rows, st.Size()
	}
	f, err := os.CreateTemp(os.TempDir(), "txpipe-bench-*.tmp")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	if err := txgen.Write(f, txgen.Options{Rows: rows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, rows, st.Size()
}

// report adds the throughput metrics. rows/cpu-s counts the CPU time of
// all threads, so it does not depend on how busy the machine is: for a
// single-threaded read it is the throughput of one idle core.
func report(b *testing.B, rows int, size int64, cpu time.Duration) {
	b.Helper()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(rows)/sec, "rows/s")
	b.ReportMetric(float64(size)/sec/1e6, "MB/s")
	if cpu > 0 {
		b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	}
}

func allocsPerRow(b *testing.B, rows int, f func()) {
	b.Helper()
	n := testing.AllocsPerRun(1, f)
	b.ReportMetric(n/float64(rows), "allocs/row")
}

// BenchmarkBareCSV is the baseline: encoding/csv reading every record of the
// file, reusing the record slice, and nothing else.
func BenchmarkBareCSV(b *testing.B) {
	path, rows, size := benchFile(b)
	read := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		r := csv.NewReader(f)
		r.ReuseRecord = true
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows+1 {
			b.Fatalf("read %d records, want %d", n, rows+1)
		}
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		read()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	report(b, rows, size, cpu)
	allocsPerRow(b, rows, read)
}

// BenchmarkValidate is the engine: every rule, duplicate check included.
func BenchmarkValidate(b *testing.B) {
	path, rows, size := benchFile(b)
	validate := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rep, err := csvschema.Validate(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Valid() || rep.Rows != int64(rows) {
			b.Fatalf("report: valid %v rows %d, want %d; %v", rep.Valid(), rep.Rows, rows, rep.Errors)
		}
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		validate()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	report(b, rows, size, cpu)
	allocsPerRow(b, rows, validate)
}

// BenchmarkValidateWorkers is BenchmarkValidate with one and two workers
// whatever GOMAXPROCS is: with -cpu 1 and a CPU profile (go tool pprof
// -tags), it shows the CPU of each part of the parallel pass without the
// other load of the machine (the reader's and the merger's are serial).
func BenchmarkValidateWorkers(b *testing.B) {
	path, rows, size := benchFile(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			idle0 := idleTime()
			cpu := cpuTime()
			for range b.N {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := csvschema.ValidateWith(context.Background(), f, csvschema.Options{Workers: workers})
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				if !rep.Valid() || rep.Rows != int64(rows) {
					b.Fatalf("report: valid %v rows %d, want %d; %v", rep.Valid(), rep.Rows, rows, rep.Errors)
				}
			}
			cpu = cpuTime() - cpu
			b.StopTimer()
			report(b, rows, size, cpu)
			// The share of the Ps' time (GOMAXPROCS x wall) in which they
			// had no goroutine to run: what the pipeline leaves idle,
			// whatever else runs on the machine.
			idle := idleTime() - idle0
			b.ReportMetric(idle.Seconds()/(b.Elapsed().Seconds()*float64(runtime.GOMAXPROCS(0))), "P-idle")
		})
	}
}

// idleTime is the runtime's estimate of the time the Ps spent idle.
func idleTime() time.Duration {
	m := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(m)
	return time.Duration(m[0].Value.Float64() * float64(time.Second))
}

// BenchmarkDecode is the transform step's read: every row decoded into a
// Transaction.
func BenchmarkDecode(b *testing.B) {
	path, rows, size := benchFile(b)
	decode := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		d := csvschema.NewDecoder(f)
		var tx txpipe.Transaction
		n := 0
		for {
			err := d.Decode(&tx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("decoded %d rows, want %d", n, rows)
		}
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		decode()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	report(b, rows, size, cpu)
	allocsPerRow(b, rows, decode)
}
