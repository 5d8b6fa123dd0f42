// Package fuzzmin bounds how long the fuzz engine minimises each new input
// of a package's fuzz targets.
//
// By default `go test -fuzz` spends up to 60 s minimising every input that
// finds new coverage, and the worker reports no execs meanwhile: with two
// workers both minimising, a run shows 0 execs/s for a minute at a time.
// The engine keeps a shorter candidate only if it hits every new coverage
// counter as often as the input did, and a CSV or YAML input's rows change
// those counts, so it seldom shrinks and tries its quadratic number of cuts
// until the time is up. A bound in runs of the target keeps the rate steady
// (a bound in time makes the coordinator kill a worker that overruns it).
package fuzzmin

import (
	"flag"
	"os"
	"testing"
)

// DefaultRuns is the minimisation bound Main sets: at 50-400 µs a run,
// 0.25-2 s per new input.
const DefaultRuns = "5000x"

// Main runs the package's tests, benchmarks and fuzz targets with
// -test.fuzzminimizetime set to DefaultRuns unless the command line sets it
// (-fuzzminimizetime), and exits with their status. Call it from TestMain.
func Main(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", DefaultRuns); err != nil {
			panic("fuzzmin: " + err.Error())
		}
	}
	os.Exit(m.Run())
}
