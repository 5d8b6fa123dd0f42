package csvschema

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"slices"
	"sync/atomic"
	"unicode/utf8"

	"github.com/txpipe/txpipe"
)

// Report is the result of validating a file.
type Report struct {
	Rows       int64          // data rows seen
	ErrorCount int64          // all errors found, beyond the kept ones
	Errors     []*RowError    // the first txpipe.MaxReportedErrors, ordered by line
	Dialect    txpipe.Dialect // how the file was read: separator and encoding, detected or declared
	// Header is the file's header, set when it did not match the schema
	// (or the profile), for Suggest.
	Header []string
	// HeaderEnd and Cuts are set when Options.CutEvery is: the input
	// offset just after the header, and after every CutEvery-th row (its
	// line end included). They count the input's own bytes, whatever its
	// encoding, so the rows between two offsets are a chunk of whole rows:
	// decoded after the bytes [0, HeaderEnd), they read as those rows
	// (Decoder reads the same offsets). They are not set for a spreadsheet.
	HeaderEnd int64
	Cuts      []int64

	onError func(*RowError) // Options.OnError
}

// Valid reports whether the file passed every rule.
func (r *Report) Valid() bool { return r.ErrorCount == 0 }

// Items returns the kept errors as reported in JSON.
func (r *Report) Items() []txpipe.ErrorItem {
	items := make([]txpipe.ErrorItem, len(r.Errors))
	for i, e := range r.Errors {
		items[i] = e.Item()
	}
	return items
}

func (r *Report) add(e *RowError) {
	if r.onError != nil {
		r.onError(e)
	}
	r.ErrorCount++
	if len(r.Errors) < txpipe.MaxReportedErrors {
		r.Errors = append(r.Errors, e)
	}
}

// Options tune Validate.
type Options struct {
	// Progress, if set, is called now and then with the bytes read so far
	// (both passes count), from the goroutine that called ValidateWith.
	Progress func(bytesRead int64)
	// SizeHint is the number of bytes left to read in r, if known; it sizes
	// the duplicate set once. Validate finds it itself when r is an io.Seeker.
	SizeHint int64
	// Workers is how many goroutines check rows on the first pass; 0 means
	// GOMAXPROCS, at most maxDefaultWorkers (the reader and the merger
	// limit the gain beyond). With 1 the whole check runs on the calling
	// goroutine.
	Workers int
	// Format is how to read the file: separator, encoding and profile. The
	// zero Format detects the separator and reads UTF-8 (UTF-16 by BOM).
	Format Format
	// CutEvery, if positive, has the first pass record in Report.Cuts the
	// offset after every CutEvery-th row, so the file can be cut into
	// chunks of whole rows without being read again.
	CutEvery int64
	// OnError, if set, is called with every error found, not only the
	// kept ones, from the goroutine that called ValidateWith: first the
	// errors of the rows in line order, then the duplicate ids found on the
	// second read, in line order.
	OnError func(*RowError)
}

// maxDefaultWorkers caps the default number of workers, and so the batches
// in memory (2 per worker plus 2, each about 256 KiB).
const maxDefaultWorkers = 4

// progressEvery is how many rows pass between progress and cancellation checks.
const progressEvery = 1 << 14

// Validate checks a whole file: every rule of the schema, duplicate ids
// included. The error is non-nil only for I/O failures or ctx cancellation; a
// bad file is a Report with errors.
//
// If r also implements io.Seeker (or else io.ReaderAt), duplicate-id
// candidates found by hash are resolved exactly on a second read from the
// position r had when Validate was called (from offset 0 for an io.ReaderAt);
// otherwise the ids themselves are kept in memory (see hashSet).
func Validate(ctx context.Context, r io.Reader) (*Report, error) {
	return ValidateWith(ctx, r, Options{})
}

// ValidateWith is Validate with options. An unusable opt.Format (unknown
// encoding or separator, a profile that breaks a rule) is an error that
// wraps ErrFormat.
func ValidateWith(ctx context.Context, r io.Reader, opt Options) (*Report, error) {
	sep, enc, err := opt.Format.resolved()
	if err != nil {
		return nil, err
	}
	var prof *compiled
	if opt.Format.Profile != nil {
		if prof, err = opt.Format.Profile.compile(); err != nil {
			return nil, err
		}
	}
	reread := rereader(r)
	if opt.SizeHint <= 0 {
		opt.SizeHint = remaining(r)
	}
	v := &validation{opt: opt, rep: &Report{onError: opt.OnError}, workers: opt.Workers, perPass: candidatesPerPass, size: opt.SizeHint, sep: sep, prof: prof}
	if v.workers <= 0 {
		v.workers = min(runtime.GOMAXPROCS(0), maxDefaultWorkers)
	}
	in, err := openInput(r, enc, opt.Format.Sheet)
	defer in.close()
	r, v.rep.Dialect, v.xlsx, v.rawLen, v.rawRead = in.r, in.dialect, in.xlsx, in.rawLen, in.rawRead
	if !v.xlsx {
		v.cut.every = opt.CutEvery
	}
	if err != nil {
		var re *RowError
		if errors.As(err, &re) {
			v.rep.add(re)
			return v.rep, nil
		}
		return nil, err
	}
	if v.xlsx {
		v.sep = ','
	}
	if enc := v.rep.Dialect.Encoding; enc == EncUTF16LE || enc == EncUTF16BE {
		v.size /= 2 // mostly ASCII: half the bytes once decoded
	}
	if reread != nil {
		raw := reread
		var closeReread func()
		defer func() {
			if closeReread != nil {
				closeReread()
			}
		}()
		reread = func() (io.Reader, error) {
			rr, err := raw()
			if err != nil {
				return nil, err
			}
			if closeReread != nil {
				closeReread()
			}
			in, err := openInput(rr, enc, in.dialect.Sheet)
			closeReread, v.rawRead = in.close, in.rawRead
			return in.r, err
		}
	}
	set := newHashSet(hashSeed(), reread == nil)
	cands, err := v.firstPass(ctx, r, set)
	set.release() // the second read only hashes
	if err != nil {
		return nil, err
	}
	if len(cands) > 0 && reread != nil {
		dups, err := v.resolveCandidates(ctx, reread, set, cands)
		if err != nil {
			return nil, err
		}
		v.rep.ErrorCount += dups.ErrorCount
		v.rep.Errors = mergeErrors(v.rep.Errors, dups.Errors)
	}
	return v.rep, nil
}

// remaining returns how many bytes are left in r if it is an io.Seeker, else 0.
func remaining(r io.Reader) int64 {
	s, ok := r.(io.Seeker)
	if !ok {
		return 0
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0
	}
	end, err := s.Seek(0, io.SeekEnd)
	if _, err2 := s.Seek(cur, io.SeekStart); err != nil || err2 != nil {
		return 0
	}
	return end - cur
}

// dupError reports a duplicate id.
func dupError(line int, id []byte, first int) *RowError {
	return &RowError{Line: line, Column: columnNames[colID], Value: shorten(id), Err: fmt.Errorf("%w: first on line %d", ErrDuplicateID, first)}
}

// rereader returns a function that gives a reader of the same bytes again,
// or nil if r cannot be read twice.
func rereader(r io.Reader) func() (io.Reader, error) {
	if s, ok := r.(io.ReadSeeker); ok {
		off, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil // a pipe or socket: its ReadAt, if any, fails too
		}
		return func() (io.Reader, error) {
			if _, err := s.Seek(off, io.SeekStart); err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	if ra, ok := r.(io.ReaderAt); ok {
		return func() (io.Reader, error) { return io.NewSectionReader(ra, 0, 1<<62), nil }
	}
	return nil
}

type validation struct {
	opt     Options
	rep     *Report
	read    int64 // bytes read by finished passes
	workers int
	perPass int   // candidate hashes resolved per read; candidatesPerPass
	size    int64 // bytes to read, if known (Options.SizeHint)
	sized   bool  // the duplicate set has been sized from size
	sep     byte  // declared separator, 0 to detect; then the detected one
	prof    *compiled
	xlsx    bool               // the file is a spreadsheet
	rawLen  func([]byte) int64 // see input.rawLen
	rawRead func() int64       // see input.rawRead: of the reader being read
	cut     cutter
}

func (v *validation) tick(ctx context.Context, sc *scanner) error {
	if v.opt.Progress != nil {
		v.opt.Progress(v.read + sc.inputRead())
	}
	return ctx.Err()
}

// readHeader reads and checks the header and sets k up for the rows. It
// returns ok=false if the file cannot be checked further; then k.header
// holds the header's names, if it had any.
func readHeader(sc *scanner, k *checker, report func(*RowError)) (line int, ok bool, err error) {
	var rec record
	err = sc.next(&rec)
	k.sep = sc.sep
	if err != nil {
		if err == io.EOF {
			report(&RowError{Line: 1, Err: ErrNoHeader})
			return 1, false, nil
		}
		return 0, false, err
	}
	if rec.tooLong {
		report(&RowError{Line: rec.line, Err: fmt.Errorf("%w: the header", ErrRecordTooLong)})
		return rec.line, false, nil
	}
	n, _, err := splitFields(rec.data, k.sep, k.fields, &k.scratch)
	if err != nil {
		report(&RowError{Line: rec.line, Value: shorten(rec.data), Err: err})
		return rec.line, false, nil
	}
	if n > len(k.fields) {
		k.fields = make([][]byte, n)
		splitFields(rec.data, k.sep, k.fields, &k.scratch)
	}
	cols, errs := parseHeader(k.fields, n, rec.line, k.prof)
	if len(errs) > 0 {
		if !utf8.Valid(rec.data) {
			// A header that does not match because of its encoding.
			errs = []*RowError{{Line: rec.line, Value: shorten(rec.data), Err: errNotUTF8Hint}}
		} else if s := likelySep(rec.data, k.sep); s != 0 && n == 1 {
			errs = []*RowError{{Line: rec.line, Value: shorten(rec.data), Err: fmt.Errorf(
				"%w: the header is one column when split on %s; it splits on %s: the file's separator is likely %s (leave the delimiter to detection, or declare %s)",
				ErrSeparator, sepName(k.sep), sepName(s), sepName(s), sepName(s))}}
		}
		k.header = make([]string, n)
		for i := range n {
			k.header[i] = string(trim(k.fields[i]))
		}
	}
	for _, e := range errs {
		report(e)
	}
	k.cols, k.nfields = cols, n
	return rec.line, len(errs) == 0, nil
}

// idUsable reports whether the record last checked has an id that takes part
// in the duplicate check: it split into the right fields and its id is valid.
// Both passes use it, so they agree on the rows they look at.
func idUsable(k *checker, rw *row) bool {
	return len(rw.id) > 0 && len(rw.id) <= MaxIDBytes && checkText(rw.id) == nil
}

// candidatesPerPass bounds the memory of resolving candidates: each pass
// keeps the ids of at most this many candidate hashes (≤ 128 bytes each plus
// map overhead, about 12 MiB). More candidates take more passes.
const candidatesPerPass = 1 << 16

// firstSeen is an id of a candidate hash, as first met in the second pass.
type firstSeen struct {
	id   string
	line int
}

// resolveCandidates re-reads the file and compares the real ids of the rows
// whose hash is a candidate: an id equal to one met on an earlier line is a
// duplicate; a different id with the same hash is a collision, and unique.
func (v *validation) resolveCandidates(ctx context.Context, reread func() (io.Reader, error), set *hashSet, cands []uint64) (*Report, error) {
	slices.Sort(cands)
	cands = slices.Compact(cands)
	dups := &Report{}
	for len(cands) > 0 {
		batch := cands[:min(len(cands), v.perPass)]
		cands = cands[len(batch):]
		seen := make(map[uint64][]firstSeen, len(batch))
		for _, h := range batch {
			seen[h] = nil
		}
		part := &Report{onError: v.opt.OnError}
		r, err := reread()
		if err != nil {
			return nil, fmt.Errorf("re-read for duplicate ids: %w", err)
		}
		sc := newScanner(r, v.sep)
		sc.rawRead = v.rawRead
		k := newChecker(v.sep, v.prof)
		k.xlsx = v.xlsx
		_, ok, err := readHeader(sc, k, func(*RowError) {})
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New("the header changed between the two reads")
		}
		var rec record
		var rw row
		for rows := 0; ; rows++ {
			if rows%progressEvery == 0 {
				if err := v.tick(ctx, sc); err != nil {
					return nil, err
				}
			}
			if err := sc.next(&rec); err != nil {
				if err == io.EOF {
					break
				}
				return nil, err
			}
			if rec.tooLong || !k.idOnly(rec.data, &rw) || !idUsable(k, &rw) {
				continue
			}
			h := set.hash(rw.id)
			ids, ok := seen[h]
			if !ok {
				continue
			}
			dup := false
			for _, f := range ids {
				if f.id == string(rw.id) {
					part.add(dupError(rec.line, rw.id, f.line))
					dup = true
					break
				}
			}
			if !dup {
				seen[h] = append(ids, firstSeen{id: string(rw.id), line: rec.line})
			}
		}
		v.read += sc.inputRead()
		if v.opt.Progress != nil {
			v.opt.Progress(v.read) // the whole pass
		}
		dups.ErrorCount += part.ErrorCount
		dups.Errors = mergeErrors(dups.Errors, part.Errors)
	}
	return dups, nil
}

// idOnly splits a record and sets rw.id only, for the second pass.
func (k *checker) idOnly(rec []byte, rw *row) bool {
	n, _, err := splitFields(rec, k.sep, k.fields, &k.scratch)
	if err != nil || n != k.nfields {
		return false
	}
	rw.id = k.val(colID)
	return true
}

// mergeErrors merges two lists ordered by line, keeping the first
// txpipe.MaxReportedErrors; on the same line a's errors come first.
func mergeErrors(a, b []*RowError) []*RowError {
	out := make([]*RowError, 0, min(len(a)+len(b), txpipe.MaxReportedErrors))
	out = append(out, a...)
	out = append(out, b...)
	slices.SortStableFunc(out, func(x, y *RowError) int { return x.Line - y.Line })
	if len(out) > txpipe.MaxReportedErrors {
		out = out[:txpipe.MaxReportedErrors]
	}
	return out
}

// fixedSeed, when set (by tests), is the duplicate set's hash seed instead
// of a random one per validation: a fuzz target's coverage then does not
// depend on which ids collide.
var fixedSeed atomic.Pointer[maphash.Seed]

func hashSeed() maphash.Seed {
	if s := fixedSeed.Load(); s != nil {
		return *s
	}
	return maphash.MakeSeed()
}
