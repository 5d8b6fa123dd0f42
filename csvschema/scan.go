package csvschema

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
)

// MaxRecordBytes is the longest record accepted, line end excluded. A longer
// record is reported as ErrRecordTooLong on its line and skipped without being
// held in memory, so a hostile file cannot exhaust it.
const MaxRecordBytes = 64 << 10

// bufSize is the scanner's largest buffer: a few records of the maximum
// size, and large enough that refills are rare. The buffer starts at
// minBufSize and doubles whenever a fill finds it full or the last read
// filled it, so a small file costs a small buffer (a fuzz input or a short
// upload does not allocate and clear 256 KiB per pass).
const (
	bufSize    = 256 << 10
	minBufSize = 512
)

// scanState is where an RFC 4180 scan stands between two bytes. A quote
// opens a quoted field only at the start of a field, as in encoding/csv; a
// quote elsewhere is a syntax error that the field parser reports, and the
// scan treats it as an ordinary byte, so a bad record ends at its line end.
type scanState struct {
	quoted     bool // inside a quoted field
	afterQuote bool // a quote was just seen inside a quoted field: "" or the closing quote
	fieldStart bool // the next byte starts a field
	sawQuote   bool // the record holds a quote, so it may span lines
	sep        byte // the field separator
}

// scanTo returns the index of the '\n' that ends the record data starts, or
// -1 when data ends first; then st is the state at the end of data.
func (st *scanState) scanTo(data []byte) int {
	i := 0
	for i < len(data) {
		if st.afterQuote {
			st.afterQuote = false
			if data[i] == '"' { // an escaped quote
				st.quoted = true
				i++
				continue
			}
			st.fieldStart = false // the closing quote; go on unquoted
		}
		if st.quoted {
			q := bytes.IndexByte(data[i:], '"')
			if q < 0 {
				return -1
			}
			i += q + 1
			st.quoted, st.afterQuote = false, true
			continue
		}
		seg := data[i:]
		nl := bytes.IndexByte(seg, '\n')
		if nl >= 0 {
			seg = seg[:nl]
		}
		q := bytes.IndexByte(seg, '"')
		if q < 0 {
			if nl >= 0 {
				return i + nl
			}
			if len(seg) > 0 {
				st.fieldStart = seg[len(seg)-1] == st.sep
			}
			return -1
		}
		st.sawQuote = true
		atStart := (q == 0 && st.fieldStart) || (q > 0 && seg[q-1] == st.sep)
		i += q + 1
		st.quoted = atStart
		st.fieldStart = false
	}
	return -1
}

// scanner splits a stream into records, following RFC 4180 quoting, and
// counts physical lines. It skips blank lines and the leading byte-order
// mark. It holds at most bufSize bytes.
type scanner struct {
	r          io.Reader
	buf        []byte
	start, end int   // unread bytes are buf[start:end]
	line       int   // physical line of buf[start]
	read       int64 // bytes read from r
	eof        bool
	err        error // a read error, returned once the buffer is drained
	bomChecked bool
	filled     bool // the last read filled buf
	sep        byte // the field separator; 0 until detected from the header
	// rawLen, if set, is how many bytes of the undecoded input the given
	// decoded text came from (a file not in UTF-8): then rawBase is the
	// input's bytes before buf[0], and rawOffset counts in the input.
	rawLen  func(decoded []byte) int64
	rawBase int64
	rawRead func() int64 // bytes of the undecoded input read; set with rawLen (also for progress: inputRead)

	stretches []int // lastRecordEnd's scratch
}

// newScanner returns a scanner of r splitting fields on sep, or on the
// separator detected from the header if sep is 0.
func newScanner(r io.Reader, sep byte) *scanner {
	return &scanner{r: r, buf: make([]byte, minBufSize), line: 1, sep: sep}
}

// atMax reports whether the buffer is at its largest and full of unread
// bytes, so a fill cannot add any.
func (s *scanner) atMax() bool {
	return s.start == 0 && s.end == len(s.buf) && len(s.buf) >= bufSize
}

// inputRead is how many bytes of the input, as stored, were read so far:
// for progress against the file's size (a UTF-16 file decodes to about
// half its bytes).
func (s *scanner) inputRead() int64 {
	if s.rawRead != nil {
		return s.rawRead()
	}
	return s.read
}

// offset is the byte offset in r of the first unread byte.
func (s *scanner) offset() int64 { return s.read - int64(s.end-s.start) }

// rawOffset is the offset in the undecoded input of the first unread byte:
// offset() for UTF-8, else counted from the decoded text (see rawLen). At a
// record boundary it is where the input can be cut into whole records.
func (s *scanner) rawOffset() int64 {
	if s.rawLen == nil {
		return s.offset()
	}
	return min(s.rawBase+s.rawLen(s.buf[:s.start]), s.rawRead())
}

// drop forgets buf[:s.start], counting its undecoded bytes into rawBase.
func (s *scanner) drop() {
	if s.rawLen != nil && s.start > 0 {
		s.rawBase += s.rawLen(s.buf[:s.start])
	}
}

// fill moves the unread bytes to the front and reads more.
func (s *scanner) fill() {
	if s.start > 0 {
		s.drop()
		copy(s.buf, s.buf[s.start:s.end])
		s.end -= s.start
		s.start = 0
	}
	if len(s.buf) < bufSize && (s.end == len(s.buf) || s.filled) {
		// Full, or the last read filled it: the input is longer than the
		// buffer, which doubles (a small file keeps a small buffer; a
		// large one soon reads 256 KiB at a time).
		b := make([]byte, min(2*len(s.buf), bufSize))
		copy(b, s.buf[:s.end])
		s.buf = b
	}
	for tries := 0; s.end < len(s.buf) && tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		s.filled = s.end == len(s.buf)
		s.read += int64(n)
		if err == io.EOF {
			s.eof = true
			return
		}
		if err != nil {
			s.eof, s.err = true, fmt.Errorf("read: %w", err)
			return
		}
		if n > 0 {
			return
		}
	}
	if s.end < len(s.buf) {
		s.eof, s.err = true, fmt.Errorf("read: %w", io.ErrNoProgress)
	}
}

// record is one record as the scanner yields it.
type record struct {
	data    []byte // without the line end; valid until the next call to next
	line    int    // physical line where it starts
	tooLong bool   // longer than MaxRecordBytes; data is nil
}

// next returns the next non-blank record. At the end it returns io.EOF, or
// the read error that ended the stream.
func (s *scanner) next(rec *record) error {
	if !s.bomChecked {
		for s.end-s.start < 3 && !s.eof {
			s.fill()
		}
		if bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xEF\xBB\xBF")) {
			s.start += 3
		}
		s.bomChecked = true
		if s.sep == 0 {
			s.sep = s.detectSep()
		}
	}
	for {
		data := s.buf[s.start:s.end]
		if len(data) == 0 {
			if s.eof {
				if s.err != nil {
					return s.err
				}
				return io.EOF
			}
			s.fill()
			continue
		}
		st := scanState{fieldStart: true, sep: s.sep}
		i := st.scanTo(data)
		consumed := i + 1
		if i < 0 {
			// Past the cap, unless the one byte over it is a CR whose LF
			// has not been read yet (a record of exactly the cap, CRLF).
			if len(data) > MaxRecordBytes+1 || (len(data) == MaxRecordBytes+1 && data[MaxRecordBytes] != '\r') {
				return s.skipLong(rec, &st)
			}
			if !s.eof {
				s.fill()
				continue
			}
			i, consumed = len(data), len(data) // the last record has no line end
		}
		rec.line, rec.tooLong = s.line, false
		if st.sawQuote {
			s.line += bytes.Count(data[:consumed], []byte{'\n'})
		} else if consumed > i {
			s.line++
		}
		s.start += consumed
		d := data[:i]
		if len(d) > 0 && d[len(d)-1] == '\r' {
			d = d[:len(d)-1]
		}
		if len(d) > MaxRecordBytes {
			rec.data, rec.tooLong = nil, true
			return nil
		}
		if isBlank(d) {
			continue
		}
		rec.data = d
		return nil
	}
}

// skipLong consumes the rest of a record longer than MaxRecordBytes whose
// start is at s.start, without keeping it, and reports it.
func (s *scanner) skipLong(rec *record, st *scanState) error {
	rec.data, rec.line, rec.tooLong = nil, s.line, true
	s.line += bytes.Count(s.buf[s.start:s.end], []byte{'\n'})
	s.start = s.end
	s.drop()
	s.start, s.end = 0, 0
	for {
		if s.eof {
			if s.err != nil {
				return s.err
			}
			return nil
		}
		s.fill()
		data := s.buf[s.start:s.end]
		if i := st.scanTo(data); i >= 0 {
			s.line += bytes.Count(data[:i+1], []byte{'\n'})
			s.start += i + 1
			return nil
		}
		s.line += bytes.Count(data, []byte{'\n'})
		s.start = s.end
		s.drop()
		s.start, s.end = 0, 0
	}
}

// isBlank reports whether a line holds only spaces and tabs.
func isBlank(d []byte) bool {
	for _, c := range d {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// lastRecordEnd returns the index of the last '\n' of data that ends a
// record, data starting at the start of a record; -1 if no record ends in
// data. It follows scanTo's states but jumps from quote to quote, so a
// stretch without quotes costs one bytes.IndexByte however many records it
// holds: a quote opens a quoted field only at a field's start (data's
// first byte, or after the separator or a line end outside quotes); inside,
// "" is a quote and the next lone quote closes the field. stretches is
// scratch space, returned for reuse.
func lastRecordEnd(data []byte, sep byte, stretches []int) (int, []int) {
	stretches = stretches[:0] // unquoted stretches [a, b) before the current one
	unq := 0                  // start of the current unquoted stretch
	i := 0
	for {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			if nl := bytes.LastIndexByte(data[unq:], '\n'); nl >= 0 {
				return unq + nl, stretches
			}
			break
		}
		q += i
		if q > 0 && data[q-1] != sep && data[q-1] != '\n' {
			i = q + 1 // a quote inside an unquoted field: an ordinary byte
			continue
		}
		stretches = append(stretches, unq, q)
		j := q + 1
		for {
			c := bytes.IndexByte(data[j:], '"')
			if c < 0 {
				return lastEnd(data, stretches), stretches // data ends inside the quotes
			}
			j += c + 1
			if j < len(data) && data[j] == '"' {
				j++ // an escaped quote
				continue
			}
			break
		}
		// j is just past the closing quote (or data's last byte is a quote
		// that may be the first of an escaped pair: then the record goes
		// on past data, and the stretches before decide).
		i, unq = j, j
	}
	return lastEnd(data, stretches), stretches
}

// lastEnd returns the last '\n' in the stretches [a, b) of data, -1 if none.
func lastEnd(data []byte, stretches []int) int {
	for k := len(stretches) - 2; k >= 0; k -= 2 {
		a, b := stretches[k], stretches[k+1]
		if nl := bytes.LastIndexByte(data[a:b], '\n'); nl >= 0 {
			return a + nl
		}
	}
	return -1
}

// chunk is a run of whole records as the scanner hands them out for
// workers to split (nextChunk).
type chunk struct {
	data []byte // whole records, line ends included; valid until the next call
	line int    // physical line of data[0]
	base int64  // input offset of data[0] (see offset)
	// tooLong is set instead of data for a record longer than the buffer,
	// skipped by the scanner (see skipLong): its line is line, and the
	// offset after it is base.
	tooLong bool
}

// chunkLimit, when set (by tests), is the most bytes nextChunk hands out
// when that holds a whole record, so that tests cut small inputs into many
// chunks.
var chunkLimit atomic.Int64

// nextChunk returns the whole records held in the buffer, at least one,
// reading more first if less than half a buffer is left. The records are
// not split: a worker splits them as next would, from the start of data (a
// record's start) with the same states. The last chunk of a stream may end
// without a line end. At the end it returns io.EOF, or the read error.
// Blank lines are in data; they are not records. It is only used after the
// header was read with next (the byte-order mark and the separator are
// known).
//
// If spare is not nil, the records are not copied: data is a slice of the
// scanner's buffer, which the caller takes in *spare, and the scanner goes
// on in *spare's old buffer (made as large as its own if it is not), with
// only the unread bytes after data (part of a record) copied into it.
// Only for an input read without a decoder's offsets (rawLen nil).
func (s *scanner) nextChunk(c *chunk, spare *[]byte) error {
	for {
		data := s.buf[s.start:s.end]
		if !s.eof && len(data) < len(s.buf)/2 {
			s.fill()
			data = s.buf[s.start:s.end]
		}
		if len(data) == 0 {
			if s.eof {
				if s.err != nil {
					return s.err
				}
				return io.EOF
			}
			continue
		}
		i := -1
		if n := int(chunkLimit.Load()); n > 0 && n < len(data) {
			i, s.stretches = lastRecordEnd(data[:n], s.sep, s.stretches)
		}
		if i < 0 {
			i, s.stretches = lastRecordEnd(data, s.sep, s.stretches)
		}
		if i < 0 {
			if !s.eof {
				if s.atMax() {
					// A record longer than the buffer: next skips it.
					var rec record
					line := s.line
					if err := s.next(&rec); err != nil {
						return err
					}
					*c = chunk{line: line, base: s.offset(), tooLong: true}
					return nil
				}
				s.fill()
				continue
			}
			i = len(data) - 1 // the last record has no line end
		}
		data = data[:i+1]
		*c = chunk{data: data, line: s.line, base: s.offset()}
		s.line += bytes.Count(data, []byte{'\n'})
		s.start += len(data)
		if spare != nil {
			nb := *spare
			if cap(nb) < len(s.buf) {
				nb = make([]byte, len(s.buf))
			}
			nb = nb[:max(len(s.buf), len(nb))]
			*spare = s.buf
			s.end = copy(nb, s.buf[s.start:s.end])
			s.buf, s.start = nb, 0
		}
		return nil
	}
}
