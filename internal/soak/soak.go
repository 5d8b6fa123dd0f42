// Package soak runs `txpipe serve` as a subprocess under a long, hostile
// load and checks that nothing was lost or done twice: many concurrent
// clients upload valid, invalid, duplicate and larger files; the server is
// restarted at random intervals (kill -9 or a graceful stop); a webhook
// receiver fails half of the deliveries. At the end every accepted file must
// be COMPLETED with exact counts, every valid row stored once (and no row of
// an invalid file), and every final status notified once per webhook
// (deliveries deduplicated by X-Txpipe-Delivery).
//
// It is run by TestSoak when -soak is given (see soak_test.go).
package soak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/webhook"
)

// Config is a soak run.
type Config struct {
	Binary   string        // the txpipe binary
	Dir      string        // work dir: data dir, logs
	Duration time.Duration // how long clients upload
	Clients  int           // concurrent clients; 50 if 0
	// Restarts happen every MinRestart..MaxRestart (20 s..90 s if 0), half
	// of them kill -9, half graceful (SIGTERM).
	MinRestart, MaxRestart time.Duration
	// Drain bounds the wait, after the uploads, for every run to finish and
	// every notification to arrive; 25 min if 0.
	Drain time.Duration
	// Think is the most a client waits between two uploads (a uniform
	// pause of Think/4..Think); 8 s if 0.
	Think time.Duration
	// LargePerMille is how many new files in 1000 are large (20,000-60,000
	// rows); 3 if 0. The others have 5-200 rows.
	LargePerMille int
	Seed          uint64
	Logf          func(format string, args ...any)
}

// Report is what a soak run counted and found.
type Report struct {
	Uploads         int            // upload requests sent
	Answers         map[string]int // by HTTP status, or "error" for no answer
	Files           int            // distinct files made
	ValidFiles      int
	InvalidFiles    int
	LargeFiles      int
	Duplicates      int   // uploads of bytes sent before
	ValidRows       int64 // rows of the valid files
	StoredRows      int64 // transactions stored at the end
	Completed       int   // valid files COMPLETED with exact counts
	Rejected        int   // invalid files REJECTED
	Kills           int   // kill -9 restarts
	Graceful        int   // graceful restarts
	GracefulSlow    int   // graceful stops that took over 60 s (then killed)
	Deliveries      int   // POSTs the receiver got
	DeliveriesFail  int   // of them answered 500 on purpose
	DeliveriesOK    int   // answered 2xx
	DistinctOK      int   // distinct X-Txpipe-Delivery answered 2xx
	Redelivered     int   // dead deliveries redelivered by `txpipe webhook redeliver`
	BadSignatures   int
	Notified        map[string]int // files notified once, by status
	Problems        []string       // every exactness failure
	UploadSeconds   float64
	DrainSeconds    float64
	ServerCPUSecond float64 // user+sys of the server processes
}

// OK reports whether the run found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < 200 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// file is one distinct upload's bytes and what it must end as.
type file struct {
	name   string
	body   []byte
	sha    string
	valid  bool
	rows   int64
	prefix string // its transaction ids start with prefix
	fileID string // from the server's answer
}

type run struct {
	cfg   Config
	rep   *Report
	mu    sync.Mutex
	rnd   *rand.Rand
	nonce string

	files  map[string]*file // by sha
	order  []*file
	made   int
	srv    *server
	srvMu  sync.Mutex // held while the server restarts
	apiKey string
	addr   string
	rcv    *receiver
	client *http.Client
}

// Run runs a soak and returns its report; an error means it could not run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 50
	}
	if cfg.MinRestart <= 0 {
		cfg.MinRestart = 20 * time.Second
	}
	if cfg.MaxRestart <= cfg.MinRestart {
		cfg.MaxRestart = cfg.MinRestart + 70*time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 25 * time.Minute
	}
	if cfg.Think <= 0 {
		cfg.Think = 8 * time.Second
	}
	if cfg.LargePerMille <= 0 {
		cfg.LargePerMille = 3
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	r := &run{
		cfg: cfg, rep: &Report{Answers: map[string]int{}, Notified: map[string]int{}},
		rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), files: map[string]*file{},
		nonce:  fmt.Sprintf("s%x", cfg.Seed),
		client: &http.Client{Timeout: 5 * time.Minute},
	}
	r.rcv = newReceiver(cfg.Seed)
	defer r.rcv.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = ln.Addr().String()
	ln.Close()

	if err := r.start(ctx); err != nil {
		return nil, err
	}
	defer func() { r.srv.kill() }()
	dataDir := filepath.Join(cfg.Dir, "data")
	// A key with room for the run (the first key's default quota is a
	// day's normal use), made in the running server's store.
	out, err := exec.CommandContext(ctx, cfg.Binary, "apikey", "create", "--data-dir", dataDir, "--name", "soak",
		"--quota-per-day", "1000000000", "--rate-per-second", "100000", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	var key struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &key); err != nil {
		return nil, fmt.Errorf("create key: %s: %w", out, err)
	}
	r.apiKey = key.APIKey
	if r.apiKey == "" {
		return nil, fmt.Errorf("create key printed no key: %s", out)
	}
	secret, err := r.webhookSecret(ctx)
	if err != nil {
		return nil, err
	}
	r.rcv.setSecret(secret)

	// Uploads, with restarts, for cfg.Duration.
	start := time.Now()
	upCtx, stopUploads := context.WithTimeout(ctx, cfg.Duration)
	defer stopUploads()
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Go(func() { r.client_(upCtx, i) })
	}
	restartsDone := make(chan struct{})
	go func() { defer close(restartsDone); r.restarts(upCtx) }()
	wg.Wait()
	<-restartsDone
	r.rep.UploadSeconds = time.Since(start).Seconds()
	cfg.Logf("uploads done: %d requests, %d files; draining", r.rep.Uploads, len(r.order))

	// Drain: every run final, every notification delivered.
	start = time.Now()
	r.rcv.stopFailing() // retries still wait their back-off
	if err := r.drain(ctx); err != nil {
		r.rep.problem("drain: %v", err)
	}
	r.rep.DrainSeconds = time.Since(start).Seconds()
	// Graceful stop, then check the store itself.
	r.srv.stop(2 * time.Minute)
	r.rep.ServerCPUSecond += r.srv.cpu()
	r.check(ctx, dataDir)
	return r.rep, nil
}

// server is one `txpipe serve` process.
type server struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *server) kill() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop sends SIGTERM and waits up to grace, then kills; it reports whether
// the process ended by itself.
func (s *server) stop(grace time.Duration) bool {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return true
	case <-time.After(grace):
		s.kill()
		return false
	}
}

func (s *server) cpu() float64 {
	if s.cmd.ProcessState == nil {
		return 0
	}
	return (s.cmd.ProcessState.UserTime() + s.cmd.ProcessState.SystemTime()).Seconds()
}

func (r *run) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(r.cfg.Dir, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	var lastErr error
	for attempt := range 20 {
		cmd := exec.Command(r.cfg.Binary, "serve", "--addr", r.addr, "--data-dir", filepath.Join(r.cfg.Dir, "data"),
			"--webhook", r.rcv.url(), "--log-format", "json", "--json")
		cmd.Stderr = logf
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		s := &server{cmd: cmd, done: make(chan struct{})}
		go func() { cmd.Wait(); close(s.done) }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.Contains(line, "address") {
			go io.Copy(io.Discard, stdout)
			r.srv = s
			return nil
		}
		<-s.done
		lastErr = fmt.Errorf("serve did not start (attempt %d): %q %v (see serve.log)", attempt+1, line, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond): // the port may still be held
		}
	}
	return lastErr
}

func (r *run) webhookSecret(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, r.cfg.Binary, "webhook", "list", "--data-dir", filepath.Join(r.cfg.Dir, "data"), "--json").Output()
	if err != nil {
		return "", fmt.Errorf("webhook list: %w", err)
	}
	var l struct {
		Webhooks []struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"webhooks"`
	}
	if err := json.Unmarshal(out, &l); err != nil || len(l.Webhooks) != 1 {
		return "", fmt.Errorf("webhook list: %s (%v)", out, err)
	}
	return l.Webhooks[0].Secret, nil
}

// restarts restarts the server at random intervals until ctx is done.
func (r *run) restarts(ctx context.Context) {
	for {
		r.mu.Lock()
		wait := r.cfg.MinRestart + time.Duration(r.rnd.Int64N(int64(r.cfg.MaxRestart-r.cfg.MinRestart)))
		kill := r.rnd.IntN(2) == 0
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		r.srvMu.Lock()
		old := r.srv
		slow := false
		if kill {
			old.kill()
		} else {
			slow = !old.stop(60 * time.Second)
		}
		r.mu.Lock()
		if kill {
			r.rep.Kills++
		} else {
			r.rep.Graceful++
		}
		if slow {
			r.rep.GracefulSlow++
		}
		r.rep.ServerCPUSecond += old.cpu()
		kills, graceful := r.rep.Kills, r.rep.Graceful
		r.mu.Unlock()
		how := map[bool]string{true: "kill -9", false: "graceful stop"}[kill]
		if err := r.start(context.WithoutCancel(ctx)); err != nil {
			r.record("restart after %s: %v", how, err)
			r.srvMu.Unlock()
			return
		}
		r.srvMu.Unlock()
		r.cfg.Logf("restarted after %s (%d kills, %d graceful so far)", how, kills, graceful)
	}
}

// newFile makes a distinct file: valid (85%), invalid (one bad row), or
// large (20,000-60,000 rows, valid or not).
func (r *run) newFile() *file {
	r.mu.Lock()
	n := r.made // reserved here: two clients make files at once
	r.made++
	kind := r.rnd.IntN(1000)
	seed := r.rnd.Uint64()
	r.mu.Unlock()
	rnd := rand.New(rand.NewPCG(seed, uint64(n)))
	f := &file{prefix: fmt.Sprintf("%s-f%d-", r.nonce, n), valid: kind >= 150}
	rows := 5 + rnd.IntN(196)
	if kind >= 1000-r.cfg.LargePerMille {
		rows = 20_000 + rnd.IntN(40_000)
	}
	bad := -1
	if !f.valid {
		bad = rnd.IntN(rows)
	}
	var b bytes.Buffer
	b.Grow(rows * 80)
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	currencies := []string{"USD", "EUR", "GBP"}
	statuses := []string{"completed", "pending", "failed"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rows {
		amount := fmt.Sprintf("%d.%02d", rnd.IntN(100000), rnd.IntN(100))
		if i == bad {
			amount += "7" // three fraction digits: rejected
		}
		ts := time.Unix(base+rnd.Int64N(365*86400), 0).UTC().Format(time.RFC3339)
		fmt.Fprintf(&b, "%s%d,%s,%s,%s,merchant %d,%s\n", f.prefix, i, amount, currencies[rnd.IntN(3)], ts, rnd.IntN(1000), statuses[rnd.IntN(3)])
	}
	f.body = b.Bytes()
	f.rows = int64(rows)
	sum := sha256.Sum256(f.body)
	f.sha = hex.EncodeToString(sum[:])
	f.name = fmt.Sprintf("soak-%d.csv", n)
	r.mu.Lock()
	r.files[f.sha] = f
	r.order = append(r.order, f)
	r.rep.Files++
	if f.valid {
		r.rep.ValidFiles++
		r.rep.ValidRows += f.rows
	} else {
		r.rep.InvalidFiles++
	}
	if rows >= 20_000 {
		r.rep.LargeFiles++
	}
	r.mu.Unlock()
	return f
}

// client_ uploads until ctx is done: a new file, or (one in five) the
// bytes of a file sent before.
func (r *run) client_(ctx context.Context, i int) {
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
	for ctx.Err() == nil {
		var f *file
		r.mu.Lock()
		if len(r.order) > 0 && rnd.IntN(5) == 0 {
			f = r.order[rnd.IntN(len(r.order))]
			r.rep.Duplicates++
		}
		r.mu.Unlock()
		if f == nil {
			f = r.newFile()
		}
		r.upload(ctx, f)
		select {
		case <-ctx.Done():
		case <-time.After(r.cfg.Think/4 + time.Duration(rnd.Int64N(int64(r.cfg.Think*3/4)))):
		}
	}
}

// upload sends f until it gets an answer that decides it (accepted or
// rejected); restarts, 429, 503 and 5xx are retried. An upload cut by the
// end of the run is finished after it, so every file made has an answer.
func (r *run) upload(ctx context.Context, f *file) {
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.addr+"/upload?filename="+f.name, bytes.NewReader(f.body))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("x-api-key", r.apiKey)
		resp, err := r.client.Do(req)
		r.mu.Lock()
		r.rep.Uploads++
		code := "error"
		if err == nil {
			code = fmt.Sprint(resp.StatusCode)
		}
		r.rep.Answers[code]++
		r.mu.Unlock()
		if err == nil {
			var st txpipe.FileStatus
			derr := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted, http.StatusOK, http.StatusUnprocessableEntity:
				if derr != nil || st.FileID == "" {
					r.record("upload of %s answered %d without a record: %v", f.name, resp.StatusCode, derr)
					return
				}
				r.mu.Lock()
				if f.fileID != "" && f.fileID != st.FileID {
					r.rep.problem("%s answered file id %s, before %s", f.name, st.FileID, f.fileID)
				}
				f.fileID = st.FileID
				r.mu.Unlock()
				rejected := resp.StatusCode == http.StatusUnprocessableEntity || st.Status == txpipe.StatusRejected
				if rejected == f.valid {
					r.record("%s (valid=%v) answered %d %s", f.name, f.valid, resp.StatusCode, st.Status)
				}
				return
			case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError,
				http.StatusBadGateway, http.StatusInsufficientStorage:
			default:
				r.record("upload of %s answered %d", f.name, resp.StatusCode)
				return
			}
		}
		time.Sleep(time.Duration(min(100*(attempt+1), 2000)) * time.Millisecond)
	}
}

func (r *run) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.problem(format, args...)
}

// drain waits until every file is final and every final status of an
// accepted file is delivered, redelivering dead deliveries.
func (r *run) drain(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.Drain)
	pending := slicesClone(r.order)
	for len(pending) > 0 {
		var still []*file
		for _, f := range pending {
			if f.fileID == "" {
				continue
			}
			st, err := r.status(ctx, f.fileID)
			if err != nil || !txpipe.IsFinal(st.Status) {
				still = append(still, f)
			}
		}
		pending = still
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d files not final after the drain's %s", len(pending), r.cfg.Drain)
			}
			time.Sleep(2 * time.Second)
		}
	}
	r.cfg.Logf("every file final; waiting for notifications")
	for {
		missing := 0
		for _, f := range r.order {
			if f.valid && f.fileID != "" && !r.rcv.delivered(f.fileID) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d notifications not delivered after the drain's %s", missing, r.cfg.Drain)
		}
		// Dead deliveries (10 failed attempts) are redelivered by hand, as
		// an operator would.
		if n, err := r.redeliverDead(ctx); err != nil {
			r.cfg.Logf("redeliver: %v", err)
		} else if n > 0 {
			r.rep.Redelivered += n
			r.cfg.Logf("redelivered %d dead deliveries", n)
		}
		r.cfg.Logf("%d notifications still to come", missing)
		time.Sleep(15 * time.Second)
	}
}

func slicesClone(fs []*file) []*file { return append([]*file(nil), fs...) }

func (r *run) status(ctx context.Context, id string) (*txpipe.FileStatus, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/status/"+id, nil)
	req.Header.Set("x-api-key", r.apiKey)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /status/%s: %d", id, resp.StatusCode)
	}
	var st txpipe.FileStatus
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

func (r *run) redeliverDead(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, r.cfg.Binary, "webhook", "list", "--data-dir", filepath.Join(r.cfg.Dir, "data"), "--json").Output()
	if err != nil {
		return 0, fmt.Errorf("webhook list: %w", err)
	}
	var l struct {
		Deliveries []webhook.Delivery `json:"deliveries"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range l.Deliveries {
		if d.State != webhook.StateDead {
			continue
		}
		if out, err := exec.CommandContext(ctx, r.cfg.Binary, "webhook", "redeliver", "--data-dir", filepath.Join(r.cfg.Dir, "data"), fmt.Sprint(d.ID)).CombinedOutput(); err != nil {
			return n, fmt.Errorf("webhook redeliver %d: %s: %w", d.ID, out, err)
		}
		n++
	}
	return n, nil
}

// check opens the stopped server's data dir and compares it with what the
// clients sent, and the receiver's deliveries with the final statuses.
func (r *run) check(ctx context.Context, dataDir string) {
	rep := r.rep
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "txpipe.db"), nil)
	if err != nil {
		rep.problem("open the data dir: %v", err)
		return
	}
	defer db.Close()
	byPrefix := map[string]*file{}
	for _, f := range r.order {
		byPrefix[f.prefix] = f
		if f.fileID == "" {
			rep.problem("%s never got an answer", f.name)
			continue
		}
		st, err := db.GetStatus(ctx, f.fileID)
		if err != nil {
			rep.problem("%s (%s): %v", f.name, f.fileID, err)
			continue
		}
		switch {
		case f.valid && st.Status == txpipe.StatusCompleted && st.Rows == f.rows && st.Counts() == (txpipe.Counts{Inserted: f.rows}):
			rep.Completed++
		case !f.valid && st.Status == txpipe.StatusRejected:
			rep.Rejected++
		default:
			rep.problem("%s (%s, valid=%v, %d rows): %s rows %d counts %+v failure %q", f.name, f.fileID, f.valid, f.rows, st.Status, st.Rows, st.Counts(), st.Failure)
		}
	}
	// Every stored row: one of a valid file, written by that file, once.
	perFile := map[*file]int64{}
	seen := map[string]bool{}
	q := txpipe.TxQuery{From: time.Unix(0, 0), To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: txpipe.MaxTxLimit}
	for {
		page, err := db.ListTransactions(ctx, q)
		if err != nil {
			rep.problem("list transactions: %v", err)
			return
		}
		for _, tx := range page.Items {
			rep.StoredRows++
			if seen[tx.ID] {
				rep.problem("transaction %s stored twice", tx.ID)
			}
			seen[tx.ID] = true
			i := strings.LastIndexByte(tx.ID, '-')
			f := byPrefix[tx.ID[:i+1]]
			switch {
			case f == nil:
				rep.problem("transaction %s of no file sent", tx.ID)
			case !f.valid:
				rep.problem("transaction %s of the invalid %s stored", tx.ID, f.name)
			case tx.FileID != f.fileID:
				rep.problem("transaction %s written by %s, not %s", tx.ID, tx.FileID, f.fileID)
			default:
				perFile[f]++
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if rep.StoredRows != rep.ValidRows {
		rep.problem("%d rows stored, the valid files have %d", rep.StoredRows, rep.ValidRows)
	}
	for _, f := range r.order {
		if f.valid && perFile[f] != f.rows {
			rep.problem("%s: %d of its %d rows stored", f.name, perFile[f], f.rows)
		}
	}
	// Notifications: each accepted file's final status once (distinct
	// delivery ids answered 2xx), none for anything else.
	notes := r.rcv.report(rep)
	for _, f := range r.order {
		got := notes[f.fileID]
		delete(notes, f.fileID)
		if !f.valid {
			if len(got) > 0 {
				rep.problem("rejected %s notified %v", f.name, got)
			}
			continue
		}
		if len(got) != 1 || got[txpipe.StatusCompleted] != 1 {
			rep.problem("%s (%s) notified %v, want COMPLETED once", f.name, f.fileID, got)
			continue
		}
		rep.Notified[txpipe.StatusCompleted]++
	}
	for id, got := range notes {
		rep.problem("notifications %v for unknown file %s", got, id)
	}
}

// receiver is the webhook endpoint: it fails half the POSTs with 500 (until
// stopFailing), verifies signatures, and records each delivery answered
// 2xx by its X-Txpipe-Delivery.
type receiver struct {
	srv     *http.Server
	ln      net.Listener
	mu      sync.Mutex
	rnd     *rand.Rand
	secret  string
	failing bool
	posts   int
	failed  int
	okPosts int
	badSig  int
	ok      map[string]txpipe.Notification // by delivery id
}

func newReceiver(seed uint64) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	rc := &receiver{ln: ln, rnd: rand.New(rand.NewPCG(seed, 7)), failing: true, ok: map[string]txpipe.Notification{}}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go rc.srv.Serve(ln)
	return rc
}

func (rc *receiver) url() string        { return "http://" + rc.ln.Addr().String() + "/hook" }
func (rc *receiver) close()             { rc.srv.Close() }
func (rc *receiver) setSecret(s string) { rc.mu.Lock(); rc.secret = s; rc.mu.Unlock() }
func (rc *receiver) stopFailing()       { rc.mu.Lock(); rc.failing = false; rc.mu.Unlock() }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if rc.secret != "" {
		if err := webhook.Verify(rc.secret, req.Header, body, time.Now(), 10*time.Minute); err != nil {
			rc.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	if rc.failing && rc.rnd.IntN(2) == 0 {
		rc.failed++
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	var n txpipe.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not a notification", http.StatusBadRequest)
		return
	}
	rc.okPosts++
	rc.ok[req.Header.Get(webhook.HeaderDelivery)] = n
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) delivered(fileID string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.ok {
		if n.FileID == fileID {
			return true
		}
	}
	return false
}

// report adds the receiver's counts to rep and returns, by file id, the
// distinct deliveries answered 2xx by status.
func (rc *receiver) report(rep *Report) map[string]map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rep.Deliveries, rep.DeliveriesFail, rep.DeliveriesOK, rep.BadSignatures = rc.posts, rc.failed, rc.okPosts, rc.badSig
	rep.DistinctOK = len(rc.ok)
	out := map[string]map[string]int{}
	for _, n := range rc.ok {
		if out[n.FileID] == nil {
			out[n.FileID] = map[string]int{}
		}
		out[n.FileID][n.Status]++
	}
	if rc.badSig > 0 {
		rep.problem("%d deliveries with a bad signature", rc.badSig)
	}
	return out
}

// Summary is the report as lines for a note.
func (r *Report) Summary() string {
	var b strings.Builder
	codes := make([]string, 0, len(r.Answers))
	for c := range r.Answers {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var answers []string
	for _, c := range codes {
		answers = append(answers, fmt.Sprintf("%s:%d", c, r.Answers[c]))
	}
	fmt.Fprintf(&b, "uploads %d (answers %s) over %.0f s; drain %.0f s; server CPU %.0f s\n", r.Uploads, strings.Join(answers, " "), r.UploadSeconds, r.DrainSeconds, r.ServerCPUSecond)
	fmt.Fprintf(&b, "files %d distinct: %d valid (%d large), %d invalid; %d duplicate uploads\n", r.Files, r.ValidFiles, r.LargeFiles, r.InvalidFiles, r.Duplicates)
	fmt.Fprintf(&b, "end: %d COMPLETED with exact counts, %d REJECTED; rows stored %d, valid rows %d\n", r.Completed, r.Rejected, r.StoredRows, r.ValidRows)
	fmt.Fprintf(&b, "restarts: %d kill -9, %d graceful (%d over 60 s)\n", r.Kills, r.Graceful, r.GracefulSlow)
	fmt.Fprintf(&b, "webhook: %d POSTs, %d failed on purpose, %d answered 2xx (%d distinct deliveries), %d redelivered by hand, %d bad signatures; notified once: %v\n",
		r.Deliveries, r.DeliveriesFail, r.DeliveriesOK, r.DistinctOK, r.Redelivered, r.BadSignatures, r.Notified)
	if len(r.Problems) == 0 {
		b.WriteString("problems: none\n")
	} else {
		fmt.Fprintf(&b, "problems (%d):\n  %s\n", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
	return b.String()
}
