package csvschema

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/txpipe/txpipe"
)

// Sentinel errors, the reasons of row and file errors. A RowError wraps one,
// sometimes with detail, so callers test them with errors.Is.
var (
	ErrNoHeader        = errors.New("no header row")
	ErrMissingColumn   = errors.New("missing column")
	ErrUnknownColumn   = errors.New("unknown column")
	ErrDuplicateColumn = errors.New("repeated column")
	ErrEmpty           = errors.New("empty value")
	ErrTooLong         = errors.New("value too long")
	ErrBadAmount       = errors.New("invalid amount")
	ErrBadCurrency     = errors.New("not a current ISO 4217 currency code")
	ErrBadTimestamp    = errors.New("invalid timestamp")
	ErrBadStatus       = errors.New("invalid status")
	ErrDuplicateID     = errors.New("duplicate transaction_id")
	ErrControlChar     = errors.New("control character in value")
	ErrRecordTooLong   = errors.New("record longer than 64 KiB")
	ErrNotUTF8         = errors.New("not valid UTF-8")
	ErrNoTransactions  = errors.New("no transactions")
	ErrMalformed       = errors.New("malformed CSV")
	ErrFieldCount      = errors.New("wrong number of fields")
	ErrSeparator       = errors.New("wrong separator")
)

// RowError is one rejected value or record, shaped like csv.ParseError.
type RowError struct {
	Line   int    // physical line where the record starts, 1-based, the header is 1 (csv.ParseError.StartLine)
	Column string // column name; "" for record- or file-level errors
	Value  string // the offending value, shortened to maxValueLen bytes
	Err    error  // one of the sentinels, possibly wrapped with detail
}

func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d", e.Line)
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %s", e.Column)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Value != "" {
		fmt.Fprintf(&b, " (value %q)", e.Value)
	}
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

// Item returns the error as reported in JSON.
func (e *RowError) Item() txpipe.ErrorItem {
	return txpipe.ErrorItem{Line: e.Line, Column: e.Column, Value: e.Value, Message: e.Err.Error()}
}

// HeaderError is returned by Decoder.Decode when the header row is missing or
// wrong: no row can be decoded then. It unwraps to the sentinels of its
// errors (ErrMissingColumn, ...).
type HeaderError struct {
	Errs []*RowError
}

func (e *HeaderError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, re := range e.Errs {
		msgs[i] = re.Error()
	}
	return "csvschema: bad header: " + strings.Join(msgs, "; ")
}

// Unwrap returns the reasons of the header's errors.
func (e *HeaderError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, re := range e.Errs {
		errs[i] = re.Err
	}
	return errs
}

// maxValueLen is how many bytes of an offending value an error keeps.
const maxValueLen = 64

// shorten returns v as a valid UTF-8 string of at most maxValueLen bytes
// (plus an ellipsis when cut).
func shorten(v []byte) string {
	cut := false
	if len(v) > maxValueLen {
		n := maxValueLen
		for n > maxValueLen-utf8.UTFMax && n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v, cut = v[:n], true
	}
	s := strings.ToValidUTF8(string(v), "\uFFFD")
	if cut {
		s += "…"
	}
	return s
}
