//go:build integration

package soak

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	soakFor     = flag.Duration("soak", 0, "run the soak for this long (e.g. 30m); skipped if 0")
	soakClients = flag.Int("soak.clients", 50, "concurrent clients")
	soakSeed    = flag.Uint64("soak.seed", 0, "seed; the time if 0")
	soakThink   = flag.Duration("soak.think", 8*time.Second, "longest pause of a client between uploads")
	soakLarge   = flag.Int("soak.large", 3, "large files (20,000-60,000 rows) per 1000 new files")
	soakDir     = flag.String("soak.dir", "", "work dir to keep (data dir, serve.log); a temporary one if empty")
	soakRestart = flag.Duration("soak.restart", 20*time.Second, "shortest time between restarts (the longest is 70 s more)")
)

// TestSoak runs `txpipe serve` under mixed uploads from many clients with
// restarts and a failing webhook receiver (see the package doc), then
// checks files, rows and notifications are exact:
//
//	go test -tags integration ./internal/soak -run TestSoak -soak 30m -timeout 90m -v
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("run with -soak DURATION")
	}
	dir := *soakDir
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "txpipe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/txpipe/txpipe/cmd/txpipe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, work dir %s", seed, dir)
	rep, err := Run(context.Background(), Config{
		Binary: bin, Dir: dir, Duration: *soakFor, Clients: *soakClients, Seed: seed,
		Think: *soakThink, LargePerMille: *soakLarge,
		MinRestart: *soakRestart, MaxRestart: *soakRestart + 70*time.Second,
		Logf: func(format string, args ...any) { t.Logf(time.Now().UTC().Format("15:04:05 ")+format, args...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep.Summary())
	if !rep.OK() {
		t.Errorf("%d problems (listed above)", len(rep.Problems))
	}
}
