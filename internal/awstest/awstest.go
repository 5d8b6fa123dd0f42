// Package awstest starts the AWS emulators the adapter tests run against and
// builds real aws-sdk-go-v2 configurations for them: dynalite (npm) for
// DynamoDB, moto_server (Python) for SNS and SQS, and gofakes3 in process for
// S3. The SDK talks real HTTP to each.
//
// An emulator that cannot be found is an error the tests report with Need:
// t.Fatal when CI=true, t.Skip otherwise.
package awstest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region of every emulator configuration.
const Region = "us-east-1"

// ErrMissing is returned when an emulator's program is not installed.
var ErrMissing = errors.New("emulator not installed")

// Need ends the test when err is set: t.Fatal in CI (CI=true) or for any
// error other than a missing emulator, t.Skip otherwise.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrMissing) && os.Getenv("CI") != "true" {
		t.Skipf("%s: %v (set CI=true to make this a failure)", what, err)
	}
	t.Fatalf("%s: %v", what, err)
}

// Config returns an SDK configuration with static credentials and the test
// region whose requests go to endpoint.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
}

// Server is an emulator running as a child process.
type Server struct {
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// Close stops the emulator and waits for it to exit.
func (s *Server) Close() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return nil
}

// CPUTime returns the processor time (user and system) the emulator
// process has used so far, read from /proc (Linux only), so a benchmark can
// tell whether the emulator or the code is its ceiling.
func (s *Server) CPUTime() (time.Duration, error) {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0, errors.New("emulator not started by this process")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name in parentheses; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 a second).
	rest := b[bytes.LastIndexByte(b, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat", s.cmd.Process.Pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", s.cmd.Process.Pid, err)
	}
	return time.Duration(u+st) * 10 * time.Millisecond, nil
}

// Output returns what the emulator printed so far.
func (s *Server) Output() string { return s.out.String() }

// StartDynalite starts dynalite, in memory, on a free loopback port. It looks
// for the program on PATH and then in node_modules/.bin of the enclosing
// directories (npm ci installs it into the repository's node_modules).
//
// When TXPIPE_TEST_DYNAMODB_ENDPOINT is set, it starts nothing and returns a
// Server of that endpoint (another emulator, or a dynalite started by hand).
func StartDynalite(ctx context.Context) (*Server, error) {
	if u := os.Getenv("TXPIPE_TEST_DYNAMODB_ENDPOINT"); u != "" {
		return &Server{URL: u, out: &syncBuffer{}}, nil
	}
	bin, err := findProgram("dynalite", "node_modules/.bin/dynalite")
	if err != nil {
		return nil, err
	}
	return start(ctx, bin, func(port int) []string {
		return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	})
}

// StartMoto starts moto_server (SNS and SQS, among others) on a free loopback
// port.
//
// It runs moto_server from PATH, or else `python3 -m moto.server` when
// python3 can import moto (pip package moto[server], preinstalled on the
// project's machines). goaws v0.4.5, the Go emulator, speaks only the query
// protocol, which aws-sdk-go-v2's SQS client no longer uses.
func StartMoto(ctx context.Context) (*Server, error) {
	var pre []string
	bin, err := findProgram("moto_server")
	if err != nil {
		py, perr := exec.LookPath("python3")
		if perr != nil || exec.CommandContext(ctx, py, "-c", "import moto.server").Run() != nil {
			return nil, err
		}
		bin, pre = py, []string{"-m", "moto.server"}
	}
	return start(ctx, bin, func(port int) []string {
		return append(pre, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	})
}

// StartS3 starts gofakes3 (in memory) on a loopback httptest server and
// returns its URL. Clients must use path-style addressing (see S3Options).
func StartS3(t testing.TB) string {
	t.Helper()
	faker := gofakes3.New(s3mem.New())
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	return srv.URL
}

func findProgram(name string, relative ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		for _, rel := range relative {
			p := filepath.Join(dir, rel)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			where := "PATH"
			if len(relative) > 0 {
				where += " nor in " + strings.Join(relative, ", ") + " of the enclosing directories"
			}
			return "", fmt.Errorf("%s: %w (not on %s)", name, ErrMissing, where)
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs bin on a free port and waits until the port accepts
// connections. A port taken between the probe and the start is retried.
func start(ctx context.Context, bin string, args func(port int) []string) (*Server, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		out := &syncBuffer{}
		cmd := exec.Command(bin, args(port)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, out: out, done: make(chan error, 1)}
		go func() { s.done <- cmd.Wait() }()
		if lastErr = s.wait(ctx, port); lastErr == nil {
			return s, nil
		}
		_ = s.Close()
	}
	return nil, lastErr
}

func (s *Server) wait(ctx context.Context, port int) error {
	deadline := time.Now().Add(30 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("%s exited before listening (%v): %s", s.cmd.Path, err, s.Output())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within 30s: %s", s.cmd.Path, addr, s.Output())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // keep the head only: enough to explain a failed start
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SkipShort skips an emulator-backed test under -short: the quick loop
// leaves them to the full run (`go test ./...`, CI).
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts AWS emulators; run without -short")
	}
}

// Emulator is one emulator shared by the tests of a package: its TestMain
// calls Run, each test URL.
//
//	var dynalite = awstest.NewEmulator("dynalite", awstest.StartDynalite)
//	func TestMain(m *testing.M) { dynalite.Run(m) }
type Emulator struct {
	name  string
	start func(context.Context) (*Server, error)
	srv   *Server
	err   error
	short bool
}

// NewEmulator returns an emulator that start starts; name is how errors
// call it.
func NewEmulator(name string, start func(context.Context) (*Server, error)) *Emulator {
	return &Emulator{name: name, start: start}
}

// Run starts the emulator (not under -short), runs the tests, stops it
// and exits with the tests' code.
func (e *Emulator) Run(m *testing.M) { RunAll(m, e) }

// RunAll is Run for the several emulators of one test package.
func RunAll(m *testing.M, es ...*Emulator) {
	flag.Parse()
	for _, e := range es {
		e.short = testing.Short()
		if !e.short {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			e.srv, e.err = e.start(ctx)
			cancel()
		}
	}
	code := m.Run()
	for _, e := range es {
		if e.srv != nil {
			_ = e.srv.Close()
		}
	}
	os.Exit(code)
}

// URL returns the emulator's endpoint. Under -short it skips t; if the
// emulator did not start it ends t as Need does.
func (e *Emulator) URL(t testing.TB) string {
	t.Helper()
	if e.short {
		t.Skipf("uses %s; run without -short", e.name)
	}
	Need(t, e.name, e.err)
	return e.srv.URL
}

// Server returns the running emulator, or skips or ends t as URL does.
func (e *Emulator) Server(t testing.TB) *Server {
	t.Helper()
	e.URL(t)
	return e.srv
}

// Serialize returns the URL of a proxy that passes the requests to target
// one at a time. moto runs a DynamoDB transaction on a copy of the table
// and puts the copy back when it fails, undoing the writes of requests that
// ran beside it; DynamoDB isolates a transaction from every other write,
// which one request at a time models.
func Serialize(t testing.TB, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
