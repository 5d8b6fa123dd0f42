package csvschema

import (
	"errors"
	"io"

	"github.com/txpipe/txpipe"
)

// Decoder yields the normalised transactions of a file one by one. It checks
// every rule but duplicate ids (Validate does; the transform step reads
// files that passed it).
type Decoder struct {
	r      io.Reader
	enc    string // declared encoding
	sheet  string // of a spreadsheet
	close  func() // releases the input; nil before the first Decode
	sc     *scanner
	k      checker
	header bool  // the header has been read
	err    error // sticky: a header or read error
	line   int
	rec    record
	rw     row
	first  *RowError
	report func(*RowError)
	strBuf []byte
	// headerEnd is the byte offset just after the header record.
	headerEnd int64
}

// NewDecoder returns a decoder reading r in the default format (see Format).
func NewDecoder(r io.Reader) *Decoder {
	return NewDecoderFormat(r, Format{})
}

// NewDecoderFormat returns a decoder reading r in format f: the format the
// file was validated with, so that it reads the same rows. An unusable
// format is the error of the first Decode.
func NewDecoderFormat(r io.Reader, f Format) *Decoder {
	d := &Decoder{r: r}
	d.report = func(e *RowError) {
		if d.first == nil {
			d.first = e
		}
	}
	var sep byte
	var prof *compiled
	d.sheet = f.Sheet
	sep, d.enc, d.err = f.resolved()
	if d.err == nil && f.Profile != nil {
		prof, d.err = f.Profile.compile()
	}
	d.k = *newChecker(sep, prof)
	return d
}

// Decode fills tx with the next row (FileID and IngestedAt are left to the
// caller). It returns io.EOF after the last row, a *RowError for an invalid
// row (the caller may go on decoding: it is the row's first error), and
// another error for a read or header failure (a *HeaderError), after which
// Decode keeps returning it.
//
// The valid path allocates once per row: one string holds the id, merchant
// and amount, and tx's fields are slices of it; the currency and status are
// constants.
func (d *Decoder) Decode(tx *txpipe.Transaction) error {
	if d.err != nil {
		return d.err
	}
	if !d.header {
		in, err := openInput(d.r, d.enc, d.sheet)
		d.close = in.close
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				err = &HeaderError{Errs: []*RowError{re}}
			}
			d.err = err
			return err
		}
		if in.xlsx {
			d.k.sep, d.k.xlsx = ',', true
		}
		d.sc = newScanner(in.r, d.k.sep)
		d.sc.rawLen, d.sc.rawRead = in.rawLen, in.rawRead
		var errs []*RowError
		_, ok, err := readHeader(d.sc, &d.k, func(e *RowError) { errs = append(errs, e) })
		if err != nil {
			d.err = err
			return err
		}
		if !ok {
			d.err = &HeaderError{Errs: errs}
			return d.err
		}
		d.header = true
		d.headerEnd = d.sc.rawOffset()
	}
	if err := d.sc.next(&d.rec); err != nil {
		if !errors.Is(err, io.EOF) {
			d.err = err
		}
		d.Close()
		return err
	}
	d.line = d.rec.line
	if d.rec.tooLong {
		return &RowError{Line: d.rec.line, Err: ErrRecordTooLong}
	}
	d.first = nil
	if !d.k.check(d.rec.data, d.rec.line, &d.rw, d.report) {
		return d.first
	}
	b := append(d.strBuf[:0], d.rw.id...)
	b = append(b, d.rw.merchant...)
	b = append(b, d.rw.amount...)
	d.strBuf = b
	s := string(b)
	i, m := len(d.rw.id), len(d.rw.id)+len(d.rw.merchant)
	tx.ID, tx.Merchant, tx.Amount = s[:i], s[i:m], s[m:]
	tx.AmountMinor = d.rw.amountMinor
	tx.Currency = d.rw.currency.Code
	tx.Timestamp = d.rw.ts
	tx.Status = d.rw.status
	return nil
}

// Offset returns the byte offset in the input (its own bytes, whatever its
// encoding) just after the record last decoded (and its line end): where
// the next record, or blank lines before it, start. Offsets after rows are
// where a file can be cut into chunks of whole rows. A spreadsheet's
// offsets are of its sheet as text, not of the file.
func (d *Decoder) Offset() int64 { return d.sc.rawOffset() }

// HeaderEnd returns the byte offset just after the header record, once the
// first Decode has read it: a chunk cut at row offsets decodes with the
// file's bytes [0, HeaderEnd) in front of it.
func (d *Decoder) HeaderEnd() int64 { return d.headerEnd }

// Line returns the start line of the record last decoded.
func (d *Decoder) Line() int { return d.line }

// Close releases what reading the file holds (a spreadsheet's conversion
// and temporary files). Decode calls it at the end of the file; a caller
// that stops before calls it itself. It may be called more than once.
func (d *Decoder) Close() {
	if d.close != nil {
		d.close()
		d.close = nil
	}
}
