// Command txgen writes a deterministic transaction file (see package txgen),
// for benchmarks and manual tests:
//
//	go run ./internal/txgen/cmd/txgen -rows 1000000 -o /tmp/1m.csv
//	go run ./internal/txgen/cmd/txgen -rows 1000000 -xlsx -o /tmp/1m.xlsx
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/xuri/excelize/v2"

	"github.com/txpipe/txpipe/internal/txgen"
)

func main() {
	var opts txgen.Options
	flag.IntVar(&opts.Rows, "rows", 1000, "data rows")
	flag.Uint64Var(&opts.Seed, "seed", 1, "seed; the same seed writes the same bytes")
	flag.Float64Var(&opts.BadShare, "bad", 0, "share of rows with an error (0 to 1)")
	flag.BoolVar(&opts.CRLF, "crlf", false, "CRLF line ends")
	out := flag.String("o", "-", "output file (- for standard output)")
	xlsx := flag.Bool("xlsx", false, "write an .xlsx workbook (one sheet, amounts as numbers) instead of CSV")
	flag.Parse()
	run := run
	if *xlsx {
		run = runXLSX
	}
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

// runXLSX writes the same rows as a workbook, with excelize's stream
// writer (memory bounded whatever the rows).
func runXLSX(out string, opts txgen.Options) error {
	if out == "-" {
		return fmt.Errorf("-xlsx needs -o FILE")
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(txgen.Write(pw, opts)) }()
	r := csv.NewReader(pr)
	r.FieldsPerRecord = -1
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		vals := make([]any, len(rec))
		for i, v := range rec {
			vals[i] = v
			if i == 1 && row > 1 {
				if x, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(x, 'f', -1, 64) == v {
					vals[i] = x
				}
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(out)
}
