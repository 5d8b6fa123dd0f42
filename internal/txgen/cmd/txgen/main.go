// Command txgen writes a deterministic transaction file (see package txgen),
// for benchmarks and manual tests:
//
//	go run ./internal/txgen/cmd/txgen -rows 1000000 -o /tmp/1m.csv
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/txpipe/txpipe/internal/txgen"
)

func main() {
	var opts txgen.Options
	flag.IntVar(&opts.Rows, "rows", 1000, "data rows")
	flag.Uint64Var(&opts.Seed, "seed", 1, "seed; the same seed writes the same bytes")
	flag.Float64Var(&opts.BadShare, "bad", 0, "share of rows with an error (0 to 1)")
	flag.BoolVar(&opts.CRLF, "crlf", false, "CRLF line ends")
	out := flag.String("o", "-", "output file (- for standard output)")
	flag.Parse()
	if err := run(*out, opts); err != nil {
		fmt.Fprintln(os.Stderr, "txgen:", err)
		os.Exit(1)
	}
}

func run(out string, opts txgen.Options) error {
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := txgen.Write(w, opts); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && out != "-" {
		return f.Close()
	}
	return nil
}
