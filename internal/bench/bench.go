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
	"syscall"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
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
	Prefill int    // rows stored (in files of at most 1M rows, other seeds) before the measured upload
	Log     io.Writer
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
	rep.Results = append(rep.Results, all)
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
	dataDir, err := os.MkdirTemp(cfg.Dir, "txbench-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dataDir)
	cmd := exec.CommandContext(ctx, cfg.Txpipe, "serve", "--json", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
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
	go io.Copy(io.Discard, stdout)
	base := start.Address
	if !strings.HasPrefix(base, "http") {
		base = "http://" + base
	}
	// A key without the default rate limit, so the polls and the queries
	// are not paced by it.
	key, err := benchKey(ctx, base, start.APIKey)
	if err != nil {
		return nil, err
	}
	c := &httpapi.Client{Endpoint: base, APIKey: key}

	prefillNote := ""
	if cfg.Prefill > 0 {
		if err := prefill(ctx, c, cfg, logger(cfg)); err != nil {
			return nil, err
		}
		prefillNote = fmt.Sprintf(", %d rows stored before (%.0f MB data dir per million rows)", cfg.Prefill, float64(dirSize(dataDir))/1e6/(float64(cfg.Prefill)/1e6))
	}
	wall, err := uploadAndWait(ctx, c, path, cfg.Rows)
	if err != nil {
		return nil, err
	}
	e2e := Result{Name: "end to end: upload to COMPLETED", Rows: cfg.Rows, Wall: wall, Note: "serve" + prefillNote}

	// One-day ranges over the year the generator spreads timestamps on,
	// one page (the default 100 rows) each.
	rng := rand.New(rand.NewPCG(cfg.Seed, 15))
	lat := make([]time.Duration, 0, cfg.Queries)
	day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	got := 0
	for range cfg.Queries {
		from := day0.AddDate(0, 0, rng.IntN(365))
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
	var cpu time.Duration
	e2e.PeakRSS, cpu = stop()
	if cfg.Prefill == 0 {
		e2e.CPU = cpu // serve's CPU time, the queries' included
	}
	out := []Result{e2e}
	if len(lat) > 0 {
		slices.Sort(lat)
		note := fmt.Sprintf("%d queries, %d rows a page on average", len(lat), got/len(lat))
		out = append(out,
			Result{Name: "range query, one day, p50", Wall: percentile(lat, 50), Note: note},
			Result{Name: "range query, one day, p99", Wall: percentile(lat, 99), Note: note})
	}
	return out, nil
}

// uploadAndWait uploads a file and polls its status until it is final; it
// returns the time to COMPLETED (every row committed and queryable).
func uploadAndWait(ctx context.Context, c *httpapi.Client, path string, rows int) (time.Duration, error) {
	body, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	t0 := time.Now()
	res, err := c.Upload(ctx, filepath.Base(path), body)
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

// prefill stores cfg.Prefill rows before the measured upload, in files of
// at most 1M rows generated with other seeds (so their ids differ).
func prefill(ctx context.Context, c *httpapi.Client, cfg Config, logf func(string, ...any)) error {
	for i, left := 0, cfg.Prefill; left > 0; i++ {
		n := min(left, 1_000_000)
		path := filepath.Join(cfg.Dir, fmt.Sprintf("txbench-prefill-%d.csv", i))
		if _, err := generate(path, n, cfg.Seed+1000+uint64(i)); err != nil {
			return err
		}
		wall, err := uploadAndWait(ctx, c, path, n)
		os.Remove(path)
		if err != nil {
			return fmt.Errorf("prefill file %d: %w", i, err)
		}
		logf("prefill: %d rows more in %.1fs", n, wall.Seconds())
		left -= n
	}
	return nil
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
	body, _ := json.Marshal(httpapi.NewKeyRequest{Name: "bench", QuotaPerDay: 1 << 40, RatePerSecond: 10000})
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
		if x.Rows == 0 {
			wall = fmt.Sprintf("%.2fms", float64(x.Wall.Microseconds())/1000)
		}
		fmt.Fprintf(w, "%-34s %12s %8s %10s %9s %9s", x.Name, rate, ratio, wall, cpu, rss)
		if x.Note != "" {
			fmt.Fprintf(w, "  %s", x.Note)
		}
		fmt.Fprintln(w)
	}
}
