package csvschema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/txpipe/txpipe"
)

// Format says how to read a file: its separator and encoding (detected
// when empty) and the profile that maps its columns to the schema (none:
// the schema's own columns and value formats). The zero Format is the
// contract's default: detection, UTF-8 or UTF-16 by byte-order mark.
//
// It travels with a run (JSON), so the transform step reads the stored
// file exactly as the intake validated it.
type Format struct {
	// Delimiter is the field separator, one of , ; TAB |; "" detects it
	// from the header line (the candidate found most often outside
	// quotes; a comma on a tie or when none is found).
	Delimiter string `json:"delimiter,omitempty"`
	// Encoding is one of the names Encodings lists; "" means UTF-8, or
	// UTF-16 when the file starts with its byte-order mark.
	Encoding string `json:"encoding,omitempty"`
	// Profile, if set, maps the file's headers to the schema's fields and
	// declares its amount and timestamp formats.
	Profile *Profile `json:"profile,omitempty"`
	// Sheet names the sheet of a spreadsheet (.xlsx) to read; "" reads the
	// first. Ignored for text files.
	Sheet string `json:"sheet,omitempty"`
}

// Delimiters are the separators a file may use, in the order detection
// prefers them on a tie.
var Delimiters = []byte{',', ';', '\t', '|'}

// The encodings a Format may declare, by canonical name.
const (
	EncUTF8        = "utf-8"
	EncUTF16LE     = "utf-16le"
	EncUTF16BE     = "utf-16be"
	EncWindows1252 = "windows-1252"
	EncISO88591    = "iso-8859-1"
)

// Encodings are the canonical encoding names, as reported and accepted.
var Encodings = []string{EncUTF8, EncUTF16LE, EncUTF16BE, EncWindows1252, EncISO88591}

var encodingAliases = map[string]string{
	"utf-8": EncUTF8, "utf8": EncUTF8,
	"utf-16le": EncUTF16LE, "utf16le": EncUTF16LE,
	"utf-16be": EncUTF16BE, "utf16be": EncUTF16BE,
	"windows-1252": EncWindows1252, "cp1252": EncWindows1252, "win1252": EncWindows1252,
	"iso-8859-1": EncISO88591, "iso8859-1": EncISO88591, "latin1": EncISO88591, "latin-1": EncISO88591,
}

// ErrFormat is the reason of a Format or profile that cannot be used: an
// unknown encoding or separator, or a profile that breaks a rule.
var ErrFormat = errors.New("invalid format")

// CanonicalEncoding returns the canonical name of an encoding name or alias
// (case-insensitive), "" for "".
func CanonicalEncoding(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if c, ok := encodingAliases[strings.ToLower(strings.TrimSpace(name))]; ok {
		return c, nil
	}
	if strings.EqualFold(name, EncXLSX) {
		return EncXLSX, nil // what a report says of a spreadsheet, so a run can say it back
	}
	return "", fmt.Errorf("%w: unknown encoding %q: use one of %s", ErrFormat, name, strings.Join(Encodings, ", "))
}

// ParseDelimiter returns the separator byte of a delimiter as given by a
// user: one of , ; | or a tab (also written \t, "tab" or "TAB"); 0 for "".
func ParseDelimiter(s string) (byte, error) {
	switch s {
	case "":
		return 0, nil
	case `\t`, "tab", "TAB", "\t":
		return '\t', nil
	case ",", ";", "|":
		return s[0], nil
	}
	return 0, fmt.Errorf("%w: unknown delimiter %q: use one of , ; | or tab", ErrFormat, s)
}

// DelimiterName is the delimiter as reported: the character itself, a tab
// as "\t" in JSON.
func DelimiterName(sep byte) string { return string(rune(sep)) }

// Check reports whether f can be used: known encoding and separator, and a
// valid profile. It also puts the encoding name in canonical form.
func (f *Format) Check() error {
	if _, err := ParseDelimiter(f.Delimiter); err != nil {
		return err
	}
	enc, err := CanonicalEncoding(f.Encoding)
	if err != nil {
		return err
	}
	f.Encoding = enc
	if f.Profile != nil {
		if err := f.Profile.Check(); err != nil {
			return err
		}
	}
	return nil
}

// resolved is a Format with the profile's dialect applied over it: the
// separator (0: detect) and the declared encoding ("" : by BOM).
func (f Format) resolved() (sep byte, enc string, err error) {
	d, e := f.Delimiter, f.Encoding
	if f.Profile != nil {
		if d == "" {
			d = f.Profile.Delimiter
		}
		if e == "" {
			e = f.Profile.Encoding
		}
	}
	if sep, err = ParseDelimiter(d); err != nil {
		return 0, "", err
	}
	enc, err = CanonicalEncoding(e)
	return sep, enc, err
}

// input is a file opened for the engine: its text as UTF-8 records, how it
// is read, and what to release once done.
type input struct {
	r       io.Reader
	dialect txpipe.Dialect
	xlsx    bool   // a spreadsheet's sheet, as comma-separated records
	close   func() // never nil
	// rawLen counts the input bytes decoded text came from; nil when the
	// two are the same (UTF-8) or cannot be mapped (a spreadsheet).
	rawLen func(decoded []byte) int64
	// rawRead is how many bytes of the input were read (for rawLen's
	// sake: a last odd byte of UTF-16 decodes to a U+FFFD it counts as two).
	rawRead func() int64
}

// openInput opens r for the engine: a spreadsheet (.xlsx, recognised by
// its bytes) through the registered SheetReader, text through textReader.
func openInput(r io.Reader, declared, sheet string) (input, error) {
	in := input{close: func() {}}
	var head [4]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return in, fmt.Errorf("read: %w", err)
	}
	h := head[:n]
	if isXLSX(h) {
		in.xlsx = true
		in.dialect = txpipe.Dialect{Encoding: EncXLSX}
		if declared != "" && declared != EncXLSX {
			return in, &RowError{Line: 1, Err: fmt.Errorf("%w: the file is an .xlsx workbook but %s was declared", ErrEncoding, declared)}
		}
		if f, ok := r.(*os.File); ok {
			if _, err := f.Seek(-int64(n), io.SeekCurrent); err != nil {
				r = io.MultiReader(bytes.NewReader(h), r)
			}
		} else {
			r = io.MultiReader(bytes.NewReader(h), r)
		}
		rr, name, stop, err := sheetReader(r, sheet)
		if err != nil {
			return in, err
		}
		in.r, in.dialect.Sheet, in.close = rr, name, stop
		return in, nil
	}
	raw := &countingReader{r: io.MultiReader(bytes.NewReader(h), r)}
	in.r, in.dialect, err = textReader(raw, declared)
	in.rawLen, in.rawRead = rawLenOf(in.dialect.Encoding), func() int64 { return raw.n }
	return in, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// rawLenOf returns how to count the bytes of enc that decoded to a UTF-8
// text of whole characters: one byte a character in a single-byte encoding
// (an undefined byte decodes to one U+FFFD), two per UTF-16 code unit (a
// character beyond U+FFFF takes two, a BOM one). It is nil for UTF-8.
func rawLenOf(enc string) func([]byte) int64 {
	switch enc {
	case EncWindows1252, EncISO88591:
		return func(b []byte) int64 { return int64(utf8.RuneCount(b)) }
	case EncUTF16LE, EncUTF16BE:
		return func(b []byte) int64 {
			// A character beyond U+FFFF (a surrogate pair) is the one
			// UTF-8 sequence whose lead byte is 0xF0 or above.
			n := int64(utf8.RuneCount(b))
			for _, c := range b {
				if c >= 0xF0 {
					n++
				}
			}
			return 2 * n
		}
	}
	return nil
}

// textReader returns r decoded to UTF-8, per the declared encoding or the
// byte-order mark, and the encoding it reads as reported. UTF-8 input is
// returned as is (the scanner drops its BOM); other encodings are decoded
// as they stream, a buffer at a time.
func textReader(r io.Reader, declared string) (io.Reader, txpipe.Dialect, error) {
	var head [4]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, txpipe.Dialect{}, fmt.Errorf("read: %w", err)
	}
	h := head[:n]
	r = io.MultiReader(bytes.NewReader(h), r)
	var bom string
	switch {
	case bytes.HasPrefix(h, []byte{0xEF, 0xBB, 0xBF}):
		bom = EncUTF8
	case bytes.HasPrefix(h, []byte{0xFF, 0xFE}):
		bom = EncUTF16LE
	case bytes.HasPrefix(h, []byte{0xFE, 0xFF}):
		bom = EncUTF16BE
	}
	enc := declared
	if enc == "" {
		enc = EncUTF8
		if bom != "" {
			enc = bom
		}
	}
	d := txpipe.Dialect{Encoding: enc, BOM: bom != ""}
	if bom != "" && bom != enc {
		return nil, d, &RowError{Line: 1, Err: fmt.Errorf("%w: the file starts with the byte-order mark of %s but %s was declared", ErrEncoding, bom, enc)}
	}
	var t transform.Transformer
	switch enc {
	case EncUTF8:
		return r, d, nil
	case EncUTF16LE:
		t = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case EncUTF16BE:
		t = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	case EncWindows1252:
		t = newByteDecoder(charmap.Windows1252)
	case EncISO88591:
		t = newByteDecoder(charmap.ISO8859_1)
	default:
		return nil, d, fmt.Errorf("%w: unknown encoding %q", ErrFormat, enc)
	}
	return &decodeReader{r: r, t: t, src: make([]byte, minBufSize)}, d, nil
}

// decodeReader decodes a stream with a transformer straight into the
// caller's buffer (transform.Reader goes through a 4 KiB buffer of its own).
type decodeReader struct {
	r      io.Reader
	t      transform.Transformer
	src    []byte
	s0, s1 int // undecoded bytes are src[s0:s1]
	eof    bool
	err    error
	pend   []byte // decoded bytes a short p could not take
	filled bool   // the last read filled src
}

// maxDecodeSrc is the largest undecoded buffer of a decodeReader.
const maxDecodeSrc = 64 << 10

// Read decodes into p; a p too short for one decoded character gets the
// first bytes of one, the rest on the next calls.
func (d *decodeReader) Read(p []byte) (int, error) {
	if len(d.pend) > 0 {
		n := copy(p, d.pend)
		d.pend = d.pend[n:]
		return n, nil
	}
	if len(p) >= 8 {
		return d.decode(p)
	}
	var tmp [8]byte
	n, err := d.decode(tmp[:])
	c := copy(p, tmp[:n])
	d.pend = append(d.pend[:0], tmp[c:n]...)
	return c, err
}

func (d *decodeReader) decode(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if d.s1 > d.s0 || d.eof {
			nDst, nSrc, err := d.t.Transform(p, d.src[d.s0:d.s1], d.eof)
			d.s0 += nSrc
			if nDst > 0 {
				return nDst, nil
			}
			switch {
			case err == nil && d.eof:
				if d.err != nil {
					return 0, d.err
				}
				return 0, io.EOF
			case err == nil || errors.Is(err, transform.ErrShortSrc):
				if d.eof { // cannot happen with atEOF set; do not spin
					return 0, io.ErrUnexpectedEOF
				}
			case errors.Is(err, transform.ErrShortDst):
				return 0, io.ErrShortBuffer
			default:
				return 0, fmt.Errorf("decode: %w", err)
			}
		}
		if d.eof {
			continue
		}
		if d.s0 > 0 {
			d.s1 = copy(d.src, d.src[d.s0:d.s1])
			d.s0 = 0
		}
		if d.filled && len(d.src) < maxDecodeSrc {
			// The last read filled the buffer: double it (up to
			// maxDecodeSrc), so a small file costs a small buffer.
			b := make([]byte, min(2*len(d.src), maxDecodeSrc))
			d.s1 = copy(b, d.src[:d.s1])
			d.src = b
		}
		n, err := d.r.Read(d.src[d.s1:])
		d.filled = d.s1+n == len(d.src)
		d.s1 += n
		if err != nil {
			d.eof = true
			if err != io.EOF {
				d.err = err
			}
		}
	}
}

// ErrEncoding is the reason of a file whose bytes do not fit the encoding
// declared for it.
var ErrEncoding = errors.New("encoding mismatch")

// detectSep returns the separator of the first non-blank line in the
// buffer (reading until it holds one): the candidate of Delimiters found
// most often outside quotes, the first on a tie, a comma if none is.
func (s *scanner) detectSep() byte {
	for {
		data := s.buf[s.start:s.end]
		for len(data) > 0 {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				if !s.eof && !s.atMax() {
					break // read more
				}
				return countSep(data)
			}
			if line := bytes.TrimSuffix(data[:nl], []byte{'\r'}); !isBlank(line) {
				return countSep(line)
			}
			data = data[nl+1:]
		}
		if s.eof || s.atMax() {
			return ','
		}
		s.fill()
	}
}

// countSep returns the candidate separator found most often in line
// outside quotes.
func countSep(line []byte) byte {
	var counts [4]int
	quoted := false
	for _, c := range line {
		switch c {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				counts[0]++
			}
		case ';':
			if !quoted {
				counts[1]++
			}
		case '\t':
			if !quoted {
				counts[2]++
			}
		case '|':
			if !quoted {
				counts[3]++
			}
		}
	}
	best := 0
	for i := 1; i < len(counts); i++ {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return Delimiters[best]
}

// likelySep returns the separator a header split on sep into one field
// probably uses, or 0: another candidate that splits it into at least as
// many fields as the schema needs columns... or at least two.
func likelySep(line []byte, sep byte) byte {
	c := countSep(line)
	if c == sep || bytes.IndexByte(line, c) < 0 {
		return 0
	}
	return c
}

// sepName names a separator in a message.
func sepName(sep byte) string {
	if sep == '\t' {
		return "tab"
	}
	return fmt.Sprintf("%q", string(rune(sep)))
}

// Head returns the first n+1 records of a file (the header and n rows) as
// read in format f, and the dialect it was read with: what `txpipe profile
// suggest` looks at.
func Head(r io.Reader, f Format, n int) ([][]string, txpipe.Dialect, error) {
	sep, enc, err := f.resolved()
	if err != nil {
		return nil, txpipe.Dialect{}, err
	}
	in, err := openInput(r, enc, f.Sheet)
	defer in.close()
	d := in.dialect
	if err != nil {
		return nil, d, err
	}
	if in.xlsx {
		sep = ','
	}
	sc := newScanner(in.r, sep)
	var out [][]string
	var rec record
	var scratch []byte
	for len(out) <= n {
		if err := sc.next(&rec); err != nil {
			if err == io.EOF {
				break
			}
			return nil, d, err
		}
		if rec.tooLong {
			continue
		}
		cnt, _, err := splitFields(rec.data, sc.sep, nil, &scratch)
		if err != nil {
			continue
		}
		fields := make([][]byte, cnt)
		splitFields(rec.data, sc.sep, fields, &scratch)
		row := make([]string, cnt)
		for i, fl := range fields {
			row[i] = string(trim(fl))
		}
		out = append(out, row)
	}
	if !in.xlsx {
		d.Delimiter = DelimiterName(sc.sep)
	}
	return out, d, nil
}
