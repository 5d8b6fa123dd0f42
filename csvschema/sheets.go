package csvschema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// EncXLSX is the "encoding" a report gives a spreadsheet (.xlsx) file.
const EncXLSX = "xlsx"

// zipMagic starts every .xlsx file (a zip archive).
var zipMagic = []byte("PK\x03\x04")

// ErrSheet is the reason of a spreadsheet that cannot be read: not a
// workbook, or without the sheet asked for.
var ErrSheet = errors.New("unreadable spreadsheet")

// A SheetReader reads the sheet of a workbook (the first if sheet is "") as
// comma-separated records, one line a sheet row, and returns the sheet's
// name and a func that stops the reading. Package xlsx provides the one
// the binaries use.
type SheetReader func(r io.Reader, sheet string) (rows io.Reader, name string, stop func(), err error)

// sheetReader is set by RegisterSheetReader; until then a workbook is
// refused.
var sheetReader SheetReader = func(io.Reader, string) (io.Reader, string, func(), error) {
	return nil, "", nil, &RowError{Line: 1, Err: fmt.Errorf("%w: this program was built without .xlsx support (package xlsx)", ErrSheet)}
}

// RegisterSheetReader sets how workbooks are read. Package xlsx calls it
// from its init, so a program reads .xlsx files once it imports that
// package (for its effect, like a database/sql driver).
func RegisterSheetReader(r SheetReader) { sheetReader = r }

// isXLSX reports whether head starts like a zip archive.
func isXLSX(head []byte) bool { return bytes.HasPrefix(head, zipMagic) }
