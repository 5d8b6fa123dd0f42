package sqlite_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
)

// genBatch fills txs with rows of random UUID-shaped ids (36 bytes) and
// random timestamps within 2024, as a generated file has them.
func genBatch(rng *rand.Rand, fileID string, txs []txpipe.Transaction) {
	const hexd = "0123456789abcdef"
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	currencies := []string{"USD", "EUR", "GBP", "JPY", "CHF"}
	statuses := []string{txpipe.TxCompleted, txpipe.TxPending, txpipe.TxFailed}
	var id [36]byte
	for i := range txs {
		for j := range id {
			switch j {
			case 8, 13, 18, 23:
				id[j] = '-'
			default:
				id[j] = hexd[rng.IntN(16)]
			}
		}
		minor := rng.Int64N(1_000_000)
		txs[i] = txpipe.Transaction{
			ID:          string(id[:]),
			Amount:      strconv.FormatInt(minor/100, 10) + "." + fmt.Sprintf("%02d", minor%100),
			AmountMinor: minor,
			Currency:    currencies[rng.IntN(len(currencies))],
			Timestamp:   base.Add(time.Duration(rng.Int64N(366*24*3600)) * time.Second),
			Merchant:    "Merchant " + strconv.Itoa(rng.IntN(5000)) + ", Ltd.",
			Status:      statuses[rng.IntN(len(statuses))],
			FileID:      fileID,
		}
	}
}

// cpuTime is the user and system CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuProfile starts a CPU profile into the file TXPIPE_BENCH_CPUPROFILE
// names, if it names one, and returns the function that ends it.
func cpuProfile(b *testing.B) (stop func()) {
	p := os.Getenv("TXPIPE_BENCH_CPUPROFILE")
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// peakRSS returns the process's peak resident set size in MiB (Linux).
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkPutTransactions1M writes 1M rows with random ids into a new
// database in batches of workflow.MaxBatch, as the transform step does.
// Run it with: go test ./sqlite -run '^$' -bench PutTransactions1M -benchtime 1x
func BenchmarkPutTransactions1M(b *testing.B) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TXPIPE_BENCH_ROWS")); err == nil {
		rows = v
	}
	batch := make([]txpipe.Transaction, workflow.MaxBatch)
	for b.Loop() {
		b.StopTimer()
		db := openDB(b)
		rng := rand.New(rand.NewPCG(1, 2))
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		var total txpipe.Counts
		for n := 0; n < rows; n += len(batch) {
			b.StopTimer()
			genBatch(rng, "bench-file", batch)
			b.StartTimer()
			c, err := db.PutTransactions(b.Context(), batch)
			if err != nil {
				b.Fatal(err)
			}
			total = total.Add(c)
		}
		if total.Inserted != int64(rows) {
			b.Fatalf("inserted %d rows, want %d", total.Inserted, rows)
		}
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
		// The machine is shared: rows per second of CPU used by the whole
		// process (the writer and the background checkpoints) is the figure
		// that does not depend on the load of others.
		b.ReportMetric(float64(rows)/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}

// BenchmarkListTransactions1000of1M queries 1,000 transactions out of 1M:
// a window of 9 hours of a year of random timestamps (about 1,000 rows),
// at most 1,000 returned.
// Run it with: go test ./sqlite -run '^$' -bench ListTransactions
func BenchmarkListTransactions1000of1M(b *testing.B) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TXPIPE_BENCH_ROWS")); err == nil {
		rows = v
	}
	db := openDB(b)
	rng := rand.New(rand.NewPCG(3, 4))
	batch := make([]txpipe.Transaction, workflow.MaxBatch)
	for n := 0; n < rows; n += len(batch) {
		genBatch(rng, "bench-file", batch)
		if _, err := db.PutTransactions(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	window := time.Duration(float64(366*24*time.Hour) * float64(txpipe.MaxTxLimit) / float64(rows) * 1.05)
	got := 0
	cpu0 := cpuTime()
	for b.Loop() {
		from := base.Add(time.Duration(rng.Int64N(int64(366*24*time.Hour - window))))
		page, err := db.ListTransactions(b.Context(), txpipe.TxQuery{From: from, To: from.Add(window), Limit: txpipe.MaxTxLimit})
		if err != nil {
			b.Fatal(err)
		}
		got += len(page.Items)
	}
	b.ReportMetric(float64(got)/float64(b.N), "rows/op")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkVolumes answers GET /volumes over a store of TXPIPE_BENCH_ROWS
// rows (1M by default) with random timestamps over 2024 in 5 currencies:
// a year and a month of days. The answer comes from the aggregate table,
// so its cost follows the days asked (366 x 5 rows a shard), not the rows.
// Run it with: TXPIPE_BENCH_ROWS=10000000 go test ./sqlite -run '^$' -bench Volumes -benchtime 50x
func BenchmarkVolumes(b *testing.B) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TXPIPE_BENCH_ROWS")); err == nil {
		rows = v
	}
	db := openDB(b)
	rng := rand.New(rand.NewPCG(5, 6))
	batch := make([]txpipe.Transaction, workflow.MaxBatch)
	start, cpu0 := time.Now(), cpuTime()
	for n := 0; n < rows; n += len(batch) {
		genBatch(rng, "bench-file-"+strconv.Itoa(n/100_000), batch)
		if _, err := db.PutTransactions(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d rows in %.1f s (%.1f CPU-s, includes generating them)", rows, time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds())
	for _, r := range []struct {
		name     string
		from, to time.Time
	}{
		{"year", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)},
	} {
		b.Run(r.name, func(b *testing.B) {
			var total int64
			cpu0 := cpuTime()
			for b.Loop() {
				v, err := db.Volumes(b.Context(), r.from, r.to)
				if err != nil {
					b.Fatal(err)
				}
				total = 0
				for _, x := range v {
					total += x.Rows
				}
			}
			if r.name == "year" && total != int64(rows) {
				b.Fatalf("volumes of the year count %d rows, want %d", total, rows)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(total), "rows-counted")
		})
	}
	// The endpoint itself: GET /volumes for the year through the API
	// handler (no key check), JSON encoding included.
	h := httpapi.NewServer(httpapi.Config{Statuses: db, Transactions: db, Volumes: db})
	b.Run("http-year", func(b *testing.B) {
		var size int
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/volumes?from=2024-01-01&to=2025-01-01", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("GET /volumes: %d %s", rec.Code, rec.Body)
			}
			size = rec.Body.Len()
		}
		b.ReportMetric(float64(size), "bytes")
	})
}

// BenchmarkStoreGrowth measures ingest as the store grows (issue 15, item
// 4): TXPIPE_BENCH_PREFILL rows (3M by default) are stored first, as files of
// 1M rows each of one month (going back from December 2023, as a store holds
// after some months of monthly uploads), then a 1M-row file of random
// timestamps over 2024 is written and its CPU time reported, beside the
// same figure for the first prefill file (the empty store). Each file ends
// with a commit, as a run's SyncRows does; with TXPIPE_BENCH_SYNC_ROWS=N
// every N rows too, as a run commits at the end of each chunk (20,000 rows).
// TXPIPE_BENCH_CPUPROFILE names a CPU profile of the measured file only.
// Run it with: TXPIPE_BENCH_PREFILL=5000000 go test ./sqlite -run '^$' -bench StoreGrowth -benchtime 1x -v
func BenchmarkStoreGrowth(b *testing.B) {
	prefill := 3_000_000
	if v, err := strconv.Atoi(os.Getenv("TXPIPE_BENCH_PREFILL")); err == nil {
		prefill = v
	}
	syncRows, _ := strconv.Atoi(os.Getenv("TXPIPE_BENCH_SYNC_ROWS"))
	const fileRows = 1_000_000
	for b.Loop() {
		b.StopTimer()
		db := openDB(b)
		rng := rand.New(rand.NewPCG(7, 8))
		batch := make([]txpipe.Transaction, workflow.MaxBatch)
		put := func(name string, from time.Time, span time.Duration) (wall, cpu time.Duration) {
			start, cpu0 := time.Now(), cpuTime()
			for n := 0; n < fileRows; n += len(batch) {
				genBatchIn(rng, name, batch, from, span)
				if _, err := db.PutTransactions(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
				if syncRows > 0 && (n+len(batch))%syncRows == 0 {
					if err := db.SyncRows(b.Context(), name); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := db.SyncRows(b.Context(), name); err != nil {
				b.Fatal(err)
			}
			return time.Since(start), cpuTime() - cpu0
		}
		var first time.Duration
		for i := 0; i*fileRows < prefill; i++ {
			month := time.Date(2023, time.December-time.Month(i), 1, 0, 0, 0, 0, time.UTC)
			wall, cpu := put("prefill-"+strconv.Itoa(i), month, month.AddDate(0, 1, 0).Sub(month))
			if i == 0 {
				first = cpu
			}
			b.Logf("prefill file %d (%s): %.1f s, %.1f CPU-s, %d rows stored before", i, month.Format("2006-01"), wall.Seconds(), cpu.Seconds(), i*fileRows)
		}
		defer cpuProfile(b)()
		b.StartTimer()
		year := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		wall, cpu := put("measured", year, 366*24*time.Hour)
		b.Logf("measured file (2024): %.1f s, %.1f CPU-s, %d rows stored before", wall.Seconds(), cpu.Seconds(), prefill)
		b.ReportMetric(cpu.Seconds(), "cpu-s/1M")
		if first > 0 {
			b.ReportMetric(first.Seconds()/cpu.Seconds(), "x-empty")
		}
	}
	b.ReportMetric(peakRSS(), "peakRSS-MiB")
}

// genBatchIn is genBatch with timestamps in [from, from+span).
func genBatchIn(rng *rand.Rand, fileID string, txs []txpipe.Transaction, from time.Time, span time.Duration) {
	genBatch(rng, fileID, txs)
	for i := range txs {
		txs[i].Timestamp = from.Add(time.Duration(rng.Int64N(int64(span/time.Second))) * time.Second)
	}
}

// BenchmarkListOneDayStored asks for one page (100 rows) of a random day, as
// txbench's range query does over HTTP, of the data dir TXPIPE_BENCH_DATA
// (kept by `txbench -keep`, with TXPIPE_BENCH_PREFILL rows stored before its
// 2024 file: the prefill's months go back from December 2023), and reports
// the latency's p50 and p99. TXPIPE_BENCH_CPUPROFILE names a CPU profile.
// Run it with: TXPIPE_BENCH_DATA=DIR TXPIPE_BENCH_PREFILL=50000000 go test ./sqlite -run '^$' -bench ListOneDayStored -benchtime 1000x
func BenchmarkListOneDayStored(b *testing.B) {
	dir := os.Getenv("TXPIPE_BENCH_DATA")
	if dir == "" {
		b.Skip("TXPIPE_BENCH_DATA names no data dir")
	}
	prefill, _ := strconv.Atoi(os.Getenv("TXPIPE_BENCH_PREFILL"))
	db, err := sqlite.Open(b.Context(), filepath.Join(dir, "txpipe.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	months := (prefill + 999_999) / 1_000_000
	first := time.Date(2023, time.December-time.Month(months-1), 1, 0, 0, 0, 0, time.UTC)
	days := 366
	if months > 0 {
		days += int(day0.Sub(first) / (24 * time.Hour))
		day0 = first
	}
	defer cpuProfile(b)()
	rng := rand.New(rand.NewPCG(1, 15))
	var lat []time.Duration
	got := 0
	for b.Loop() {
		from := day0.AddDate(0, 0, rng.IntN(days))
		start := time.Now()
		page, err := db.ListTransactions(b.Context(), txpipe.TxQuery{From: from, To: from.AddDate(0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		got += len(page.Items)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(got)/float64(len(lat)), "rows/op")
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
