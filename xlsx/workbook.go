package xlsx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/encoding/htmlindex"
)

// This file reads workbooks the way excelize v2.11.1 reads them for Rows
// with RawCellValue (the library this package used before, still the
// reference of its tests): the same parts, paths, sheet list, row and
// column placement, cell values and error texts. excelize's package
// initialisation (its formula tables and about 40 regular expressions,
// 1.3 MB allocated) cost every run of the binaries 20-30 ms of CPU, the
// commands that never see a workbook included (docs/performance.md).
// What it is not: the workbook's other parts (styles, theme, calculation
// chain) are not read, and a part is unzipped when it is read, not all at
// open, so a workbook excelize refused for a corrupt part that holds no
// cells is read here.

// Limits as excelize's Options{UnzipXMLSizeLimit: xlsxLimit} set them.
const (
	unzipSizeLimit = 1000 << 24 // the sum of the parts' unzipped sizes
	totalRows      = 1048576
	maxColumns     = 16384
)

var (
	errMaxRows      = errors.New("row number exceeds maximum limit")
	errColumnNumber = fmt.Errorf("the column number must be greater than or equal to %d and less than or equal to %d", 1, maxColumns)
)

const (
	nsMain                   = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	relOfficeDocument        = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
	pathRels                 = "_rels/.rels"
	pathSharedStrings        = "xl/sharedStrings.xml"
	pathContentTypes         = "[Content_Types].xml"
	strictMarker             = "purl.oclc.org"
	sharedStringsInMemoryMax = xlsxLimit // larger tables are kept in a temporary file
)

// strictToTransitional are the namespaces of strict OOXML and their
// transitional names, as excelize translates them (the longer first, so
// that a name is never translated by its prefix).
var strictToTransitional = [...][2]string{
	{"http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument", relOfficeDocument},
	{"http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties"},
	{"http://purl.oclc.org/ooxml/officeDocument/relationships/comments", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments"},
	{"http://purl.oclc.org/ooxml/officeDocument/relationships/chart", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/chart"},
	{"http://purl.oclc.org/ooxml/officeDocument/relationships/image", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"},
	{"http://purl.oclc.org/ooxml/officeDocument/relationships", "http://schemas.openxmlformats.org/officeDocument/2006/relationships"},
	{"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes", "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"},
	{"http://purl.oclc.org/ooxml/officeDocument/extendedProperties", "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"},
	{"http://purl.oclc.org/ooxml/drawingml/main", "http://schemas.openxmlformats.org/drawingml/2006/main"},
	{"http://purl.oclc.org/ooxml/spreadsheetml/main", nsMain},
}

func strictToTransitionalBytes(b []byte) []byte {
	if !bytes.Contains(b, []byte(strictMarker)) {
		return b
	}
	for _, p := range strictToTransitional {
		b = bytes.ReplaceAll(b, []byte(p[0]), []byte(p[1]))
	}
	return b
}

// The parts' XML, as far as this package reads them (excelize's types).
type (
	xmlRelationships struct {
		XMLName       xml.Name `xml:"http://schemas.openxmlformats.org/package/2006/relationships Relationships"`
		Relationships []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:",attr"`
			Type   string `xml:",attr"`
		} `xml:"Relationship"`
	}
	xmlWorkbook struct {
		XMLName xml.Name `xml:"http://schemas.openxmlformats.org/spreadsheetml/2006/main workbook"`
		Sheets  struct {
			Sheet []struct {
				Name    string `xml:"name,attr,omitempty"`
				SheetID int    `xml:"sheetId,attr,omitempty"`
				ID      string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
			} `xml:"sheet"`
		} `xml:"sheets"`
	}
	xmlSST struct {
		XMLName xml.Name `xml:"http://schemas.openxmlformats.org/spreadsheetml/2006/main sst"`
		SI      []xmlSI  `xml:"si"`
	}
	// xmlSI is a string item: of the shared strings, or a cell's inline
	// string.
	xmlSI struct {
		T *xmlT `xml:"t,omitempty"`
		R []struct {
			T *xmlT `xml:"t"`
		} `xml:"r"`
	}
	xmlT struct {
		Val string `xml:",chardata"`
	}
	// xmlF is a cell's formula: only whether there is one matters, but
	// its attributes are decoded as excelize decodes them (a bad one ends
	// the cell).
	xmlF struct {
		Content string `xml:",chardata"`
		Aca     bool   `xml:"aca,attr,omitempty"`
		Dt2D    bool   `xml:"dt2D,attr,omitempty"`
		Dtr     bool   `xml:"dtr,attr,omitempty"`
		Del1    bool   `xml:"del1,attr,omitempty"`
		Del2    bool   `xml:"del2,attr,omitempty"`
		Ca      bool   `xml:"ca,attr,omitempty"`
		Si      *int   `xml:"si,attr"`
		Bx      bool   `xml:"bx,attr,omitempty"`
	}
)

// String is the item's text: its text and its runs' texts, with the
// _xHHHH_ escapes of characters XML cannot hold decoded.
func (x xmlSI) String() string {
	var b strings.Builder
	if x.T != nil {
		b.WriteString(x.T.Val)
	}
	for _, r := range x.R {
		if r.T != nil {
			b.WriteString(r.T.Val)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return bstrUnmarshal(b.String())
}

// bstrUnmarshal decodes the _xHHHH_ escapes of s (_x005F_ is "_"); an
// escape of a surrogate decodes to nothing, as in excelize.
func bstrUnmarshal(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	cursor := 0
	for i := 0; i+7 <= len(s); {
		if !isBstrEscape(s[i : i+7]) {
			i++
			continue
		}
		b.WriteString(s[cursor:i])
		if s[i:i+7] == "_x005F_" {
			b.WriteByte('_')
		} else {
			v, _ := strconv.Unquote(`"\u` + s[i+2:i+6] + `"`)
			b.WriteString(v)
		}
		i += 7
		cursor = i
	}
	b.WriteString(s[cursor:])
	return b.String()
}

// isBstrEscape reports whether e (7 bytes) is _xHHHH_.
func isBstrEscape(e string) bool {
	if e[0] != '_' || e[1] != 'x' || e[6] != '_' {
		return false
	}
	for _, c := range []byte(e[2:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// newDecoder is an XML decoder that reads the encodings a part may
// declare (excelize's charset.NewReaderLabel).
func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		e, err := htmlindex.Get(label)
		if err != nil || e == nil {
			return nil, fmt.Errorf("unsupported charset: %q", label)
		}
		return e.NewDecoder().Reader(input), nil
	}
	return d
}

// A workbook is an open .xlsx file.
type workbook struct {
	file   *os.File
	parts  map[string]*zip.File // by name, as excelize names them
	sheets []sheetEntry
	sst    *sharedStrings // read at the first row asked for
	tmp    []string       // temporary files to remove at close
}

type sheetEntry struct {
	name, path string // path "" if the workbook has no part for the sheet
}

// openWorkbook opens the workbook file at path.
func openWorkbook(path string) (*workbook, error) {
	file, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	wb, err := readWorkbook(file)
	if err != nil {
		file.Close()
		return nil, err
	}
	return wb, nil
}

func readWorkbook(file *os.File) (*workbook, error) {
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	var header [8]byte
	if _, err := file.ReadAt(header[:], 0); err != nil {
		return nil, zip.ErrFormat
	}
	zr, err := zip.NewReader(file, st.Size())
	if err != nil {
		return nil, err
	}
	wb := &workbook{file: file, parts: make(map[string]*zip.File, len(zr.File))}
	var unzipSize int64
	for _, f := range zr.File {
		size := f.FileInfo().Size()
		unzipSize += size
		if size < 0 || size > unzipSizeLimit || unzipSize > unzipSizeLimit {
			return nil, fmt.Errorf("unzip size exceeds the %d bytes limit", int64(unzipSizeLimit))
		}
		name := strings.ReplaceAll(f.Name, "\\", "/")
		switch strings.ToLower(name) {
		case "[content_types].xml":
			name = pathContentTypes
		case "xl/sharedstrings.xml":
			name = pathSharedStrings
		}
		wb.parts[name] = f
	}
	wbPath := ""
	if b, err := wb.read(pathRels); err != nil {
		return nil, err
	} else if rels, _ := decodeRels(b); rels != nil {
		for _, r := range rels.Relationships {
			if r.Type == relOfficeDocument {
				wbPath = strings.TrimPrefix(r.Target, "/")
				break
			}
		}
	}
	var w xmlWorkbook
	b, err := wb.read(wbPath)
	if err != nil {
		return nil, err
	}
	// (excelize's workbookReader returns io.EOF for a workbook part that
	// is missing or holds no element, and its open fails with it)
	if err := newDecoder(bytes.NewReader(strictToTransitionalBytes(b))).Decode(&w); err != nil {
		return nil, err
	}
	relsPath := "_rels/" + filepath.Base(wbPath) + ".rels"
	if dir := filepath.Dir(wbPath); dir != "." {
		relsPath = strings.TrimPrefix(dir+"/_rels/"+filepath.Base(wbPath)+".rels", "/")
	}
	b, err = wb.read(relsPath)
	if err != nil {
		return nil, err
	}
	rels, err := decodeRels(b)
	if err != nil {
		return nil, err
	}
	for _, s := range w.Sheets.Sheet {
		e := sheetEntry{name: s.Name}
		if rels != nil {
			for _, r := range rels.Relationships {
				if r.ID != s.ID {
					continue
				}
				p := worksheetPath(wbPath, r.Target)
				if _, ok := wb.parts[p]; ok {
					e.path = p
				}
			}
		}
		wb.sheets = append(wb.sheets, e)
	}
	return wb, nil
}

// decodeRels decodes a relationships part; nil if there is none.
func decodeRels(b []byte) (*xmlRelationships, error) {
	if b == nil {
		return nil, nil
	}
	var r xmlRelationships
	if err := newDecoder(bytes.NewReader(strictToTransitionalBytes(b))).Decode(&r); err != nil && err != io.EOF {
		return nil, err
	}
	return &r, nil
}

// worksheetPath is the part a relationship of the workbook at wbPath
// targets.
func worksheetPath(wbPath, target string) string {
	if strings.HasPrefix(target, "/") {
		return filepath.ToSlash(strings.TrimPrefix(strings.ReplaceAll(filepath.Clean(target), "\\", "/"), "/"))
	}
	return filepath.ToSlash(strings.TrimPrefix(strings.ReplaceAll(filepath.Clean(filepath.Dir(wbPath)+"/"+target), "\\", "/"), "/"))
}

// read returns a small part's bytes (the relationships, the workbook),
// nil if there is no such part.
func (wb *workbook) read(name string) ([]byte, error) {
	f, ok := wb.parts[name]
	if !ok {
		return nil, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, xlsxLimit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > xlsxLimit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, xlsxLimit)
	}
	return b, nil
}

func (wb *workbook) sheetList() []string {
	names := make([]string, len(wb.sheets))
	for i, s := range wb.sheets {
		names[i] = s.name
	}
	return names
}

func (wb *workbook) close() {
	wb.file.Close()
	for _, t := range wb.tmp {
		os.Remove(t)
	}
}

// sharedStrings is the workbook's table of shared strings: in memory, or,
// for a part over sharedStringsInMemoryMax, in a temporary file.
type sharedStrings struct {
	items []string
	file  *os.File
	ends  []int64 // in the file, the end of each item
	err   error   // the part could not be read: every lookup fails
}

func (wb *workbook) sharedStrings() *sharedStrings {
	if wb.sst != nil {
		return wb.sst
	}
	wb.sst = &sharedStrings{}
	f, ok := wb.parts[pathSharedStrings]
	if !ok {
		return wb.sst
	}
	if f.FileInfo().Size() <= sharedStringsInMemoryMax {
		b, err := wb.read(pathSharedStrings)
		if err != nil {
			wb.sst.err = err
			return wb.sst
		}
		var sst xmlSST
		if err := newDecoder(bytes.NewReader(strictToTransitionalBytes(b))).Decode(&sst); err != nil && err != io.EOF {
			wb.sst.err = err
			return wb.sst
		}
		wb.sst.items = make([]string, len(sst.SI))
		for i, si := range sst.SI {
			wb.sst.items[i] = si.String()
		}
		return wb.sst
	}
	// As excelize: each item's text into a temporary file, decoding
	// errors ending the table.
	tmp, err := os.CreateTemp("", "txpipe-sst-")
	if err != nil {
		wb.sst.err = err
		return wb.sst
	}
	wb.tmp = append(wb.tmp, tmp.Name())
	wb.sst.file = tmp
	rc, err := f.Open()
	if err != nil {
		wb.sst.err = err
		return wb.sst
	}
	defer rc.Close()
	d := newDecoder(rc)
	var off int64
	for {
		tok, _ := d.Token()
		if tok == nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "si" {
			var si xmlSI
			_ = d.DecodeElement(&si, &se)
			n, err := tmp.WriteString(si.String())
			if err != nil {
				wb.sst.err = err
				return wb.sst
			}
			off += int64(n)
			wb.sst.ends = append(wb.sst.ends, off)
		}
	}
	return wb.sst
}

func (s *sharedStrings) get(i int) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	if s.file == nil {
		if i < 0 || i >= len(s.items) {
			return "", fmt.Errorf("invalid shared string index %d", i)
		}
		return s.items[i], nil
	}
	if i < 0 || i >= len(s.ends) {
		return "", fmt.Errorf("invalid shared string index %d", i)
	}
	start := int64(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	buf := make([]byte, s.ends[i]-start)
	if _, err := s.file.ReadAt(buf, start); err != nil {
		return strconv.Itoa(i), nil
	}
	return string(buf), nil
}

// sheetRows iterates over the rows of a worksheet as excelize's Rows does:
// Next once per row number up to the last row (a row missing from the
// part is empty), Columns the row's cells, text as stored, a blank cell
// before a later one as "", trailing blank cells left out.
type sheetRows struct {
	wb              *workbook
	rc              io.ReadCloser
	d               *xml.Decoder
	token           xml.Token
	err             error
	curRow, seekRow int
}

// rows opens the rows of the sheet named (exactly, else in another case).
func (wb *workbook) rows(sheet string) (*sheetRows, error) {
	if err := checkSheetName(sheet); err != nil {
		return nil, err
	}
	path, found := "", false
	for _, s := range wb.sheets {
		if s.path != "" && s.name == sheet {
			path, found = s.path, true
			break
		}
	}
	for _, s := range wb.sheets {
		if !found && s.path != "" && strings.EqualFold(s.name, sheet) {
			path, found = s.path, true
		}
	}
	if !found {
		return nil, fmt.Errorf("sheet %s does not exist", sheet)
	}
	rc, err := wb.parts[path].Open()
	if err != nil {
		return nil, err
	}
	return &sheetRows{wb: wb, rc: rc, d: newDecoder(rc)}, nil
}

func (rows *sheetRows) close() { rows.rc.Close() }

// checkSheetName refuses a name excelize refuses to read a sheet by.
func checkSheetName(name string) error {
	n := 0
	for _, r := range name {
		n += utf16.RuneLen(r)
	}
	switch {
	case name == "":
		return errors.New("the sheet name can not be blank")
	case n > 31:
		return fmt.Errorf("the sheet name length exceeds the %d characters limit", 31)
	case strings.HasPrefix(name, "'") || strings.HasSuffix(name, "'"):
		return errors.New("the first or last character of the sheet name can not be a single quote")
	case strings.ContainsAny(name, ":\\/?*[]"):
		return errors.New("the sheet can not contain any of the characters :\\/?*[or]")
	}
	return nil
}

// rowNumber is the r attribute (the last one) of a row, 0 if none.
func rowNumber(attrs []xml.Attr) (int, error) {
	n := 0
	for _, a := range attrs {
		if a.Name.Local == "r" {
			v, err := strconv.Atoi(a.Value)
			if err != nil {
				return v, err
			}
			n = v
		}
	}
	return n, nil
}

// next moves to the next row number; false at the end of the sheet.
func (rows *sheetRows) next() bool {
	if rows.err != nil {
		return false
	}
	rows.seekRow++
	if rows.curRow >= rows.seekRow {
		return true
	}
	for {
		token, _ := rows.d.Token()
		if token == nil {
			return false
		}
		switch el := token.(type) {
		case xml.StartElement:
			if el.Name.Local == "row" {
				rows.curRow++
				n, _ := rowNumber(el.Attr)
				if n > totalRows {
					rows.err = errMaxRows
					return false
				}
				if n != 0 {
					rows.curRow = n
				}
				rows.token = el.Copy()
				return true
			}
		case xml.EndElement:
			if el.Name.Local == "sheetData" {
				return false
			}
		}
	}
}

// columns returns the cells of the current row.
func (rows *sheetRows) columns() ([]string, error) {
	if rows.curRow > rows.seekRow {
		return nil, nil
	}
	sst := rows.wb.sharedStrings()
	if sst.err != nil {
		return nil, sst.err
	}
	var (
		cells   []string
		cellCol int
		err     error
		token   xml.Token
	)
	for {
		if rows.token != nil {
			token = rows.token
		} else if token, _ = rows.d.Token(); token == nil {
			break
		}
		switch el := token.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "row":
				n := 0
				if n, err = rowNumber(el.Attr); n > totalRows {
					rows.err, rows.token = errMaxRows, nil
					return cells, rows.err
				} else if n != 0 {
					rows.curRow = n
				} else if rows.token == nil {
					rows.curRow++
				}
				rows.token = el.Copy()
				if rows.curRow > rows.seekRow {
					rows.token = nil
					return cells, err
				}
			case "c":
				cellCol++
				var c cell
				_ = c.decode(rows.d, &el)
				if c.r != "" {
					if cellCol, err = cellColumn(c.r); err != nil {
						rows.token = nil
						return cells, err
					}
				}
				blank := cellCol - len(cells)
				if val, verr := c.value(sst); val != "" || c.hasF {
					for i := 1; i < blank; i++ {
						cells = append(cells, "")
					}
					cells = append(cells, val)
				} else {
					_ = verr // excelize drops a value's error with the value
				}
			}
			if err != nil {
				rows.token = nil
				return cells, err
			}
			rows.token = nil
		case xml.EndElement:
			if el.Name.Local == "sheetData" {
				return cells, err
			}
		}
	}
	return cells, err
}

// A cell as stored: its reference, type, value, inline string and
// whether it has a formula.
type cell struct {
	r, t, v string
	is      *xmlSI
	hasF    bool
}

// decode reads a c element (excelize's cellXMLHandler: an error leaves
// the rest of the element to the row's loop).
func (c *cell) decode(d *xml.Decoder, start *xml.StartElement) error {
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "r":
			c.r = a.Value
		case "s":
			if _, err := strconv.ParseInt(a.Value, 10, 64); err != nil {
				return err
			}
		case "t":
			c.t = a.Value
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "v":
				err = d.DecodeElement(&c.v, &el)
			case "f":
				c.hasF = true
				var f xmlF
				err = d.DecodeElement(&f, &el)
			case "is":
				if c.is == nil {
					c.is = &xmlSI{}
				}
				err = d.DecodeElement(c.is, &el)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			if el.Name == start.Name {
				return nil
			}
		}
	}
}

// value is the cell's text as stored (excelize's getValueFrom, raw).
func (c *cell) value(sst *sharedStrings) (string, error) {
	switch c.t {
	case "s":
		if c.v != "" {
			i, _ := strconv.Atoi(strings.TrimSpace(c.v))
			return sst.get(i)
		}
		return c.v, nil
	case "inlineStr":
		if c.is != nil {
			return c.is.String(), nil
		}
		return c.v, nil
	default:
		return c.v, nil
	}
}

// cellColumn is the column number of a cell reference such as "B7" or
// "$B$7" (excelize's CellNameToCoordinates, the column).
func cellColumn(ref string) (int, error) {
	alpha := func(r rune) bool { return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || r == '$' }
	colName, row := "", -1
	if strings.IndexFunc(ref, alpha) == 0 {
		if i := strings.LastIndexFunc(ref, alpha); i >= 0 && i < len(ref)-1 {
			if n, err := strconv.Atoi(ref[i+1:]); err == nil && n > 0 {
				colName, row = strings.ReplaceAll(ref[:i+1], "$", ""), n
			}
		}
	}
	if row < 0 {
		return -1, fmt.Errorf("cannot convert cell %q to coordinates: %v", ref, fmt.Errorf("invalid cell name %q", ref))
	}
	if row > totalRows {
		return -1, errMaxRows
	}
	if colName == "" {
		return -1, fmt.Errorf("invalid column name %q", colName)
	}
	col, multi := 0, 1
	for i := len(colName) - 1; i >= 0; i-- {
		r := colName[i]
		switch {
		case 'A' <= r && r <= 'Z':
			col += int(r-'A'+1) * multi
		case 'a' <= r && r <= 'z':
			col += int(r-'a'+1) * multi
		default:
			return -1, fmt.Errorf("invalid column name %q", colName)
		}
		if col > maxColumns {
			return -1, errColumnNumber
		}
		multi *= 26
	}
	return col, nil
}
