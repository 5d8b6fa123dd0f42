// Package bench measures txpipe against a bare encoding/csv read of the same
// generated file in one run (issue 15): the read, `txpipe validate` on one
// core and on all cores, a local end-to-end upload through a real
// `txpipe serve`, and one-day range queries. Each figure is given as rows per
// second and as a ratio to the bare read, with the peak RSS of the process
// that did the work. scripts/bench.sh runs it.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
)

// Config says what to measure.
type Config struct {
	Rows    int    // rows of the generated file
	Seed    uint64 // its seed
	Dir     string // where the file and the data dir go
	Txpipe  string // the txpipe binary
	Self    string // this program, run with BareReadArg to do the bare read in its own process
	Repeat  int    // runs of each read-only measurement; the fastest counts
	Queries int    // range queries for the latency percentiles
	SkipE2E bool   // leave out the end-to-end upload and the queries
	OnlyE2E bool   // leave out the read and validate measurements (profiling the end to end)
	Prefill int    // rows stored before the measured upload (see prefillStore)
	// SmallFiles files of SmallRows rows are uploaded by SmallClients
	// concurrent clients after the queries (issue 15, item 5); none if 0.
	SmallFiles, SmallRows, SmallClients int
	// TwoStep sends the measured file through POST /uploads and its upload
	// URL (as any file over 100 MB is) instead of POST /upload.
	TwoStep     bool
	KeepDataDir bool   // leave the end-to-end data dir in Dir (its path is logged)
	DataDir     string // an end-to-end data dir kept by an earlier run with Prefill rows: reused as it is, kept
	Log         io.Writer
}

// BareReadArg is the argument that makes the bench program do one bare read
// of the file that follows it and exit.
const BareReadArg = "-bare-read"

// BareRead reads every record of path with encoding/csv (reusing the record
// slice) and returns how many it read, header included.
func BareRead(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		n++
	}
}

// Result is one row of the table.
type Result struct {
	Name    string
	Rows    int           // rows processed, 0 for a latency
	Wall    time.Duration // the fastest run
	CPU     time.Duration // user+system time of that run's process, if known
	PeakRSS int64         // bytes, 0 if not measured
	Note    string
}

// Report is the outcome of one run.
type Report struct {
	Rows    int
	Bytes   int64
	Seed    uint64
	Machine string
	Results []Result
}

// Run measures everything cfg asks for.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	logf := logger(cfg)
	path := filepath.Join(cfg.Dir, fmt.Sprintf("txbench-%d-seed%d.csv", cfg.Rows, cfg.Seed))
	size, err := generate(path, cfg.Rows, cfg.Seed)
	if err != nil {
		return nil, err
	}
	rep := &Report{Rows: cfg.Rows, Bytes: size, Seed: cfg.Seed, Machine: machine()}
	if cfg.OnlyE2E {
		e2e, err := endToEnd(ctx, cfg, path)
		if err != nil {
			return nil, err
		}
		rep.Results = e2e
		return rep, nil
	}
	pin := pinOne()
	logf("bare encoding/csv read, %d runs", cfg.Repeat)
	bare, err := best(ctx, cfg.Repeat, func() (Result, error) {
		return runProc(ctx, "bare encoding/csv read, 1 core", cfg.Rows, pin, nil, cfg.Self, BareReadArg, path)
	})
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, bare)
	logf("txpipe validate on 1 core, %d runs", cfg.Repeat)
	one, err := best(ctx, cfg.Repeat, func() (Result, error) {
		return runProc(ctx, "txpipe validate, 1 core", cfg.Rows, pin, []string{"GOMAXPROCS=1"}, cfg.Txpipe, "validate", path)
	})
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, one)
	logf("txpipe validate on all cores, %d runs", cfg.Repeat)
	all, err := best(ctx, cfg.Repeat, func() (Result, error) {
		return runProc(ctx, fmt.Sprintf("txpipe validate, %d cores", runtime.NumCPU()), cfg.Rows, nil, nil, cfg.Txpipe, "validate", path)
	})
	if err != nil {
		return nil, err
	}
	all.Note = fmt.Sprintf("%.2fx one core", one.Wall.Seconds()/all.Wall.Seconds())
	rep.Results = append(rep.Results, all)
	// The start-up of txpipe (loading the binary, every package's init) is
	// in both validate rows and no core count shortens it: the serial
	// part of the two-core speed-up that is not the engine's.
	oneRow := filepath.Join(cfg.Dir, fmt.Sprintf("txbench-1row-seed%d.csv", cfg.Seed))
	if err := writeFirstLines(path, oneRow, 2); err != nil {
		return nil, err
	}
	logf("txpipe validate of a one-row file (start-up), %d runs", max(cfg.Repeat, 5))
	start, err := best(ctx, max(cfg.Repeat, 5), func() (Result, error) {
		return runProc(ctx, "txpipe validate, one-row file", 0, pin, []string{"GOMAXPROCS=1"}, cfg.Txpipe, "validate", oneRow)
	})
	if err != nil {
		return nil, err
	}
	start.Note = "start-up: process start and package init, in both rows above"
	rep.Results = append(rep.Results, start)
	if cfg.SkipE2E {
		return rep, nil
	}
	logf("end to end through txpipe serve")
	e2e, err := endToEnd(ctx, cfg, path)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, e2e...)
	return rep, nil
}

// writeFirstLines copies the first n lines of src to dst.
func writeFirstLines(src, dst string, n int) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var out []byte
	br := bufio.NewReader(f)
	for range n {
		line, err := br.ReadBytes('\n')
		out = append(out, line...)
		if err != nil {
			break
		}
	}
	return os.WriteFile(dst, out, 0o644)
}

// generate writes the file unless a complete one is there (the generator is
// deterministic).
func generate(path string, rows int, seed uint64) (int64, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return st.Size(), nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	if err := txgen.Write(f, txgen.Options{Rows: rows, Seed: seed}); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// pinOne returns the command prefix that pins a process to one CPU, or nil
// if taskset is missing (then GOMAXPROCS=1 alone limits Go's threads).
func pinOne() []string {
	if p, err := exec.LookPath("taskset"); err == nil {
		return []string{p, "-c", "0"}
	}
	return nil
}

func best(ctx context.Context, n int, f func() (Result, error)) (Result, error) {
	var b Result
	for i := range max(n, 1) {
		r, err := f()
		if err != nil {
			return r, err
		}
		if i == 0 || r.Wall < b.Wall {
			b = r
		}
		if ctx.Err() != nil {
			return b, ctx.Err()
		}
	}
	return b, nil
}

// runProc runs one command to its end and measures it: wall clock, CPU
// time and peak RSS from the kernel's rusage.
func runProc(ctx context.Context, name string, rows int, prefix, env []string, bin string, args ...string) (Result, error) {
	argv := append(slices.Clone(prefix), bin)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out.Bytes())
	}
	r := Result{Name: name, Rows: rows, Wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss << 10 // KiB on Linux
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return r, nil
}

// endToEnd starts `txpipe serve` on a fresh data dir, uploads the file,
// polls its status until COMPLETED (every row committed and queryable),
// then times one-day range queries.
func endToEnd(ctx context.Context, cfg Config, path string) ([]Result, error) {
	var months []time.Time
	var fills []Result
	dataDir := cfg.DataDir
	if dataDir != "" {
		// Its prefill's months, as prefillStore made them.
		for i := 0; i*1_000_000 < cfg.Prefill; i++ {
			months = append(months, time.Date(2023, time.December-time.Month(i), 1, 0, 0, 0, 0, time.UTC))
		}
	} else {
		var err error
		if dataDir, err = os.MkdirTemp(cfg.Dir, "txbench-data-"); err != nil {
			return nil, err
		}
		if cfg.KeepDataDir {
			logger(cfg)("data dir kept: %s", dataDir)
		} else {
			defer os.RemoveAll(dataDir)
		}
	}
	if cfg.Prefill > 0 && cfg.DataDir == "" {
		var err error
		if months, fills, err = prefillStore(ctx, dataDir, cfg, logger(cfg)); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, cfg.Txpipe, "serve", "--json", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stopped := false
	stop := func() (rss int64, cpu time.Duration) {
		if stopped {
			return 0, 0
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		t := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		defer t.Stop()
		cmd.Wait()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			return ru.Maxrss << 10, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		return 0, 0
	}
	defer stop()
	var start struct {
		Address string `json:"address"`
		APIKey  string `json:"api_key"`
	}
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&start); err != nil {
		return nil, fmt.Errorf("txpipe serve did not print where it listens: %w\n%s", err, logs.Bytes())
	}
	opened := Result{Name: "serve start: open the store", Wall: time.Since(started), Note: fmt.Sprintf("%d rows stored", cfg.Prefill)}
	go io.Copy(io.Discard, stdout)
	base := start.Address
	if !strings.HasPrefix(base, "http") {
		base = "http://" + base
	}
	// A key without the default rate limit, so the polls and the queries
	// are not paced by it.
	admin := start.APIKey
	if cfg.DataDir != "" {
		// A kept data dir's serve prints no key: the bench makes its own.
		out, err := exec.CommandContext(ctx, cfg.Txpipe, "apikey", "create", "--name", fmt.Sprintf("bench-admin-%d", time.Now().UnixNano()), "--admin", "--data-dir", dataDir, "--json").Output()
		if err != nil {
			return nil, fmt.Errorf("txpipe apikey create: %w", err)
		}
		var k struct {
			Secret string `json:"api_key"`
		}
		if err := json.Unmarshal(out, &k); err != nil || k.Secret == "" {
			return nil, fmt.Errorf("txpipe apikey create printed %q: %v", out, err)
		}
		admin = k.Secret
	}
	key, err := benchKey(ctx, base, admin)
	if err != nil {
		return nil, err
	}
	c := &httpapi.Client{Endpoint: base, APIKey: key}

	prefillNote := ""
	if cfg.Prefill > 0 {
		prefillNote = fmt.Sprintf(", %d rows stored before", cfg.Prefill)
	}
	pid := cmd.Process.Pid
	cpu0 := procCPU(pid)
	wall, err := uploadAndWait(ctx, c, path, cfg.Rows, cfg.TwoStep)
	if err != nil {
		return nil, err
	}
	if cfg.TwoStep {
		prefillNote += ", two-step upload"
	}
	e2e := Result{Name: "end to end: upload to COMPLETED", Rows: cfg.Rows, Wall: wall, CPU: procCPU(pid) - cpu0, PeakRSS: procPeakRSS(pid),
		Note: "serve's CPU for the upload, its peak RSS so far" + prefillNote}

	// One-day ranges over the days stored: the year of the measured file
	// and the prefill's months; one page (the default 100 rows) each.
	rng := rand.New(rand.NewPCG(cfg.Seed, 15))
	lat := make([]time.Duration, 0, cfg.Queries)
	day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	days := 366
	if len(months) > 0 {
		first := months[len(months)-1]
		days += int(day0.Sub(first) / (24 * time.Hour))
		day0 = first
	}
	got := 0
	for range cfg.Queries {
		from := day0.AddDate(0, 0, rng.IntN(days))
		q := txpipe.TxQuery{From: from, To: from.AddDate(0, 0, 1)}
		qs := time.Now()
		page, err := c.Transactions(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		lat = append(lat, time.Since(qs))
		got += len(page.Items)
	}
	if cfg.Queries > 0 && got == 0 {
		return nil, fmt.Errorf("%d one-day queries found no rows", cfg.Queries)
	}
	out := []Result{e2e}
	if cfg.Prefill > 0 {
		out = append(out, opened)
	}
	if len(fills) > 1 {
		// The store's growth: the first and the last prefill file, each
		// written into the store as it was then.
		first, last := fills[0], fills[len(fills)-1]
		last.Note = fmt.Sprintf("%s; %.2fx the first's rows per CPU-s", last.Note, first.CPU.Seconds()/last.CPU.Seconds()*float64(last.Rows)/float64(first.Rows))
		out = append(out, first, last)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		note := fmt.Sprintf("%d queries, %d rows a page on average, %d days", len(lat), got/len(lat), days)
		out = append(out,
			Result{Name: "range query, one day, p50", Wall: percentile(lat, 50), Note: note},
			Result{Name: "range query, one day, p99", Wall: percentile(lat, 99), Note: note})
	}
	if cfg.SmallFiles > 0 {
		logf := logger(cfg)
		logf("%d files of %d rows by %d clients", cfg.SmallFiles, cfg.SmallRows, cfg.SmallClients)
		small, err := smallFiles(ctx, c, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, small...)
	}
	rss, cpu := stop()
	stored := cfg.Prefill + cfg.Rows + cfg.SmallFiles*cfg.SmallRows
	db, all := dbSize(dataDir), dirSize(dataDir)
	out = append(out, Result{Name: "serve, whole run", CPU: cpu, PeakRSS: rss,
		Note: fmt.Sprintf("data dir %.0f MB per million rows stored (%.0f MB of it the database, %d rows; the rest the uploaded files)",
			float64(all)/float64(stored), float64(db)/float64(stored), stored)})
	return out, nil
}

// procCPU is the user+system CPU time of process pid so far (Linux), 0 if
// unknown.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// procPeakRSS is the peak resident set size of process pid so far (Linux).
func procPeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// dbSize is the bytes of the SQLite files (and their logs) under dir.
func dbSize(dir string) int64 {
	var n int64
	files, _ := filepath.Glob(filepath.Join(dir, "txpipe*.db*"))
	for _, f := range files {
		if info, err := os.Stat(f); err == nil {
			n += info.Size()
		}
	}
	return n
}

// smallFiles uploads cfg.SmallFiles files of cfg.SmallRows rows each (other
// seeds, so other ids) from cfg.SmallClients goroutines, each POST /upload
// timed, then waits until every file is COMPLETED with its rows inserted.
// Any failed request fails the measurement.
func smallFiles(ctx context.Context, c *httpapi.Client, cfg Config) ([]Result, error) {
	bodies := make([][]byte, cfg.SmallFiles)
	for i := range bodies {
		var b bytes.Buffer
		if err := txgen.Write(&b, txgen.Options{Rows: cfg.SmallRows, Seed: cfg.Seed + 100_000 + uint64(i)}); err != nil {
			return nil, err
		}
		bodies[i] = b.Bytes()
	}
	lat := make([]time.Duration, len(bodies))
	ids := make([]string, len(bodies))
	errs := make([]error, len(bodies))
	next := make(chan int)
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.SmallClients {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				res, err := c.Upload(ctx, fmt.Sprintf("small-%d.csv", i), bytes.NewReader(bodies[i]))
				lat[i] = time.Since(t0)
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("upload of small file %d: %w", i, err)
				case !res.Created():
					errs[i] = fmt.Errorf("upload of small file %d: status %d %s", i, res.StatusCode, res.Message)
				default:
					ids[i] = res.Record.FileID
				}
			}
		})
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	uploaded := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pending := slices.Clone(ids)
	for len(pending) > 0 {
		left := pending[:0]
		for _, id := range pending {
			st, err := c.Status(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("status of small file %s: %w", id, err)
			}
			switch {
			case !txpipe.IsFinal(st.Status):
				left = append(left, id)
			case st.Status != txpipe.StatusCompleted || st.Inserted != int64(cfg.SmallRows):
				return nil, fmt.Errorf("small file %s ended %s with %d rows inserted, want COMPLETED with %d", id, st.Status, st.Inserted, cfg.SmallRows)
			}
		}
		pending = left
		if len(pending) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	wall := time.Since(start)
	slices.Sort(lat)
	name := fmt.Sprintf("%d files x %d rows, %d clients", cfg.SmallFiles, cfg.SmallRows, cfg.SmallClients)
	note := fmt.Sprintf("%.0f files/s to all COMPLETED (uploads alone %.0f files/s), 0 failed", float64(len(ids))/wall.Seconds(), float64(len(ids))/uploaded.Seconds())
	return []Result{
		{Name: name, Rows: cfg.SmallFiles * cfg.SmallRows, Wall: wall, Note: note},
		{Name: "  POST /upload latency, p50", Wall: percentile(lat, 50)},
		{Name: "  POST /upload latency, p99", Wall: percentile(lat, 99)},
	}, nil
}

// uploadAndWait uploads a file and polls its status until it is final; it
// returns the time to COMPLETED (every row committed and queryable).
func uploadAndWait(ctx context.Context, c *httpapi.Client, path string, rows int, twoStep bool) (time.Duration, error) {
	body, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	info, err := body.Stat()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	// Over 100 MB (serve's default --max-body-bytes) only the two-step
	// upload takes the file.
	res, err := c.UploadFile(ctx, filepath.Base(path), body, info.Size(), httpapi.UploadOptions{TwoStep: twoStep || info.Size() > 100<<20})
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if !res.Created() {
		return 0, fmt.Errorf("upload: not created: %+v", res)
	}
	var st *txpipe.FileStatus
	for {
		st, err = c.Status(ctx, res.Record.FileID)
		if err != nil {
			return 0, fmt.Errorf("status: %w", err)
		}
		if txpipe.IsFinal(st.Status) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wall := time.Since(t0)
	if st.Status != txpipe.StatusCompleted || st.Inserted != int64(rows) {
		return 0, fmt.Errorf("upload ended %s with %d rows inserted, want COMPLETED with %d", st.Status, st.Inserted, rows)
	}
	return wall, nil
}

// prefillStore stores cfg.Prefill rows in the data dir before serve starts,
// as a store holds them after some months of monthly uploads: files of 1M
// rows (the last one shorter), each generated with its own seed and with
// its timestamps in one month, going back from December 2023 (the measured
// file is of 2024). The rows are decoded from txgen's CSV and written
// through sqlite.DB.PutTransactions in batches of workflow.MaxBatch, as a
// run writes them, without the upload, validation and status records (so
// it is fast). It returns the months, latest first, and logs each file's
// time and CPU: the ingest cost as the store grows.
func prefillStore(ctx context.Context, dataDir string, cfg Config, logf func(string, ...any)) ([]time.Time, []Result, error) {
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "txpipe.db"), nil)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	var months []time.Time
	var fills []Result
	for i, left := 0, cfg.Prefill; left > 0; i++ {
		n := min(left, 1_000_000)
		month := time.Date(2023, time.December-time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		months = append(months, month)
		fileID := fmt.Sprintf("prefill-%d", i)
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(txgen.Write(pw, txgen.Options{Rows: n, Seed: cfg.Seed + 1000 + uint64(i), From: month, Span: month.AddDate(0, 1, 0).Sub(month)}))
		}()
		t0, cpu0 := time.Now(), selfCPU()
		dec := csvschema.NewDecoder(pr)
		batch := make([]txpipe.Transaction, 0, workflow.MaxBatch)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			_, err := db.PutTransactions(ctx, batch)
			batch = batch[:0]
			return err
		}
		for {
			var tx txpipe.Transaction
			err := dec.Decode(&tx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pr.CloseWithError(err)
				return nil, nil, fmt.Errorf("prefill file %d: %w", i, err)
			}
			tx.FileID = fileID
			if batch = append(batch, tx); len(batch) == workflow.MaxBatch {
				if err := flush(); err != nil {
					return nil, nil, fmt.Errorf("prefill file %d: %w", i, err)
				}
			}
		}
		if err := flush(); err != nil {
			return nil, nil, fmt.Errorf("prefill file %d: %w", i, err)
		}
		if err := db.SyncRows(ctx, fileID); err != nil {
			return nil, nil, fmt.Errorf("prefill file %d: %w", i, err)
		}
		r := Result{Name: fmt.Sprintf("prefill: file %d of %s", i+1, month.Format("2006-01")), Rows: n, Wall: time.Since(t0), CPU: selfCPU() - cpu0,
			Note: fmt.Sprintf("PutTransactions, %d rows stored before", cfg.Prefill-left)}
		fills = append(fills, r)
		logf("prefill: %d rows of %s in %.1f s, %.1f CPU-s, %d rows stored before", n, month.Format("2006-01"), r.Wall.Seconds(), r.CPU.Seconds(), cfg.Prefill-left)
		left -= n
	}
	return months, fills, db.Close()
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func logger(cfg Config) func(string, ...any) {
	return func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// benchKey creates a key with a high rate limit with the admin key.
func benchKey(ctx context.Context, base, admin string) (string, error) {
	body, _ := json.Marshal(httpapi.NewKeyRequest{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), QuotaPerDay: 1 << 40, RatePerSecond: 10000})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/keys", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("x-api-key", admin)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create a bench key: %w", err)
	}
	defer resp.Body.Close()
	var ans httpapi.NewKeyAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create a bench key: status %d: %v", resp.StatusCode, err)
	}
	return ans.Secret, nil
}

// machine describes the host: OS, CPU model and count, Go version, load.
func machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s), %s, load average %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version(), load)
}

// Print writes the report as one table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "txpipe bench: %d rows, %.1f MB (txgen seed %d)\n", r.Rows, float64(r.Bytes)/1e6, r.Seed)
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	var bare float64
	for _, x := range r.Results {
		if strings.HasPrefix(x.Name, "bare") {
			bare = float64(x.Rows) / x.Wall.Seconds()
		}
	}
	fmt.Fprintf(w, "%-34s %12s %8s %10s %9s %9s\n", "measure", "rows/s", "x bare", "wall", "cpu", "peak RSS")
	for _, x := range r.Results {
		rate, ratio, cpu, rss := "-", "-", "-", "-"
		if x.Rows > 0 {
			v := float64(x.Rows) / x.Wall.Seconds()
			rate = fmt.Sprintf("%.0f", v)
			if bare > 0 {
				ratio = fmt.Sprintf("%.3f", v/bare)
			}
		}
		if x.CPU > 0 {
			cpu = fmt.Sprintf("%.2fs", x.CPU.Seconds())
		}
		if x.PeakRSS > 0 {
			rss = fmt.Sprintf("%.0f MiB", float64(x.PeakRSS)/(1<<20))
		}
		wall := fmt.Sprintf("%.3fs", x.Wall.Seconds())
		switch {
		case x.Wall == 0:
			wall = "-"
		case x.Rows == 0:
			wall = fmt.Sprintf("%.2fms", float64(x.Wall.Microseconds())/1000)
		}
		fmt.Fprintf(w, "%-34s %12s %8s %10s %9s %9s", x.Name, rate, ratio, wall, cpu, rss)
		if x.Note != "" {
			fmt.Fprintf(w, "  %s", x.Note)
		}
		fmt.Fprintln(w)
	}
}
