// Package csvschema is the streaming validation and normalisation engine of
// transaction files: it checks every rule of the contract's CSV schema and
// yields normalised transactions and row errors shaped like csv.ParseError.
//
// Two entry points share one record splitter and one set of rules:
//
//   - Validate (and ValidateWith) checks a whole file, duplicate ids
//     included, and returns a Report: the row count, the total error count
//     and the first txpipe.MaxReportedErrors errors ordered by line. The
//     error is non-nil only for a read failure or a cancelled context.
//   - Decoder yields the normalised transactions of a file one by one, for
//     the transform step, which reads files that passed Validate.
//
// # Reading
//
// The splitter follows RFC 4180 (quotes open a field only at its start, ""
// inside quotes is a quote, quoted fields may span lines) with LF or CRLF
// line ends, drops a leading byte-order mark, skips lines of only spaces and
// tabs, and counts physical lines, so an error's Line is the line where its
// record starts (csv.ParseError.StartLine). It holds at most 256 KiB of the
// input: a record over MaxRecordBytes (64 KiB) is reported as
// ErrRecordTooLong and skipped without being kept, so a 20 MiB field or line
// costs no memory.
//
// # Rules
//
// Header columns are matched by name, case-insensitively, trimmed, in any
// order; a missing, unknown or repeated column rejects the file (no row is
// checked then). Every value is trimmed of spaces and tabs. Ids (<= 128
// bytes) and merchants (<= 256 bytes) must be non-empty, valid UTF-8 and free
// of control characters. Amounts are plain decimals checked digit by digit
// against the currency's ISO 4217 minor units (package iso4217) and
// converted to int64 minor units with an overflow check: no floating point.
// Timestamps are RFC 3339 date-times with a zone, normalised to UTC.
// Statuses are completed, pending or failed in any case. Duplicate ids are
// reported on their second and later occurrences (see docs/duplicates.md for the cost
// and why the check is exact).
//
// # Speed and memory
//
// Validate runs GOMAXPROCS workers that each in turn cut the next chunk of
// whole records off the input (jumping from quote to quote to find the
// last record end), then split and check its records in parallel; the id
// hashes go to a duplicate set partitioned among as many goroutines, and
// the chunks' counts and errors are merged in order on the caller's
// goroutine. It allocates nothing per valid row. Decode allocates one
// string per row. `make bench` prints the figures against a bare
// encoding/csv read. For a file (an io.Seeker), the memory is the 12 bytes
// per row of the duplicate set plus about 3 MiB of buffers; for a stream
// that cannot be re-read, the ids are kept (see docs/duplicates.md).
package csvschema
