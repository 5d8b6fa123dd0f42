package xlsx

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/txpipe/txpipe/csvschema"
)

// The reader of workbook.go replaced excelize (v2.11.1), whose package
// initialisation cost every run of the binaries 20-30 ms of CPU. These
// tests hold it to what the excelize-based Rows produced: the same
// records and the same errors, on workbooks excelize writes and on
// worksheets and shared strings made up by the fuzzer.

// referenceRows is Rows as it was with excelize, reading the workbook at
// path to the end: the records and the error.
func referenceRows(path, sheet string) (string, error) {
	f, err := excelize.OpenFile(path, excelize.Options{UnzipXMLSizeLimit: xlsxLimit})
	if err != nil {
		return "", &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: not an .xlsx workbook: %v", csvschema.ErrSheet, err)}
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if sheet == "" && len(sheets) > 0 {
		sheet = sheets[0]
	}
	found := false
	for _, s := range sheets {
		found = found || s == sheet
	}
	if !found {
		return "", &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: no sheet %q; the workbook has %s", csvschema.ErrSheet, sheet, strings.Join(quoteAll(sheets), ", "))}
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return "", &csvschema.RowError{Line: 1, Err: fmt.Errorf("%w: sheet %q: %v", csvschema.ErrSheet, sheet, err)}
	}
	defer rows.Close()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	for rows.Next() {
		var cells []string
		if cells, err = rows.Columns(excelize.Options{RawCellValue: true}); err != nil {
			break
		}
		for i, c := range cells {
			if i > 0 {
				w.WriteByte(',')
			}
			writeCell(w, c)
		}
		w.WriteByte('\n')
	}
	if err == nil {
		err = rows.Error()
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		err = fmt.Errorf("sheet %q: %w", sheet, err)
	}
	return out.String(), err
}

// ourRows is Rows reading the workbook at path to the end.
func ourRows(path, sheet string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, _, stop, err := Rows(f, sheet)
	if err != nil {
		return "", err
	}
	defer stop()
	b, err := io.ReadAll(r)
	return string(b), err
}

// same fails t unless both readers give the same records and error for
// the workbook at path.
func same(t *testing.T, path, sheet string) string {
	t.Helper()
	want, werr := referenceRows(path, sheet)
	got, gerr := ourRows(path, sheet)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("sheet %q: error %v, excelize's %v", sheet, gerr, werr)
	}
	if got != want {
		t.Fatalf("sheet %q: records\n%q\nexcelize's\n%q", sheet, got, want)
	}
	var re *csvschema.RowError
	if werr != nil && errors.As(werr, &re) != errors.As(gerr, &re) {
		t.Fatalf("sheet %q: error %T, excelize's %T", sheet, gerr, werr)
	}
	return got
}

// TestMatchesExcelize: workbooks excelize writes, with every kind of cell
// (shared and inline strings, rich text, numbers, booleans, formulas,
// dates, escapes, line feeds, blanks between cells and rows), several
// sheets, a sheet named in another case and sheets that do not exist.
func TestMatchesExcelize(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	set := func(sheet, cell string, v any) {
		t.Helper()
		if err := f.SetCellValue(sheet, cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("Sheet1", "A1", "transaction_id")
	set("Sheet1", "B1", "amount")
	set("Sheet1", "C1", `quote " and, comma`)
	set("Sheet1", "A2", "tx-1")
	set("Sheet1", "B2", 12.5)
	set("Sheet1", "C2", true)
	set("Sheet1", "D2", "line\nfeed")
	set("Sheet1", "F2", 45000.25) // E2 blank
	set("Sheet1", "A5", "after two empty rows")
	set("Sheet1", "C5", "esc _x0041_ _x005F_x0042_ _xD800_ _x00")
	set("Sheet1", "A6", 1e21)
	set("Sheet1", "B6", -0.000123)
	set("Sheet1", "C6", int64(9007199254740993))
	if err := f.SetCellFormula("Sheet1", "D6", "B6*2"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetCellRichText("Sheet1", "A7", []excelize.RichTextRun{{Text: "rich "}, {Text: "text", Font: &excelize.Font{Bold: true}}}); err != nil {
		t.Fatal(err)
	}
	set("Sheet1", "XFD7", "last column")
	if _, err := f.NewSheet("Data"); err != nil {
		t.Fatal(err)
	}
	set("Data", "B3", "only cell")
	if _, err := f.NewSheet("Empty"); err != nil {
		t.Fatal(err)
	}
	sw, err := f.NewStreamWriter("Data")
	if err == nil {
		err = sw.SetRow("A1", []any{"streamed", 1, 2.5, false, excelize.Cell{Formula: "1+1"}})
	}
	if err == nil {
		err = sw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kinds.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	got := same(t, path, "")
	if !strings.Contains(got, "tx-1,12.5,1,\"line\rfeed\",,45000.25\n\n\n") {
		t.Errorf("first sheet: %q", got)
	}
	for _, sheet := range []string{"Sheet1", "Data", "data", "Empty", "Nope", "bad:name"} {
		same(t, path, sheet)
	}
}

// TestNotAWorkbook: files that are no workbook, or a broken one.
func TestNotAWorkbook(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":     {},
		"text":      []byte("PK\x03\x04 but no zip"),
		"zip":       zipOf(t, map[string]string{"a.txt": "hello"}),
		"badrels":   zipOf(t, map[string]string{"_rels/.rels": "<Relationships", "xl/workbook.xml": "<workbook/>"}),
		"badwb":     zipOf(t, map[string]string{"_rels/.rels": relsXML, "xl/workbook.xml": "<workbook><sheets><sheet sheetId='x'/></sheets></workbook>"}),
		"nsless":    zipOf(t, map[string]string{"_rels/.rels": relsXML, "xl/workbook.xml": "<workbook/>"}),
		"badwbrels": zipOf(t, map[string]string{"_rels/.rels": relsXML, "xl/workbook.xml": workbookXML, "xl/_rels/workbook.xml.rels": "<x"}),
		"nosheet":   zipOf(t, map[string]string{"_rels/.rels": relsXML, "xl/workbook.xml": workbookXML, "xl/_rels/workbook.xml.rels": workbookRelsXML}),
	} {
		path := filepath.Join(dir, name+".xlsx")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { same(t, path, ""); same(t, path, "Sheet1") })
	}
}

const (
	relsXML         = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`
	workbookXML     = `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/><sheet name="Two" sheetId="2" r:id="rId2"/></sheets></workbook>`
	workbookRelsXML = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/></Relationships>`
	sheetHead       = `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	sheetTail       = `</sheetData></worksheet>`
	sstHead         = `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
)

// zipOf is a zip archive of the files given.
func zipOf(t testing.TB, files map[string]string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, content := range files {
		f, err := w.Create(name)
		if err == nil {
			_, err = f.Write([]byte(content))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzMatchesExcelize: a workbook of two sheets whose first worksheet's
// rows and shared strings are the fuzzer's, read by both readers.
func FuzzMatchesExcelize(f *testing.F) {
	f.Add(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1"><v>1.5</v></c></row><row r="3"><c t="inlineStr"><is><t>in</t></is></c></row>`, `<si><t>a_x0041_</t></si><si><r><t>b</t></r><r><t>c</t></r></si>`)
	f.Add(`<row><c><v>1</v></c><c r="B1" t="b"><v>1</v></c></row><row><c r="AA2" t="str"><f>1+1</f><v>2</v></c><c r="$B$2"><v>x</v></c></row>`, `<si><t>x</t></si>`)
	f.Add(`<row r="2"><c r="B2" t="s"><v> 1 </v></c><c r="A2" t="s"><v>9</v></c><c t="s"><v>x</v></c></row><row r="1"><c r="A1"><f/></c></row>`, `<si><t xml:space="preserve"> sp </t><rPh><t>ph</t></rPh></si><si/>`)
	f.Add(`<row r="1048577"><c r="A1"><v>1</v></c></row>`, ``)
	f.Add(`<row r="x"><c r="1A"><v>1</v></c></row><row><c r="XFE1"><v>1</v></c></row>`, `<si><t>a</t>`)
	f.Add(`<row r="1"><c s="x" r="A1"><v>1</v></c><c r="B1" s="1"><v>2</v><v>3</v></c><c><is><t>a</t></is><is><r><t>b</t></r></is></c></row>`, `<si><t>a</t><t>b</t></si>`)
	f.Add(`<row r="2"><c><v><![CDATA[x,y]]></v></c><c><v>a<b>q</b>c</v></c><c><f si="z"/><v>1</v></c></row></sheetData><sheetData><row><c><v>after</v></c></row>`, `<si><t>&#10;</t></si>`)
	f.Fuzz(func(t *testing.T, rows, strs string) {
		if longNumber(rows) && !strings.Contains(rows, `r="1048577"`) {
			t.Skip("a row number in the hundred thousands takes both readers seconds of empty rows")
		}
		files := map[string]string{
			"_rels/.rels":                relsXML,
			"xl/workbook.xml":            workbookXML,
			"xl/_rels/workbook.xml.rels": workbookRelsXML,
			"xl/worksheets/sheet1.xml":   sheetHead + rows + sheetTail,
			"xl/worksheets/sheet2.xml":   sheetHead + sheetTail,
		}
		if strs != "" {
			files["xl/sharedStrings.xml"] = sstHead + strs + `</sst>`
		}
		path := filepath.Join(t.TempDir(), "f.xlsx")
		if err := os.WriteFile(path, zipOf(t, files), 0o600); err != nil {
			t.Fatal(err)
		}
		same(t, path, "")
	})
}

// longNumber reports whether s holds a run of more than four digits.
func longNumber(s string) bool {
	n := 0
	for _, c := range []byte(s) {
		if '0' <= c && c <= '9' {
			if n++; n > 4 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}
