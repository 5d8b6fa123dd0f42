package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// Chunk sizes (see docs/cost.md for the choice).
const (
	// DefaultChunkRows is the rows per chunk: about 1.6 MB of a typical
	// file, 20 s of writing at ChunkWriteRate.
	DefaultChunkRows = 20_000
	// MaxChunks bounds a run's chunks, so its state (the chunk list and the
	// map's results, about 160 bytes a chunk) stays below Step Functions'
	// 256 KiB payload limit. A 5 GB file (about 60 million rows) gets
	// chunks of 50,000 rows: 50 s of writing at ChunkWriteRate, within the
	// transformer's timeout.
	MaxChunks = 1_200
	// CutRows is how often Validate records where the file can be cut: a
	// chunk is a whole number of CutRows rows (the last one excepted).
	CutRows = 10_000
)

// ChunkRowsFor returns the rows per chunk of a file of rows rows on AWS:
// DefaultChunkRows, or more (a multiple of CutRows) when that would make
// over MaxChunks chunks.
func ChunkRowsFor(rows int64) int64 { return ChunkRowsWithin(rows, MaxChunks, DefaultChunkRows) }

// ChunkRowsWithin is the rows per chunk of a file of rows rows cut into at
// most maxChunks chunks (MaxChunks if maxChunks <= 0) of at least minRows
// rows (DefaultChunkRows if minRows <= 0), a multiple of CutRows.
func ChunkRowsWithin(rows int64, maxChunks int, minRows int64) int64 {
	if maxChunks <= 0 {
		maxChunks = MaxChunks
	}
	if minRows <= 0 {
		minRows = DefaultChunkRows
	}
	per := (rows + int64(maxChunks) - 1) / int64(maxChunks)
	per = (max(per, minRows) + CutRows - 1) / CutRows * CutRows
	return per
}

// The local engine's chunks (Tasks.Chunks and MinChunkRows, and the same
// fields of Intake): each chunk ends with a commit of the store's shards,
// which writes every index page the chunk's rows changed, nearly all of a
// shard's index pages for 20,000 random rows as for 250,000, so fewer,
// larger chunks write less (docs/performance.md, "Sixth round"): a 1M-row
// file is 4 chunks, a 10M-row file 20 of 500,000 rows. A retried chunk
// redoes at most 5% of its file, or LocalChunkRows rows.
const (
	LocalChunks    = 20
	LocalChunkRows = 250_000
)

// chunksAt returns the chunks of per rows (a multiple of every) of a file
// of rows rows and size bytes whose header ends at headerEnd and whose
// offsets after every every-th row are cuts (csvschema.Report.Cuts).
func chunksAt(headerEnd int64, cuts []int64, every, per, rows, size int64) []Chunk {
	step := int(per / every)
	var chunks []Chunk
	start, left := headerEnd, rows
	for i := step - 1; i < len(cuts) && left > 0; i += step {
		n := min(per, left)
		chunks = append(chunks, Chunk{Index: len(chunks), Start: start, End: cuts[i], Rows: n})
		start, left = cuts[i], left-n
	}
	if left > 0 {
		chunks = append(chunks, Chunk{Index: len(chunks), Start: start, End: size, Rows: left})
	}
	return chunks
}

// Validate takes in the bytes of a two-step upload (st.UploadKey): it
// validates them as they stream from the upload store, and either records
// the file REJECTED (st.Rejected is set: the run ends; the bytes of a file
// with more errors than the record keeps are moved to the file store, for
// RowErrors) or moves the bytes to the file store and records it VALIDATED. A file the intake validated
// already (POST /upload, the local upload URL) passes through. It is
// idempotent: a retry after the bytes were claimed finds them in the file
// store.
func (s *Tasks) Validate(ctx context.Context, st RunState) (RunState, error) {
	rec, err := s.Statuses.GetStatus(ctx, st.FileID)
	switch {
	case err == nil && !txpipe.AwaitingBytes(rec.Status):
		st.Rejected = rec.Status == txpipe.StatusRejected
		return st, nil
	case err != nil && txpipe.ErrorCode(err) != txpipe.ENOTFOUND:
		return st, fmt.Errorf("status of file %s: %w", st.FileID, err)
	case st.UploadKey == "" || s.Uploads == nil:
		// Validated and stored by the intake, which crashed before writing
		// the record: Split creates it.
		return st, nil
	}
	var filename string
	if rec != nil {
		filename = rec.Filename
	}
	if filename == "" {
		filename = st.Filename
	}

	claimed := false
	r, err := s.Uploads.OpenUpload(ctx, st.UploadKey)
	if txpipe.ErrorCode(err) == txpipe.ENOTFOUND {
		// A retry after the claim: the bytes are in the file store.
		r, err = s.Files.OpenFile(ctx, st.FileKey)
		claimed = true
	}
	if err != nil {
		return st, fmt.Errorf("open upload %s of file %s: %w", st.UploadKey, st.FileID, err)
	}
	// One pass: the validator records where the file can be cut into
	// chunks while it checks the rows, so Split need not read it again
	// (a 5 GB file is read once within the validator's 15 minutes).
	opt := csvschema.Options{CutEvery: CutRows}
	var formatErr error
	switch {
	case st.Format != nil:
		opt.Format = *st.Format // as declared
	case rec != nil && rec.Format != nil:
		// The format the declaration (POST /uploads) named, its profile
		// as stored now; the run keeps it in st.Format.
		opt.Format, formatErr = ResolveFormat(ctx, s.Profiles, *rec.Format)
		if formatErr != nil && txpipe.ErrorCode(formatErr) != txpipe.EINVALID {
			r.Close()
			return st, fmt.Errorf("format declared for file %s: %w", st.FileID, formatErr)
		}
	}
	if s.ChunkRows > 0 {
		opt.CutEvery = s.ChunkRows
	}
	if rec != nil {
		opt.SizeHint = rec.SizeBytes
	}
	h := sha256.New()
	var src io.Reader
	var cr *countReader
	var sr *seekReader
	// Where to read the bytes again from an offset: the upload, or the
	// file it was claimed as (a retry after the claim).
	var openAt func(ctx context.Context, off int64) (io.ReadCloser, error)
	if us, ok := s.Uploads.(UploadSeeker); ok && !claimed {
		openAt = func(ctx context.Context, off int64) (io.ReadCloser, error) {
			return us.OpenUploadAt(ctx, st.UploadKey, off)
		}
	} else if ro, ok := s.Files.(RangeOpener); ok && claimed {
		openAt = func(ctx context.Context, off int64) (io.ReadCloser, error) {
			return ro.OpenRange(ctx, st.FileKey, off, opt.SizeHint-off)
		}
	}
	if openAt != nil && opt.SizeHint > 0 {
		// Re-readable: duplicate-id candidates are resolved on a second
		// read instead of every id being kept in memory.
		first := r
		sr = &seekReader{ctx: ctx, open: func(ctx context.Context, off int64) (io.ReadCloser, error) {
			if off == 0 && first != nil {
				b := first // the body opened above
				first = nil
				return b, nil
			}
			return openAt(ctx, off)
		}, size: opt.SizeHint, h: h}
		defer sr.Close()
		cr = &countReader{}
		sr.counted = cr
		src = sr
	} else {
		cr = &countReader{r: io.TeeReader(r, h)}
		src = cr
	}
	var rep *csvschema.Report
	if formatErr != nil {
		// A declared profile deleted (or broken) since: nothing can read
		// the file as declared. Hash the bytes, and reject the file
		// saying why.
		_, err = io.Copy(io.Discard, src)
		rep = &csvschema.Report{ErrorCount: 1, Errors: []*csvschema.RowError{{Line: 1, Err: fmt.Errorf("the format this upload declared cannot be used: %s", txpipe.ErrorMessage(formatErr))}}}
	} else if rep, err = csvschema.ValidateWith(ctx, src, opt); err == nil {
		// A rejected file is not always read to its end (a wrong header
		// ends the check): read the rest, so that the hash and the size
		// cover all of it.
		if sr != nil {
			_, err = sr.Seek(sr.hashed, io.SeekStart)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, src)
		}
	}
	r.Close()
	if err != nil {
		return st, fmt.Errorf("validate file %s: %w", st.FileID, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != st.FileKey {
		return st, txpipe.Errorf(txpipe.EINVALID, "the bytes of file %s at %s have SHA-256 %s, not the %s declared", st.FileID, st.UploadKey, sum, st.FileKey)
	}
	now := s.now()
	dialect := rep.Dialect
	out := &txpipe.FileStatus{
		FileID: st.FileID, Filename: filename, SHA256: st.FileKey, SizeBytes: cr.n, Rows: rep.Rows,
		Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now, Dialect: &dialect,
	}
	if opt.Format.Profile != nil {
		out.Profile = opt.Format.Profile.Name
	}
	if formatErr != nil {
		out.Dialect, out.Profile = nil, rec.Format.Profile
	}
	st.Rows, st.SizeBytes, st.Filename = rep.Rows, cr.n, filename
	st.Format = nil
	if f := runFormat(opt.Format, rep.Dialect); f != (csvschema.Format{}) {
		st.Format = &f // the later steps read the file as it was validated
	}
	st.HeaderEnd, st.Chunks = 0, nil
	if rep.Valid() && rep.HeaderEnd > 0 {
		per := ChunkRowsWithin(rep.Rows, s.Chunks, s.MinChunkRows)
		if s.ChunkRows > 0 {
			per = s.ChunkRows
		}
		st.HeaderEnd, st.Chunks = rep.HeaderEnd, chunksAt(rep.HeaderEnd, rep.Cuts, opt.CutEvery, per, rep.Rows, cr.n)
	}
	in := &Intake{Statuses: s.Statuses, Retry: RetryPolicy{MaxAttempts: 1}, Chunks: s.Chunks, MinChunkRows: s.MinChunkRows}
	if !rep.Valid() {
		out.Status, out.ErrorCount, out.Errors = txpipe.StatusRejected, rep.ErrorCount, rep.Items()
		if rep.ErrorCount > int64(len(out.Errors)) && !claimed {
			// More errors than the record keeps: the bytes are kept as the
			// file, as the intake keeps them, so RowErrors can list every
			// rejected row. A file that cannot be kept is still rejected;
			// only that list is lost.
			err := DefaultRetry().Do(ctx, func(ctx context.Context) error {
				return s.Uploads.ClaimUpload(ctx, st.UploadKey, st.FileKey)
			}, nil)
			if err != nil {
				s.logger().WarnContext(ctx, "keep rejected file for its errors", "file_id", st.FileID, "err", err)
			}
		}
		if _, _, err := in.record(ctx, out, txpipe.AwaitingBytes); err != nil {
			return st, fmt.Errorf("record rejected file %s: %w", st.FileID, err)
		}
		st.Rejected = true
		s.logger().InfoContext(ctx, "file rejected", "file_id", st.FileID, "errors", rep.ErrorCount)
		return st, nil
	}
	if !claimed {
		if err := s.Uploads.ClaimUpload(ctx, st.UploadKey, st.FileKey); err != nil {
			return st, fmt.Errorf("claim upload %s of file %s: %w", st.UploadKey, st.FileID, err)
		}
	}
	out.Status = txpipe.StatusValidated
	if _, _, err := in.record(ctx, out, txpipe.AwaitingBytes); err != nil {
		return st, fmt.Errorf("record file %s: %w", st.FileID, err)
	}
	s.logger().InfoContext(ctx, "file accepted", "file_id", st.FileID, "rows", rep.Rows, "size_bytes", cr.n)
	return st, nil
}

type countReader struct {
	r io.Reader
	n int64
}

// seekReader reads an upload as an io.ReadSeeker: a seek closes the body
// and the next read opens it again at the new offset. Bytes read for the
// first time go to h and are counted in counted, so a second read (of the
// duplicate-id candidates) changes neither.
type seekReader struct {
	ctx     context.Context
	open    func(ctx context.Context, off int64) (io.ReadCloser, error)
	size    int64 // declared: where io.SeekEnd is
	h       io.Writer
	counted *countReader
	body    io.ReadCloser
	pos     int64 // offset of the next byte read
	hashed  int64 // bytes [0, hashed) went to h
}

func (s *seekReader) Read(p []byte) (int, error) {
	if s.body == nil {
		b, err := s.open(s.ctx, s.pos)
		if err != nil {
			return 0, err
		}
		s.body = b
	}
	n, err := s.body.Read(p)
	if end := s.pos + int64(n); end > s.hashed && s.pos <= s.hashed {
		s.h.Write(p[s.hashed-s.pos : n])
		s.counted.n += end - s.hashed
		s.hashed = end
	}
	s.pos += int64(n)
	return n, err
}

func (s *seekReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += s.size
	}
	if off < 0 {
		return 0, fmt.Errorf("seek to %d: %w", off, errors.ErrUnsupported)
	}
	if off != s.pos && s.body != nil {
		s.body.Close()
		s.body = nil
	}
	s.pos = off
	return off, nil
}

func (s *seekReader) Close() error {
	if s.body != nil {
		return s.body.Close()
	}
	return nil
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Split marks the file PROCESSING and cuts the stored file into chunks of
// whole rows (ChunkRows each, the last one shorter). The chunks Validate or
// the intake found while they validated the file are kept (one pass over
// the file) when they are of ChunkRows rows; otherwise Split finds them by
// decoding the file once. A file already COMPLETED gets no chunks and
// keeps its counts.
func (s *Tasks) Split(ctx context.Context, st RunState) (RunState, error) {
	found := st.Chunks
	st.Chunks, st.ChunkResults, st.Counts = nil, nil, nil
	_, done, err := s.beginProcessing(ctx, st, StepSplit)
	if err != nil || done != nil {
		st.Counts = done
		return st, err
	}

	// Rows lost to a failed group commit after this are found by Finish's
	// SyncRows (see RowsDurability).
	if rd, ok := s.Transactions.(RowsDurability); ok && s.Transactions != nil {
		if err := rd.BeginRows(ctx, st.FileID); err != nil {
			return st, fmt.Errorf("begin rows of file %s: %w", st.FileID, err)
		}
	}
	if validChunks(found, st.HeaderEnd, st.Rows) && (s.ChunkRows <= 0 || found[0].Rows == min(s.ChunkRows, st.Rows)) {
		st.Chunks = found
		if st.Format == nil {
			st.Format = &csvschema.Format{}
		}
		return st, nil
	}
	f, err := s.Files.OpenFile(ctx, st.FileKey)
	if err != nil {
		return st, fmt.Errorf("open file %s: %w", st.FileID, err)
	}
	defer f.Close()
	per := s.ChunkRows
	if per <= 0 {
		per = ChunkRowsWithin(st.Rows, s.Chunks, s.MinChunkRows)
	}
	if st.Format == nil {
		// Always present, so the map passes it to each chunk ($.format).
		st.Format = &csvschema.Format{}
	}
	format := *st.Format
	dec := csvschema.NewDecoderFormat(f, format)
	// Offsets count the file's own bytes in any text encoding (a
	// single-byte one is cut at its line-end bytes, UTF-16 at its line-end
	// code units); a spreadsheet is one chunk, read whole.
	whole := format.Encoding == csvschema.EncXLSX
	var tx txpipe.Transaction
	var rows int64
	cur := Chunk{}
	for {
		err := dec.Decode(&tx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, txpipe.Errorf(txpipe.EINVALID, "split file %s: %w", st.FileID, err)
		}
		if rows == 0 {
			st.HeaderEnd = dec.HeaderEnd()
			cur.Start = st.HeaderEnd
		}
		rows++
		cur.Rows++
		if cur.Rows == per && !whole {
			cur.End = dec.Offset()
			st.Chunks = append(st.Chunks, cur)
			cur = Chunk{Index: len(st.Chunks), Start: cur.End}
		}
		if rows%100_000 == 0 && ctx.Err() != nil {
			return st, txpipe.Wrap(txpipe.ETRANSIENT, ctx.Err())
		}
	}
	if cur.Rows > 0 {
		cur.End = dec.Offset()
		cur.Whole = whole
		st.Chunks = append(st.Chunks, cur)
	}
	if rows != st.Rows {
		return st, txpipe.Errorf(txpipe.EINVALID, "file %s has %d rows, %d were validated", st.FileID, rows, st.Rows)
	}
	return st, nil
}

// validChunks reports whether chunks (found by Validate) cover rows rows
// in order from headerEnd.
func validChunks(chunks []Chunk, headerEnd, rows int64) bool {
	if len(chunks) == 0 || headerEnd <= 0 {
		return false
	}
	pos, n := headerEnd, int64(0)
	for i, c := range chunks {
		if c.Index != i || c.Start != pos || c.End < c.Start || c.Rows <= 0 || c.Whole {
			return false
		}
		pos, n = c.End, n+c.Rows
	}
	return n == rows
}

// TransformChunk writes the rows of one chunk (the file's header and the
// chunk's bytes, decoded) and returns its rows and counts. Writes are
// idempotent per file, so a retried or duplicated chunk reports the counts
// of its first write and never adds a row twice.
func (s *Tasks) TransformChunk(ctx context.Context, st RunState, c Chunk) (RunState, error) {
	start := time.Now()
	body, err := s.openChunk(ctx, st, c)
	if err != nil {
		return st, err
	}
	defer body.Close()
	// Within the local engine's map, each batch's counts add to the run's
	// progress (the chunk's share so far is reported as deltas).
	var progress func(txpipe.Counts)
	if report, ok := ctx.Value(chunkProgressKey{}).(func(txpipe.Counts)); ok {
		var last txpipe.Counts
		progress = func(c txpipe.Counts) {
			report(txpipe.Counts{Inserted: c.Inserted - last.Inserted, Updated: c.Updated - last.Updated, Unchanged: c.Unchanged - last.Unchanged})
			last = c
		}
	}
	counts, rows, err := s.writeRows(ctx, st.FileID, st.Format, body, progress)
	if err != nil {
		return st, fmt.Errorf("chunk %d: %w", c.Index, err)
	}
	if rows != c.Rows {
		return st, txpipe.Errorf(txpipe.EINVALID, "chunk %d of file %s has %d rows, %d were split", c.Index, st.FileID, rows, c.Rows)
	}
	// A chunk reports counts only for rows that are durable (Finish checks
	// again for the whole file).
	if rd, ok := s.Transactions.(RowsDurability); ok {
		if err := rd.SyncRows(ctx, st.FileID); err != nil {
			return st, fmt.Errorf("chunk %d: %w", c.Index, err)
		}
	}
	s.logger().DebugContext(ctx, "chunk written", "file_id", st.FileID, "chunk", c.Index, "rows", rows, "seconds", time.Since(start).Seconds())
	// Only what the map collects (ChunkResult): the run's state holds one
	// per chunk, within Step Functions' 256 KiB.
	return RunState{Rows: rows, Counts: &counts}, nil
}

// openChunk returns the header of st's file followed by chunk c's bytes.
func (s *Tasks) openChunk(ctx context.Context, st RunState, c Chunk) (io.ReadCloser, error) {
	if c.Whole {
		f, err := s.Files.OpenFile(ctx, st.FileKey)
		if err != nil {
			return nil, fmt.Errorf("open file %s: %w", st.FileID, err)
		}
		return f, nil
	}
	if st.HeaderEnd <= 0 || c.Start < st.HeaderEnd || c.End < c.Start {
		return nil, txpipe.Errorf(txpipe.EINVALID, "chunk %d of file %s: bad range [%d, %d) after a header of %d bytes", c.Index, st.FileID, c.Start, c.End, st.HeaderEnd)
	}
	if ro, ok := s.Files.(RangeOpener); ok {
		hr, err := ro.OpenRange(ctx, st.FileKey, 0, st.HeaderEnd)
		if err != nil {
			return nil, fmt.Errorf("open header of file %s: %w", st.FileID, err)
		}
		header, err := io.ReadAll(hr)
		hr.Close()
		if err != nil {
			return nil, txpipe.Wrap(txpipe.ETRANSIENT, fmt.Errorf("read header of file %s: %w", st.FileID, err))
		}
		body, err := ro.OpenRange(ctx, st.FileKey, c.Start, c.End-c.Start)
		if err != nil {
			return nil, fmt.Errorf("open chunk %d of file %s: %w", c.Index, st.FileID, err)
		}
		return readCloser{io.MultiReader(bytes.NewReader(header), body), body}, nil
	}
	f, err := s.Files.OpenFile(ctx, st.FileKey)
	if err != nil {
		return nil, fmt.Errorf("open file %s: %w", st.FileID, err)
	}
	header := make([]byte, st.HeaderEnd)
	if _, err := io.ReadFull(f, header); err != nil {
		f.Close()
		return nil, txpipe.Wrap(txpipe.ETRANSIENT, fmt.Errorf("read header of file %s: %w", st.FileID, err))
	}
	if sk, ok := f.(io.Seeker); ok {
		if _, err := sk.Seek(c.Start, io.SeekStart); err != nil {
			f.Close()
			return nil, txpipe.Wrap(txpipe.ETRANSIENT, fmt.Errorf("seek to chunk %d of file %s: %w", c.Index, st.FileID, err))
		}
	} else if _, err := io.CopyN(io.Discard, f, c.Start-st.HeaderEnd); err != nil {
		f.Close()
		return nil, txpipe.Wrap(txpipe.ETRANSIENT, fmt.Errorf("seek to chunk %d of file %s: %w", c.Index, st.FileID, err))
	}
	return readCloser{io.MultiReader(bytes.NewReader(header), io.LimitReader(f, c.End-c.Start)), f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Finish adds up the chunks' counts, checks they cover every validated
// row, and records them in the status record.
func (s *Tasks) Finish(ctx context.Context, st RunState) (RunState, error) {
	rec, err := s.Statuses.GetStatus(ctx, st.FileID)
	if err != nil {
		return st, fmt.Errorf("status of file %s: %w", st.FileID, err)
	}
	if rec.Status == txpipe.StatusCompleted || (st.Counts != nil && len(st.Chunks) == 0) {
		c := rec.Counts()
		st.Counts, st.Chunks, st.ChunkResults = &c, nil, nil
		return st, nil
	}
	if len(st.ChunkResults) != len(st.Chunks) {
		return st, txpipe.Errorf(txpipe.EINVALID, "file %s: %d chunk results for %d chunks", st.FileID, len(st.ChunkResults), len(st.Chunks))
	}
	var sum txpipe.Counts
	var rows int64
	for i, r := range st.ChunkResults {
		if r.Counts == nil || r.Counts.Total() != r.Rows {
			return st, txpipe.Errorf(txpipe.EINVALID, "file %s: chunk %d reports counts %+v for %d rows", st.FileID, i, r.Counts, r.Rows)
		}
		sum = sum.Add(*r.Counts)
		rows += r.Rows
	}
	if rows != st.Rows {
		return st, txpipe.Errorf(txpipe.EINVALID, "file %s: its chunks hold %d rows, %d were validated", st.FileID, rows, st.Rows)
	}
	if rd, ok := s.Transactions.(RowsDurability); ok {
		if err := rd.SyncRows(ctx, st.FileID); err != nil {
			return st, err
		}
	}
	if rs, ok := s.Transactions.(RowsSettler); ok {
		// Only the first queries' speed depends on it: a failure is logged.
		if err := rs.SettleRows(ctx); err != nil {
			s.logger().WarnContext(ctx, "settle rows", "file_id", st.FileID, "err", err)
		}
	}
	rec.Rows = rows
	rec.SetCounts(sum)
	rec.UpdatedAt = s.now()
	rec.AddEvent(txpipe.StatusEvent{At: rec.UpdatedAt, Status: txpipe.StatusProcessing, Step: StepFinish, Attempt: rec.Attempts,
		Message: fmt.Sprintf("%d rows written in %d chunks (%d inserted, %d updated, %d unchanged)", rows, len(st.Chunks), sum.Inserted, sum.Updated, sum.Unchanged)})
	if err := s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing); err != nil {
		return st, fmt.Errorf("record counts of file %s: %w", st.FileID, err)
	}
	s.logger().InfoContext(ctx, "rows written", "file_id", st.FileID, "rows", rows, "chunks", len(st.Chunks),
		"inserted", sum.Inserted, "updated", sum.Updated, "unchanged", sum.Unchanged)
	st.Counts, st.Chunks, st.ChunkResults = &sum, nil, nil
	return st, nil
}
