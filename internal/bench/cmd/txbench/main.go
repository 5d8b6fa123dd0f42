// Command txbench prints txpipe's benchmark table (see package bench):
//
//	go run ./internal/bench/cmd/txbench -txpipe /tmp/txpipe -rows 1000000
//
// scripts/bench.sh builds both binaries and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/txpipe/txpipe/internal/bench"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == bench.BareReadArg {
		if _, err := bench.BareRead(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "txbench:", err)
			os.Exit(1)
		}
		return
	}
	var cfg bench.Config
	flag.IntVar(&cfg.Rows, "rows", 1_000_000, "rows of the generated file")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	flag.StringVar(&cfg.Dir, "dir", os.TempDir(), "where the file and the data dir go")
	flag.StringVar(&cfg.Txpipe, "txpipe", "txpipe", "the txpipe binary")
	flag.IntVar(&cfg.Repeat, "repeat", 3, "runs of each read-only measurement (the fastest counts)")
	flag.IntVar(&cfg.Queries, "queries", 200, "one-day range queries for p50/p99")
	flag.IntVar(&cfg.Prefill, "prefill", 0, "rows stored before the measured upload (the store-growth measurement)")
	flag.IntVar(&cfg.SmallFiles, "small-files", 1000, "small files uploaded concurrently after the queries (0: none)")
	flag.IntVar(&cfg.SmallRows, "small-rows", 100, "rows of each small file")
	flag.IntVar(&cfg.SmallClients, "small-clients", 50, "concurrent clients uploading the small files")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "reuse this data dir, kept by an earlier run with -keep and the same -prefill (its rows are not written again)")
	flag.BoolVar(&cfg.KeepDataDir, "keep", false, "keep the end-to-end run's data dir (its path is printed)")
	flag.BoolVar(&cfg.TwoStep, "two-step", false, "send the measured file through POST /uploads (as any file over 100 MB is)")
	flag.BoolVar(&cfg.SkipE2E, "no-e2e", false, "leave out the end-to-end upload and the queries")
	flag.BoolVar(&cfg.OnlyE2E, "only-e2e", false, "only the end-to-end upload and the queries (to profile them)")
	flag.Parse()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "txbench:", err)
		os.Exit(2)
	}
	cfg.Self, cfg.Log = self, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "txbench:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
}
