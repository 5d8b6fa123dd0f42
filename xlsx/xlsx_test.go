package xlsx_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/xlsx"
)

// workbook writes a workbook of n transaction rows to a file.
func workbook(t *testing.T, n int) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	row := func(i int, vals ...any) {
		cell, _ := excelize.CoordinatesToCellName(1, i)
		if err := sw.SetRow(cell, vals); err != nil {
			t.Fatal(err)
		}
	}
	row(1, "transaction_id", "amount", "currency", "timestamp", "merchant", "status")
	for i := range n {
		row(i+2, fmt.Sprintf("tx-%07d", i), float64(i%9000)+0.25, "EUR", "2024-03-01T10:00:00Z", fmt.Sprintf("Merchant %d", i%1000), "completed")
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// read reads the first sheet of the workbook r as CSV, and returns it and
// the bytes allocated meanwhile.
func read(t *testing.T, r io.Reader) (string, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rr, sheet, stop, err := xlsx.Rows(r, "")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, err = io.Copy(&out, rr)
	stop()
	runtime.ReadMemStats(&after)
	if err != nil || sheet != "Sheet1" {
		t.Fatalf("sheet %q: %v", sheet, err)
	}
	return out.String(), after.TotalAlloc - before.TotalAlloc - uint64(out.Len())
}

// TestRowsFromAReaderNotAFile: a workbook read from a reader that is not a
// file (an S3 object's body on AWS) is copied to a temporary file, not held
// in memory (excelize.OpenReader reads it all): it yields the same records
// as from the file, allocates about as much (not the workbook's size more),
// and leaves no temporary file behind.
func TestRowsFromAReaderNotAFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	rows := 20_000
	if testing.Short() {
		rows = 5_000 // 140 KB: still far above the ~25 KB the two reads' allocations differ by
	}
	path := workbook(t, rows)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fromFile, fileAlloc := read(t, f)
	if n := strings.Count(fromFile, "\n"); n != rows+1 || !strings.HasPrefix(fromFile, "transaction_id,amount,") {
		t.Fatalf("from the file: %d lines: %.80q", n, fromFile)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(func() error { _, err := pw.Write(data); return err }()) }()
	fromPipe, pipeAlloc := read(t, pr)
	if fromPipe != fromFile {
		t.Fatalf("from a pipe the records differ (%d bytes, from the file %d)", len(fromPipe), len(fromFile))
	}
	t.Logf("workbook %d bytes; allocated reading it from the file %d, from a pipe %d", len(data), fileAlloc, pipeAlloc)
	if pipeAlloc > fileAlloc+uint64(len(data))/2 {
		t.Errorf("from a pipe %d bytes allocated, from the file %d: the %d-byte workbook was held in memory", pipeAlloc, fileAlloc, len(data))
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A failing reader is an error, not a rejected file.
	_, _, _, err = xlsx.Rows(io.MultiReader(bytes.NewReader(data[:1000]), errReader{}), "")
	if err == nil || !strings.Contains(err.Error(), "copy workbook") || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("read error: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("connection reset") }

// TestXLSXErrors: csvschema numbers the errors of a workbook by sheet row;
// a missing sheet and a number with float noise are clear errors.
func TestXLSXErrors(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{
		{"transaction_id", "amount", "currency", "timestamp", "merchant", "status"},
		{"A1", 12.5, "EUR", "2024-01-15T10:30:00Z", "Shop", "completed"},
		nil, // row 3 blank
		{"A2", 0.125, "EUR", 45306.4375, "Shop", "completed"},
		{"A3", "12,50", "EUR", 45306.4375, "Line\nbreak", "completed"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if r != nil {
			if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(b.Bytes()), csvschema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Errors {
		got = append(got, e.Error())
	}
	want := []string{
		`line 4, column amount: invalid amount: 3 fraction digits, EUR has 2 (value "0.125")`,
		`line 5, column amount: invalid amount: not a plain decimal such as 99.99; a decimal comma or thousands separator is read only under a profile that declares it (amount: {decimal: ",", thousands: "."}) (value "12,50")`,
		`line 5, column merchant: control character in value (value "Line\rbreak")`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || rep.Rows != 3 || rep.Dialect.Sheet != "Sheet1" {
		t.Errorf("rows %d, dialect %+v, errors:\n%s\nwant:\n%s", rep.Rows, rep.Dialect, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rep, err = csvschema.ValidateWith(context.Background(), bytes.NewReader(b.Bytes()), csvschema.Options{Format: csvschema.Format{Sheet: "Data"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Error() != `line 1: unreadable spreadsheet: no sheet "Data"; the workbook has "Sheet1"` {
		t.Errorf("missing sheet: %v", rep.Errors)
	}
}
