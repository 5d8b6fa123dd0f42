package csvschema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/iso4217"
)

// Length limits, in bytes, after trimming.
const (
	MaxIDBytes       = 128
	MaxMerchantBytes = 256
)

// parseHeader maps the header's fields to schema columns: cols[c] is the
// field index of column c, -1 for a profile's constant. It returns the
// header's errors, all on line.
func parseHeader(fields [][]byte, n, line int, prof *compiled) (cols [numCols]int, errs []*RowError) {
	for c := range cols {
		cols[c] = -1
	}
	for i := 0; i < n; i++ {
		name := trim(fields[i])
		c := -1
		for k, want := range columnNames {
			if prof != nil {
				want = prof.headers[k]
				if prof.hasConst[k] {
					continue
				}
			}
			if len(name) == len(want) && bytes.EqualFold(name, []byte(want)) {
				c = k
				break
			}
		}
		switch {
		case c < 0 && prof != nil && prof.ignore:
		case c < 0:
			err := ErrUnknownColumn
			if prof != nil {
				err = errUnknownProfile
			}
			errs = append(errs, &RowError{Line: line, Column: shorten(name), Value: shorten(name), Err: err})
		case cols[c] >= 0:
			errs = append(errs, &RowError{Line: line, Column: columnNames[c], Value: shorten(name), Err: ErrDuplicateColumn})
		default:
			cols[c] = i
		}
	}
	for c, i := range cols {
		if i < 0 && (prof == nil || !prof.hasConst[c]) {
			err := ErrMissingColumn
			if prof != nil && !strings.EqualFold(prof.headers[c], columnNames[c]) {
				err = fmt.Errorf("%w: the profile reads %s from the header %q, which the file does not have", ErrMissingColumn, columnNames[c], prof.headers[c])
			}
			errs = append(errs, &RowError{Line: line, Column: columnNames[c], Err: err})
		}
	}
	return cols, errs
}

var errUnknownProfile = fmt.Errorf("%w: the profile maps no field to it (map it under columns, or set ignore_extra_columns: true)", ErrUnknownColumn)

// row is one checked record, normalised, as slices of the record or of the
// checker's buffers.
type row struct {
	id, merchant []byte
	amount       []byte // normalised: exactly the currency's minor-unit digits
	amountMinor  int64
	currency     iso4217.Currency
	ts           time.Time
	status       string
}

// checker checks the fields of one record against the schema.
type checker struct {
	sep     byte         // field separator
	cols    [numCols]int // field index of each column; -1 for a profile's constant
	nfields int          // fields per record: the header's
	fields  [][]byte     // at least numCols and nfields long
	prof    *compiled    // nil: the schema's own columns and formats
	xlsx    bool         // rows come from a spreadsheet: serial dates are dates
	header  []string     // the header's names, kept when it does not match
	scratch []byte       // unescaped quoted fields
	amount  [32]byte     // a normalised amount that is not a slice of the record
	plain   []byte       // an amount in a profile's format, made plain
}

func newChecker(sep byte, prof *compiled) *checker {
	return &checker{sep: sep, prof: prof, nfields: numCols, fields: make([][]byte, numCols)}
}

// clone returns a checker for another goroutine, set up by the same header.
func (k *checker) clone() *checker {
	return &checker{sep: k.sep, cols: k.cols, nfields: k.nfields, prof: k.prof, xlsx: k.xlsx, fields: make([][]byte, len(k.fields))}
}

// val returns the trimmed value of column c in the record last split, or
// the profile's constant.
func (k *checker) val(c int) []byte {
	if i := k.cols[c]; i >= 0 {
		return trim(k.fields[i])
	}
	return k.prof.consts[c]
}

// check splits and checks one record. It calls report for each error and
// returns whether the row is valid; r is filled as far as the checks went.
func (k *checker) check(rec []byte, line int, r *row, report func(*RowError)) bool {
	r.id = nil
	n, bad, err := splitFields(rec, k.sep, k.fields, &k.scratch)
	if err != nil {
		col := ""
		for c, i := range k.cols {
			if i == bad && i >= 0 {
				col = columnNames[c]
			}
		}
		report(&RowError{Line: line, Column: col, Value: shorten(rec), Err: err})
		return false
	}
	if n != k.nfields {
		report(&RowError{Line: line, Value: shorten(rec), Err: k.fieldCountErr(rec, n)})
		return false
	}
	ok := true
	fail := func(c int, v []byte, err error) {
		ok = false
		if errors.Is(err, ErrBadAmount) || errors.Is(err, ErrBadTimestamp) || errors.Is(err, ErrBadStatus) || errors.Is(err, ErrBadCurrency) {
			if e := checkText(v); e != nil {
				err = e // a control character or bad UTF-8 says more than the grammar
			}
		}
		if err == ErrNotUTF8 {
			err = errNotUTF8Hint
		}
		report(&RowError{Line: line, Column: columnNames[c], Value: shorten(v), Err: err})
	}

	id := k.val(colID)
	if err := checkName(id, MaxIDBytes); err != nil {
		fail(colID, id, err)
	}
	r.id = id

	cur := k.val(colCurrency)
	c, curOK := iso4217.LookupBytes(cur)
	if !curOK {
		fail(colCurrency, cur, orEmpty(cur, ErrBadCurrency))
	}
	r.currency = c

	amt := k.val(colAmount)
	if k.prof != nil && k.prof.decimal != 0 {
		if plain, err := k.plainAmount(amt); err != nil {
			fail(colAmount, amt, err)
		} else if err := k.parseAmount(plain, c, curOK, r); err != nil {
			fail(colAmount, amt, err)
		}
	} else if err := k.parseAmount(amt, c, curOK, r); err != nil {
		fail(colAmount, amt, err)
	}

	ts := k.val(colTimestamp)
	var t time.Time
	if k.prof != nil && k.prof.layout != "" || k.xlsx {
		t, err = k.parseTime(ts)
	} else {
		t, err = parseTimestamp(ts)
	}
	if err != nil {
		fail(colTimestamp, ts, err)
	}
	r.ts = t

	m := k.val(colMerchant)
	if err := checkName(m, MaxMerchantBytes); err != nil {
		fail(colMerchant, m, err)
	}
	r.merchant = m

	st := k.val(colStatus)
	r.status = parseStatus(st)
	if r.status == "" && k.prof != nil && k.prof.statuses != nil {
		r.status = k.prof.statuses[strings.ToLower(string(st))]
	}
	if r.status == "" {
		fail(colStatus, st, orEmpty(st, ErrBadStatus))
	}
	return ok
}

// orEmpty returns ErrEmpty for an empty value, else err.
func orEmpty(v []byte, err error) error {
	if len(v) == 0 {
		return ErrEmpty
	}
	return err
}

// checkName checks a free-text value: id or merchant.
func checkName(v []byte, max int) error {
	if len(v) == 0 {
		return ErrEmpty
	}
	if len(v) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(v), max)
	}
	return checkText(v)
}

// checkText rejects control characters (below U+0020 but tab) and invalid
// UTF-8. It looks at eight bytes at a time.
func checkText(v []byte) error {
	const (
		lo = 0x0101010101010101
		hi = 0x8080808080808080
	)
	var high uint64
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := binary.LittleEndian.Uint64(v[i:])
		high |= w
		// a byte below 0x20 (tab included) sets its top bit in (w - 0x20..) &^ w
		if (w-0x20*lo)&^w&hi != 0 {
			if err := checkCtl(v[i : i+8]); err != nil {
				return err
			}
		}
	}
	for ; i < len(v); i++ {
		c := v[i]
		high |= uint64(c)
		if c < 0x20 && c != '\t' {
			return ErrControlChar
		}
	}
	if high&hi != 0 && !utf8.Valid(v) {
		return ErrNotUTF8
	}
	return nil
}

func checkCtl(v []byte) error {
	for _, c := range v {
		if c < 0x20 && c != '\t' {
			return ErrControlChar
		}
	}
	return nil
}

var (
	errAmountSyntax   = fmt.Errorf("%w: not a plain decimal such as 99.99", ErrBadAmount)
	errAmountNegative = fmt.Errorf("%w: must not be negative or signed", ErrBadAmount)
	errAmountRange    = fmt.Errorf("%w: too large: the amount in minor units must fit a signed 64-bit integer", ErrBadAmount)
	errAmountComma    = fmt.Errorf("%w: not a plain decimal such as 99.99; a decimal comma or thousands separator is read only under a profile that declares it (amount: {decimal: \",\", thousands: \".\"})", ErrBadAmount)
	errNotUTF8Hint    = fmt.Errorf("%w: if the file is Windows-1252 or ISO-8859-1, declare its encoding (--encoding, form field encoding)", ErrNotUTF8)
)

// parseAmount checks a plain decimal and, when the currency is known, its
// fraction digits and range, and sets r.amount and r.amountMinor. It works
// on the digits: no floating point.
func (k *checker) parseAmount(v []byte, c iso4217.Currency, curOK bool, r *row) error {
	r.amount, r.amountMinor = nil, 0
	if len(v) == 0 {
		return ErrEmpty
	}
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	intPart, frac := v[:i], []byte(nil)
	if i == 0 {
		if v[0] == '-' || v[0] == '+' {
			return errAmountNegative
		}
		return errAmountSyntax
	}
	if i < len(v) {
		if v[i] != '.' {
			if bytes.IndexByte(v, ',') >= 0 && k.prof == nil {
				return errAmountComma
			}
			return errAmountSyntax
		}
		frac = v[i+1:]
		if len(frac) == 0 {
			return errAmountSyntax
		}
		for _, d := range frac {
			if d < '0' || d > '9' {
				return errAmountSyntax
			}
		}
	}
	if !curOK {
		return nil // the currency's error is reported; its digits are unknown
	}
	mu := c.MinorUnits
	if len(frac) > mu {
		return fmt.Errorf("%w: %d fraction digits, %s has %d", ErrBadAmount, len(frac), c.Code, mu)
	}
	lead := 0
	for lead < len(intPart)-1 && intPart[lead] == '0' {
		lead++
	}
	intPart = intPart[lead:]
	var m int64
	for _, d := range intPart {
		if m > (math.MaxInt64-int64(d-'0'))/10 {
			return errAmountRange
		}
		m = m*10 + int64(d-'0')
	}
	for j := 0; j < mu; j++ {
		var d int64
		if j < len(frac) {
			d = int64(frac[j] - '0')
		}
		if m > (math.MaxInt64-d)/10 {
			return errAmountRange
		}
		m = m*10 + d
	}
	r.amountMinor = m
	if lead == 0 && len(frac) == mu {
		r.amount = v // already normalised
		return nil
	}
	b := append(k.amount[:0], intPart...)
	if mu > 0 {
		b = append(b, '.')
		b = append(b, frac...)
		for j := len(frac); j < mu; j++ {
			b = append(b, '0')
		}
	}
	r.amount = b
	return nil
}

var (
	errTSSyntax = fmt.Errorf("%w: not an RFC 3339 date-time such as 2024-01-15T10:30:00Z", ErrBadTimestamp)
	errTSZone   = fmt.Errorf("%w: needs a zone, Z or +hh:mm", ErrBadTimestamp)
	errTSRange  = fmt.Errorf("%w: a field is out of range", ErrBadTimestamp)
	// errTSPrecision: more fractional digits than are stored.
	errTSPrecision = fmt.Errorf("%w: more than 9 fractional digits (nanoseconds are the finest precision stored)", ErrBadTimestamp)
)

// parseTimestamp parses an RFC 3339 date-time with a zone (Z or ±hh:mm,
// fractional seconds allowed) and returns it in UTC.
func parseTimestamp(v []byte) (time.Time, error) {
	if len(v) < 19 {
		if len(v) == 0 {
			return time.Time{}, ErrEmpty
		}
		return time.Time{}, errTSSyntax
	}
	cent, ok0 := d2(v[0], v[1])
	year, ok1 := d2(v[2], v[3])
	year += cent * 100
	month, ok2 := d2(v[5], v[6])
	day, ok3 := d2(v[8], v[9])
	hour, ok4 := d2(v[11], v[12])
	min, ok5 := d2(v[14], v[15])
	sec, ok6 := d2(v[17], v[18])
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || v[4] != '-' || v[7] != '-' ||
		(v[10] != 'T' && v[10] != 't') || v[13] != ':' || v[16] != ':' {
		return time.Time{}, errTSSyntax
	}
	i := 19
	nanos := 0
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			if i-start < 9 {
				nanos = nanos*10 + int(v[i]-'0')
			}
			i++
		}
		nd := i - start
		if nd == 0 {
			return time.Time{}, errTSSyntax
		}
		// RFC 3339 allows any number of digits, but a stored timestamp
		// keeps nanoseconds: more digits would be silently cut.
		if nd > 9 {
			return time.Time{}, errTSPrecision
		}
		for ; nd < 9; nd++ {
			nanos *= 10
		}
	}
	if i == len(v) {
		return time.Time{}, errTSZone
	}
	off := 0
	switch v[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(v)-i != 6 || v[i+3] != ':' {
			return time.Time{}, errTSSyntax
		}
		oh, ok1 := d2(v[i+1], v[i+2])
		om, ok2 := d2(v[i+4], v[i+5])
		if !ok1 || !ok2 {
			return time.Time{}, errTSSyntax
		}
		if oh > 23 || om > 59 {
			return time.Time{}, errTSRange
		}
		off = oh*3600 + om*60
		if v[i] == '-' {
			off = -off
		}
		i += 6
	default:
		return time.Time{}, errTSSyntax
	}
	if i != len(v) {
		return time.Time{}, errTSSyntax
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, errTSRange
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+min*60+sec) - int64(off)
	if unix < minUnix || unix > maxUnix {
		return time.Time{}, errTSRange // its UTC year would not have four digits
	}
	return time.Unix(unix, int64(nanos)).UTC(), nil
}

// The range of Unix seconds whose UTC year is 0000 to 9999.
const (
	minUnix = -62167219200 // 0000-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// d2 parses two ASCII digits.
func d2(a, b byte) (int, bool) {
	x, y := a-'0', b-'0' // a byte below '0' wraps above 9
	return int(x)*10 + int(y), x <= 9 && y <= 9
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseStatus returns the normalised status, or "" if v is none.
func parseStatus(v []byte) string {
	switch {
	case len(v) == 9 && bytes.EqualFold(v, []byte(txpipe.TxCompleted)):
		return txpipe.TxCompleted
	case len(v) == 7 && bytes.EqualFold(v, []byte(txpipe.TxPending)):
		return txpipe.TxPending
	case len(v) == 6 && bytes.EqualFold(v, []byte(txpipe.TxFailed)):
		return txpipe.TxFailed
	}
	return ""
}
