// Package xlsx reads a sheet of an .xlsx workbook as CSV records for
// csvschema. The binaries import it for its effect; csvschema itself links
// no spreadsheet library, so neither does what builds on it without reading
// workbooks.
package xlsx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/txpipe/txpipe/csvschema"
)

func init() { csvschema.RegisterSheetReader(Rows) }

// xlsxLimit bounds the unzipped size of a workbook's parts held in
// memory: worksheets are read as they are unzipped, a table of shared
// strings over it goes to a temporary file, so memory holds about this
// much whatever the sheet's rows.
const xlsxLimit = 16 << 20

// Rows reads the sheet of a workbook (the first if sheet is "") row
// by row (workbook.go), and yields it as comma-separated
// records, one physical line per sheet row (empty rows too), so the
// engine's line numbers are the sheet's row numbers. Cells are their raw
// text: numbers as stored (no float formatting), dates as serial day
// numbers, which the checker reads as dates. A line feed inside a cell is
// written as a carriage return, which keeps the row on its line and is
// still a control character to the rules. The returned closer stops the
// conversion and removes the temporary files.
func Rows(r io.Reader, sheet string) (io.Reader, string, func(), error) {
	f, err := open(r)
	if err != nil {
		return nil, "", nil, err
	}
	sheets := f.sheetList()
	if sheet == "" && len(sheets) > 0 {
		sheet = sheets[0]
	}
	found := false
	for _, s := range sheets {
		found = found || s == sheet
	}
	if !found {
		f.close()
		return nil, "", nil, &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: no sheet %q; the workbook has %s", csvschema.ErrSheet, sheet, strings.Join(quoteAll(sheets), ", "))}
	}
	rows, err := f.rows(sheet)
	if err != nil {
		f.close()
		return nil, "", nil, &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: sheet %q: %v", csvschema.ErrSheet, sheet, err)}
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.close()
		defer rows.close()
		w := bufio.NewWriterSize(pw, 64<<10)
		var err error
		for rows.next() {
			var cells []string
			if cells, err = rows.columns(); err != nil {
				break
			}
			for i, c := range cells {
				if i > 0 {
					w.WriteByte(',')
				}
				writeCell(w, c)
			}
			if err = w.WriteByte('\n'); err != nil {
				break
			}
		}
		if err == nil {
			err = rows.err
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			err = fmt.Errorf("sheet %q: %w", sheet, err)
		}
		pw.CloseWithError(err)
	}()
	stop := func() {
		pr.CloseWithError(errors.New("stopped"))
		<-done
	}
	return pr, sheet, stop, nil
}

// open opens the workbook r from a file: r itself if it is one, else a
// temporary copy of r (streamed through a 32 KiB buffer, removed once
// open): a zip archive is read from its end. A workbook that cannot be
// read is a RowError on line 1; a failure to copy r is returned as it is
// (a read error, a full disk: not the file's fault).
func open(r io.Reader) (*workbook, error) {
	path := ""
	if file, ok := r.(*os.File); ok {
		if _, err := file.Seek(0, io.SeekCurrent); err == nil {
			path = file.Name()
		}
	}
	if path == "" {
		tmp, err := os.CreateTemp("", "txpipe-workbook-*.xlsx")
		if err != nil {
			return nil, fmt.Errorf("copy workbook to a temporary file: %w", err)
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, onlyReader{r}) // not WriterTo: no ReadAll
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("copy workbook to %s: %w", tmp.Name(), err)
		}
		path = tmp.Name()
	}
	f, err := openWorkbook(path)
	if err != nil {
		return nil, &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: not an .xlsx workbook: %v", csvschema.ErrSheet, err)}
	}
	return f, nil
}

// onlyReader hides everything of a reader but Read.
type onlyReader struct{ io.Reader }

// writeCell writes a cell as a CSV field, quoted when it must be.
func writeCell(w *bufio.Writer, c string) {
	if strings.IndexByte(c, '\n') >= 0 {
		c = strings.ReplaceAll(c, "\n", "\r")
	}
	if !strings.ContainsAny(c, ",\"\r") {
		w.WriteString(c)
		return
	}
	w.WriteByte('"')
	w.WriteString(strings.ReplaceAll(c, `"`, `""`))
	w.WriteByte('"')
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
