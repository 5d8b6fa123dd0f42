package csvschema

import (
	"bytes"
	"context"
	"io"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
)

// The first pass reads the file in batches of records. With one worker,
// the calling goroutine splits records off the stream and copies them into
// a batch (fill), checks them and hashes their ids (work), and takes the
// batch into the report and the duplicate set (merge), in turn. With more,
// the steps overlap: see parallel. At most 2*workers+2 input buffers (each
// about batchBytes) are in memory.

const (
	batchRows  = 4096
	batchBytes = 256 << 10
)

// minRowBytes is the shortest valid row: 1-byte id, amount and merchant, a
// currency code, a 20-byte timestamp, the shortest status, five commas and
// a line end.
const minRowBytes = 1 + 1 + 3 + 20 + 1 + 6 + 5 + 1

type batchRec struct {
	off, n  int32
	line    int
	tooLong bool
}

type batch struct {
	seq  int
	buf  []byte
	recs []batchRec
	// A chunk batch holds whole records of the input as read (nextChunk):
	// buf from line line and input offset base, split by the worker
	// (workChunk); or, if tooLong, one record longer than the scanner's
	// buffer on line line, the input offset after it base.
	chunk, tooLong bool
	line           int
	base           int64
	err            error // the scanner's error after these records (io.EOF at the end)
	read           int64 // bytes of the input (as stored) read when the batch was cut
	cuts           []int64

	// results of checking
	rows   int64
	errs   []*RowError
	hashes []uint64 // of the usable ids, in row order
	ids    []byte   // exact mode: the usable ids, each after a length byte
	hlines []int    // exact mode: their lines
	ends   []int64  // chunk batches, when cutting: the input offset after each record
	est    int      // the input's likely rows, from this batch (expectedRows); 0 if unknown
	// parts are the hashes of the usable ids by partition of the
	// duplicate set (parallel hash mode: see inserters), each in row order.
	parts [][]uint64
	refs  atomic.Int32 // parties yet to finish with the batch (parallel)
}

func (b *batch) reset() {
	b.buf, b.recs, b.err, b.cuts = b.buf[:0], b.recs[:0], nil, b.cuts[:0]
	b.rows, b.errs, b.hashes, b.hlines, b.ids, b.est = 0, nil, b.hashes[:0], b.hlines[:0], b.ids[:0], 0
	b.chunk, b.tooLong, b.line, b.base, b.ends = false, false, 0, 0, b.ends[:0]
	for i := range b.parts {
		b.parts[i] = b.parts[i][:0]
	}
}

// cutter records where a file can be cut into chunks of whole rows: the
// input offset after every every-th row (Options.CutEvery).
type cutter struct {
	every int64 // 0: no cuts
	rows  int64
}

// fill reads records into b until it is full or the stream ends.
func fill(sc *scanner, b *batch, c *cutter) {
	var rec record
	for len(b.recs) < batchRows && len(b.buf) < batchBytes {
		if err := sc.next(&rec); err != nil {
			b.err = err
			break
		}
		b.recs = append(b.recs, batchRec{off: int32(len(b.buf)), n: int32(len(rec.data)), line: rec.line, tooLong: rec.tooLong})
		b.buf = append(b.buf, rec.data...)
		if c.every > 0 {
			if c.rows++; c.rows%c.every == 0 {
				b.cuts = append(b.cuts, sc.rawOffset())
			}
		}
	}
	b.read = sc.inputRead()
}

// work checks the rows of b and hashes their usable ids.
func work(k *checker, set *hashSet, b *batch) {
	var rw row
	report := func(e *RowError) { b.errs = append(b.errs, e) }
	for _, r := range b.recs {
		b.rows++
		if r.tooLong {
			report(&RowError{Line: r.line, Err: ErrRecordTooLong})
			continue
		}
		k.check(b.buf[r.off:r.off+r.n], r.line, &rw, report)
		if !idUsable(k, &rw) {
			continue
		}
		b.addID(set, rw.id, r.line)
	}
}

// addID takes a usable id of the batch for the duplicate check: in exact
// mode the id, else its hash, into b.parts by partition when the batch has
// parts (the parallel pass's inserters), else into b.hashes.
func (b *batch) addID(set *hashSet, id []byte, line int) {
	switch {
	case set.exact:
		b.ids = append(b.ids, byte(len(id)))
		b.ids = append(b.ids, id...)
		b.hlines = append(b.hlines, line)
	case b.parts != nil:
		h := set.hash(id)
		p := partOf(h, len(b.parts))
		b.parts[p] = append(b.parts[p], h)
	default:
		b.hashes = append(b.hashes, set.hash(id))
	}
}

// expectedRows estimates the rows of an input of size bytes from the bytes
// per row of a checked batch, 0 if the batch has none. Rows shorter than
// minRowBytes cannot be valid, which bounds the estimate. It sizes the
// duplicate set once, so that it does not grow.
func expectedRows(b *batch, size int64) int {
	if size <= 0 {
		return 0
	}
	var n, bytes int64
	if b.chunk {
		n, bytes = b.rows, int64(len(b.buf))
	} else {
		n, bytes = int64(len(b.recs)), int64(len(b.buf)+len(b.recs))
	}
	if n == 0 || b.tooLong {
		return 0
	}
	perRow := max(bytes/n, minRowBytes)
	return int(size / perRow * 9 / 8)
}

// merge takes a checked batch into the report and the duplicate set; it
// returns the candidate hashes seen again.
func (v *validation) merge(set *hashSet, b *batch, cands []uint64) []uint64 {
	if !v.sized && b.est > 0 && b.parts == nil { // (inserters size their own parts)
		v.sized = true
		set.reserve(b.est)
	}
	v.rep.Rows += b.rows
	v.rep.Cuts = append(v.rep.Cuts, b.cuts...)
	if v.cut.every > 0 {
		for _, e := range b.ends {
			if v.cut.rows++; v.cut.rows%v.cut.every == 0 {
				v.rep.Cuts = append(v.rep.Cuts, e)
			}
		}
	}
	var dups []*RowError
	if set.exact {
		for i, o := 0, 0; o < len(b.ids); i++ {
			id := b.ids[o+1 : o+1+int(b.ids[o])]
			o += 1 + len(id)
			if first, seen := set.add(id, b.hlines[i]); seen {
				dups = append(dups, dupError(b.hlines[i], id, first))
			}
		}
	} else if b.parts == nil {
		cands = set.addHashes(b.hashes, cands)
	}
	errs := b.errs
	if len(dups) > 0 {
		errs = append(errs, dups...)
		slices.SortStableFunc(errs, func(x, y *RowError) int { return x.Line - y.Line })
	}
	for _, e := range errs {
		v.rep.add(e)
	}
	return cands
}

// firstPass checks every row and adds each usable id to set. It returns the
// hashes seen more than once (in exact mode it reports the duplicates itself).
func (v *validation) firstPass(ctx context.Context, r io.Reader, set *hashSet) (cands []uint64, err error) {
	sc := newScanner(r, v.sep)
	sc.rawRead = v.rawRead
	if v.cut.every > 0 {
		// Offsets in the undecoded input are only needed for cuts: counting
		// them (a pass over the decoded text) was 18% of the CPU of a
		// Windows-1252 file's validation.
		sc.rawLen = v.rawLen
	}
	k := newChecker(v.sep, v.prof)
	k.xlsx = v.xlsx
	headerLine, ok, err := readHeader(sc, k, v.rep.add)
	if v.cut.every > 0 {
		v.rep.HeaderEnd = sc.rawOffset()
	}
	if k.sep != 0 && !v.xlsx {
		v.sep = k.sep
		v.rep.Dialect.Delimiter = DelimiterName(k.sep)
	}
	v.rep.Header = k.header
	if err != nil || !ok {
		return nil, err
	}
	if v.workers <= 1 {
		cands, err = v.sequential(ctx, sc, k, set)
	} else {
		cands, err = v.parallel(ctx, sc, k, set)
	}
	if err != nil {
		return nil, err
	}
	v.read += sc.inputRead()
	if v.opt.Progress != nil {
		v.opt.Progress(v.read) // the whole pass
	}
	if v.rep.Rows == 0 {
		v.rep.add(&RowError{Line: headerLine, Err: ErrNoTransactions})
	}
	return cands, nil
}

func (v *validation) progress(ctx context.Context, read int64) error {
	if v.opt.Progress != nil {
		v.opt.Progress(v.read + read)
	}
	return ctx.Err()
}

func (v *validation) sequential(ctx context.Context, sc *scanner, k *checker, set *hashSet) ([]uint64, error) {
	var cands []uint64
	b := &batch{}
	for {
		b.reset()
		fill(sc, b, &v.cut)
		work(k, set, b)
		b.est = expectedRows(b, v.size)
		cands = v.merge(set, b, cands)
		if b.err != nil {
			if b.err == io.EOF {
				return cands, nil
			}
			return nil, b.err
		}
		if err := v.progress(ctx, b.read); err != nil {
			return nil, err
		}
	}
}

// workChunk splits the records of a chunk batch as scanner.next does,
// checks them and hashes their usable ids (into b.parts by partition when
// the batch has parts).
func workChunk(k *checker, set *hashSet, b *batch, cutting bool) {
	report := func(e *RowError) { b.errs = append(b.errs, e) }
	if b.tooLong {
		b.rows++
		report(&RowError{Line: b.line, Err: ErrRecordTooLong})
		if cutting {
			b.ends = append(b.ends, b.base)
		}
		return
	}
	var rw row
	data, line := b.buf, b.line
	for pos := 0; pos < len(data); {
		rest := data[pos:]
		st := scanState{fieldStart: true, sep: k.sep}
		i := st.scanTo(rest)
		consumed := i + 1
		if i < 0 {
			i, consumed = len(rest), len(rest) // the last record has no line end
		}
		recLine := line
		if st.sawQuote {
			line += bytes.Count(rest[:consumed], []byte{'\n'})
		} else if consumed > i {
			line++
		}
		pos += consumed
		d := rest[:i]
		if len(d) > 0 && d[len(d)-1] == '\r' {
			d = d[:len(d)-1]
		}
		tooLong := len(d) > MaxRecordBytes
		if !tooLong && isBlank(d) {
			continue
		}
		b.rows++
		if cutting {
			b.ends = append(b.ends, b.base+int64(pos))
		}
		if tooLong {
			report(&RowError{Line: recLine, Err: ErrRecordTooLong})
			continue
		}
		k.check(d, recLine, &rw, report)
		if !idUsable(k, &rw) {
			continue
		}
		b.addID(set, rw.id, recLine)
	}
}

// partOf is the partition of the duplicate set a hash belongs to: from
// bits the set's slot (the high bits) and fingerprint (the low 32) do not
// use.
func partOf(h uint64, parts int) int {
	return int(uint32(h>>32)&0xffff) % parts
}

// The parallel first pass. Each worker in turn, under a lock, cuts the
// next chunk of whole records off the input (nextChunk: it finds the last
// record end of the scanner's buffer by jumping from quote to quote, and
// takes that buffer, giving the scanner its previous one), then, in
// parallel with the others, splits and checks the chunk's records and
// hashes their usable ids, by partition of the duplicate set. In hash mode
// one goroutine per partition (an inserter) adds the batches' hashes of its
// partition to its own table in whatever order the batches come (the
// order does not matter there: a hash met twice is a candidate, resolved
// on the second read), without a lock; the caller's goroutine (the merger)
// takes the batches back in order for the counts, errors and cuts. In
// exact mode the merger adds the ids in order, as they must be. A batch
// goes back to the free list when the merger and every inserter are done
// with it. For an input whose offsets are counted through a decoder
// (cutting a file that is not UTF-8) the reading worker splits and copies
// the records itself (fill), as the one-worker pass does.
func (v *validation) parallel(ctx context.Context, sc *scanner, hk *checker, set *hashSet) ([]uint64, error) {
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: no goroutine outlives the pass
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunked := sc.rawLen == nil
	cutting := v.cut.every > 0
	nparts := 0
	if !set.exact {
		nparts = v.workers
	}
	// The batches (their results: a few KiB each) wait for the merger, in
	// order, and the inserters; each worker holds one input buffer (the
	// memory: about bufSize each).
	nbatch := 8*v.workers + 8
	free := make(chan *batch, nbatch)
	for range nbatch {
		b := &batch{}
		if nparts > 0 {
			b.parts = make([][]uint64, nparts)
		}
		free <- b
	}
	done := make(chan *batch, nbatch)
	ins := make([]chan *batch, nparts)
	for p := range ins {
		ins[p] = make(chan *batch, nbatch)
	}
	release := func(b *batch) {
		if b.refs.Add(-1) == 0 {
			free <- b // never blocks: it holds every batch
		}
	}

	// read fills b with the next records, in turn: the workers take the
	// reading in turn, under rmu, so that no goroutine waits for another
	// to be scheduled to hand it records. It returns false once the
	// input has ended (the batch with the end, or the read error, was
	// handed out).
	var (
		rmu    sync.Mutex
		seq    int
		ended  bool
		rchunk chunk
	)
	readerLabels := pprof.WithLabels(ctx, pprof.Labels("csvschema", "reader"))
	workerLabels := pprof.WithLabels(ctx, pprof.Labels("csvschema", "worker"))
	read := func(b *batch, own *[]byte) bool {
		rmu.Lock()
		defer rmu.Unlock()
		pprof.SetGoroutineLabels(readerLabels)
		defer pprof.SetGoroutineLabels(workerLabels)
		if ended {
			return false
		}
		b.seq = seq
		seq++
		if chunked {
			// The worker takes the scanner's buffer, records and all, and
			// gives it its own (see nextChunk).
			b.chunk = true
			if err := sc.nextChunk(&rchunk, own); err != nil {
				b.err = err
			} else {
				b.line, b.base, b.tooLong = rchunk.line, rchunk.base, rchunk.tooLong
				b.buf = rchunk.data
			}
			b.read = sc.inputRead()
		} else {
			b.buf = (*own)[:0]
			fill(sc, b, &v.cut)
			*own = b.buf
		}
		ended = b.err != nil
		return true
	}
	var workers sync.WaitGroup
	for range v.workers {
		wg.Add(1)
		workers.Add(1)
		go func() {
			defer wg.Done()
			defer workers.Done()
			pprof.SetGoroutineLabels(workerLabels)
			k := hk.clone()
			var own []byte // the input buffer this worker holds
			for {
				var b *batch
				select {
				case b = <-free:
				case <-ctx.Done():
					return
				}
				b.reset()
				if !read(b, &own) {
					free <- b
					return
				}
				if b.chunk {
					workChunk(k, set, b, cutting)
				} else {
					work(k, set, b)
				}
				b.est = expectedRows(b, v.size)
				b.buf = nil // a slice of own
				b.refs.Store(int32(1 + nparts))
				select {
				case done <- b:
				case <-ctx.Done():
					return
				}
				for _, c := range ins {
					c <- b // never blocks: a channel can hold every batch
				}
			}
		}()
	}
	cands := make([][]uint64, nparts)
	var inserting sync.WaitGroup
	for p := range nparts {
		wg.Add(1)
		inserting.Add(1)
		go func() { // inserter of partition p
			defer wg.Done()
			defer inserting.Done()
			labelRole(ctx, "inserter")
			part := newHashSet(set.seed, false)
			defer part.release()
			sized := false
			for b := range ins[p] {
				if !sized && b.est > 0 {
					sized = true
					part.reserve(b.est/nparts + 1)
				}
				cands[p] = part.addHashes(b.parts[p], cands[p])
				release(b)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		workers.Wait()
		for _, c := range ins {
			close(c)
		}
	}()

	labelRole(ctx, "merger")
	defer pprof.SetGoroutineLabels(ctx)
	var merged []uint64
	pending := map[int]*batch{}
	for next := 0; ; {
		b, ok := pending[next]
		if !ok {
			select {
			case b = <-done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if b.seq != next {
				pending[b.seq] = b
				continue
			}
		} else {
			delete(pending, next)
		}
		next++
		merged = v.merge(set, b, merged)
		err := b.err
		read := b.read
		release(b)
		if err != nil {
			if err != io.EOF {
				return nil, err
			}
			inserting.Wait() // they end once the workers have handed them every batch
			for _, c := range cands {
				merged = append(merged, c...)
			}
			return merged, nil
		}
		if err := v.progress(ctx, read); err != nil {
			return nil, err
		}
	}
}

// labelRole labels the calling goroutine's CPU profile samples with its
// part in the parallel pass (go tool pprof -tags shows the CPU of each;
// "reader" is the workers' reading, serial under a lock, and "merger" is
// serial too).
func labelRole(ctx context.Context, role string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("csvschema", role)))
}
