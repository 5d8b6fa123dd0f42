package csvschema

import (
	"context"
	"io"
	"slices"
	"sync"
)

// The first pass reads the file in batches of records. One goroutine (the
// reader) splits records off the stream and copies them into a batch;
// workers check the batches' rows in parallel and hash their ids; the
// calling goroutine (the merger) takes the batches back in order, counts
// their rows and errors, and adds the id hashes to the duplicate set. With
// one worker all three steps run in turn on the calling goroutine. At most
// 2*workers+2 batches (each about batchBytes) are in memory.

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
	err  error // the scanner's error after these records (io.EOF at the end)
	read int64 // bytes of the input (as stored) read when the batch was cut
	cuts []int64

	// results of checking
	rows   int64
	errs   []*RowError
	hashes []uint64 // of the usable ids, in row order
	hlines []int    // their lines
	ids    []byte   // exact mode: the usable ids, each after a length byte
}

func (b *batch) reset() {
	b.buf, b.recs, b.err, b.cuts = b.buf[:0], b.recs[:0], nil, b.cuts[:0]
	b.rows, b.errs, b.hashes, b.hlines, b.ids = 0, nil, b.hashes[:0], b.hlines[:0], b.ids[:0]
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
		if set.exact {
			b.ids = append(b.ids, byte(len(rw.id)))
			b.ids = append(b.ids, rw.id...)
		} else {
			b.hashes = append(b.hashes, set.hash(rw.id))
		}
		b.hlines = append(b.hlines, r.line)
	}
}

// merge takes a checked batch into the report and the duplicate set; it
// returns the candidate hashes seen again.
func (v *validation) merge(set *hashSet, b *batch, cands []uint64) []uint64 {
	if !v.sized && v.size > 0 && len(b.recs) > 0 {
		// Size the set once for the rows the file likely has, from the
		// bytes per row of the first batch; rows shorter than minRowBytes
		// cannot be valid, which bounds the estimate.
		v.sized = true
		perRow := max(int64(len(b.buf)+len(b.recs))/int64(len(b.recs)), minRowBytes)
		set.reserve(int(v.size / perRow * 9 / 8))
	}
	v.rep.Rows += b.rows
	v.rep.Cuts = append(v.rep.Cuts, b.cuts...)
	var dups []*RowError
	if set.exact {
		for i, o := 0, 0; o < len(b.ids); i++ {
			id := b.ids[o+1 : o+1+int(b.ids[o])]
			o += 1 + len(id)
			if first, seen := set.add(id, b.hlines[i]); seen {
				dups = append(dups, dupError(b.hlines[i], id, first))
			}
		}
	} else {
		for _, h := range b.hashes {
			if set.addHash(h) {
				cands = append(cands, h)
			}
		}
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

func (v *validation) parallel(ctx context.Context, sc *scanner, hk *checker, set *hashSet) ([]uint64, error) {
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: no goroutine outlives the pass
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nbuf := 2*v.workers + 2
	free := make(chan *batch, nbuf)
	for range nbuf {
		free <- &batch{}
	}
	todo := make(chan *batch, nbuf)
	done := make(chan *batch, nbuf)

	wg.Add(1)
	go func() { // reader
		defer wg.Done()
		defer close(todo)
		for seq := 0; ; seq++ {
			var b *batch
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			b.reset()
			b.seq = seq
			fill(sc, b, &v.cut)
			select {
			case todo <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	for range v.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := hk.clone()
			for b := range todo {
				work(k, set, b)
				select {
				case done <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	var cands []uint64
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
		free <- b
	}
}
