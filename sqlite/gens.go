package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/txpipe/txpipe/workflow"
)

// genBits sets the size of a generation: a batch inserts its rows into
// generation max(seq) >> genBits of its shard, so a generation holds about
// 2^genBits rows, whose two index parts (about 20 MB) fit the shard
// writer's page cache. Tests make generations smaller (generations.bits).
const genBits = 19

// filterBitsPerKey sizes each generation's filter: a false positive costs
// one index lookup in that generation, and a new id is checked against
// every older generation (about 0.1% each at 16 bits).
const filterBitsPerKey = 16

// generation is what a shard keeps in memory about one generation: a
// filter of the id hashes stored in it and the range of their timestamps.
// Both may hold more than the generation (a write rolled back): never less.
type generation struct {
	n            int64
	filter       *hashFilter
	minTS, maxTS int64 // Unix seconds; minTS > maxTS while empty
}

// generations is a shard's list of generations, oldest first. The shard's
// writer changes it (under wmu, and mu for the list and time ranges);
// readers take the time ranges under mu.
type generations struct {
	bits int // genBits
	mu   sync.RWMutex
	list []*generation
}

// loadGenerations reads the generations of the shard through q (the write
// connection, or its transaction, so that no write is missed): each
// generation's id hashes into its filter, and its time range.
func loadGenerations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (*generations, error) {
	rows, err := q.QueryContext(ctx, `SELECT gen, id_hash FROM transactions INDEXED BY transactions_gen_id ORDER BY gen, id_hash`)
	if err != nil {
		return nil, fmt.Errorf("read generations: %w", translate(err))
	}
	gs := &generations{bits: genBits}
	var (
		cur    int64 = -1
		hashes []int64
	)
	flush := func() {
		if cur < 0 {
			return
		}
		g := &generation{n: cur, filter: newHashFilter(max(len(hashes), gs.capacity())), minTS: math.MaxInt64, maxTS: math.MinInt64}
		for _, h := range hashes {
			g.filter.add(h)
		}
		gs.list = append(gs.list, g)
		hashes = hashes[:0]
	}
	for rows.Next() {
		var n int64
		var h sql.NullInt64
		if err := rows.Scan(&n, &h); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read generations: %w", translate(err))
		}
		if n != cur {
			flush()
			cur = n
		}
		if h.Valid {
			hashes = append(hashes, h.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read generations: %w", translate(err))
	}
	rows.Close()
	flush()
	for _, g := range gs.list {
		var lo, hi sql.NullInt64
		if err := queryRow(ctx, q, `SELECT min(ts) FROM transactions WHERE gen = ?`, g.n).Scan(&lo); err != nil {
			return nil, fmt.Errorf("read the time range of generation %d: %w", g.n, translate(err))
		}
		if err := queryRow(ctx, q, `SELECT max(ts) FROM transactions WHERE gen = ?`, g.n).Scan(&hi); err != nil {
			return nil, fmt.Errorf("read the time range of generation %d: %w", g.n, translate(err))
		}
		if lo.Valid && hi.Valid {
			g.minTS, g.maxTS = lo.Int64, hi.Int64
		}
	}
	return gs, nil
}

// openShard opens the transactions shard at path and loads its
// generations (Open loads those of its shards together, in parallel).
func openShard(ctx context.Context, path string, logger *slog.Logger, lost *lostRows) (*file, error) {
	f, err := openFile(ctx, path, logger, lost, shardWriterCacheKiB, shardReaderConns, "migrations/transactions")
	if err != nil {
		return nil, err
	}
	if err := f.loadGenerations(ctx); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// loadShardGenerations loads the generations of shards, in parallel.
func loadShardGenerations(ctx context.Context, shards []*file) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() { errs[i] = s.loadGenerations(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadGenerations reads f's generations; no write may be in progress.
func (f *file) loadGenerations(ctx context.Context) error {
	gs, err := loadGenerations(ctx, f.write)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.path, err)
	}
	f.gens = gs
	if f.listStmt == nil {
		if f.listStmt, err = f.read.PrepareContext(ctx, listSQL); err != nil {
			return fmt.Errorf("open %s: prepare the transactions query: %w", f.path, translate(err))
		}
	}
	return nil
}

// capacity is the most rows a generation made by batches holds: its
// 2^bits seqs, and the batch that starts at its last one.
func (gs *generations) capacity() int { return 1<<gs.bits + workflow.MaxBatch }

// of returns the generation of the rows of a batch written after the row
// with seq before.
func (gs *generations) of(before int64) int64 { return before >> gs.bits }

type rowQuerier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// queryRow is QueryRowContext for a rowQuerier.
func queryRow(ctx context.Context, q rowQuerier, query string, args ...any) scanner {
	rows, err := q.QueryContext(ctx, query, args...)
	return scanner{rows, err}
}

type scanner struct {
	rows *sql.Rows
	err  error
}

func (s scanner) Scan(dest ...any) error {
	if s.err != nil {
		return s.err
	}
	defer s.rows.Close()
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return s.rows.Scan(dest...)
}

// open returns generation n, adding it (empty) if it is new. The writer
// calls it.
func (gs *generations) open(n int64) *generation {
	gs.mu.RLock()
	if k := len(gs.list); k > 0 && gs.list[k-1].n == n {
		g := gs.list[k-1]
		gs.mu.RUnlock()
		return g
	}
	i, found := slices.BinarySearchFunc(gs.list, n, func(g *generation, n int64) int { return cmp.Compare(g.n, n) })
	gs.mu.RUnlock()
	if found {
		return gs.list[i]
	}
	g := &generation{n: n, filter: newHashFilter(gs.capacity()), minTS: math.MaxInt64, maxTS: math.MinInt64}
	gs.mu.Lock()
	gs.list = slices.Insert(gs.list, i, g)
	gs.mu.Unlock()
	return g
}

// others returns the generations other than n. The writer calls it.
func (gs *generations) others(n int64) []*generation {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	out := make([]*generation, 0, len(gs.list))
	for _, g := range gs.list {
		if g.n != n {
			out = append(out, g)
		}
	}
	return out
}

// widen extends generation n's time range to include [lo, hi].
func (gs *generations) widen(n, lo, hi int64) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	i, found := slices.BinarySearchFunc(gs.list, n, func(g *generation, n int64) int { return cmp.Compare(g.n, n) })
	if !found {
		return // not loaded: cannot happen for a stored row
	}
	g := gs.list[i]
	g.minTS, g.maxTS = min(g.minTS, lo), max(g.maxTS, hi)
}

// overlapping returns the numbers of the generations that may hold rows
// with from <= ts <= to (Unix seconds).
func (gs *generations) overlapping(from, to int64) []int64 {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	var out []int64
	for _, g := range gs.list {
		if g.minTS <= to && g.maxTS >= from {
			out = append(out, g.n)
		}
	}
	return out
}

// hashFilter is a split-block Bloom filter of id hashes (the layout of
// Parquet's): a hash sets 8 bits in one 256-bit block. The block is picked
// by the hash's top bits, in the order PutTransactions sorts a batch, so a
// batch walks each filter forward.
type hashFilter struct {
	blocks [][8]uint32
}

var filterSalts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

func newHashFilter(keys int) *hashFilter {
	n := max((keys*filterBitsPerKey+255)/256, 1)
	return &hashFilter{blocks: make([][8]uint32, n)}
}

// at returns h's block and the bits it sets there. Signed order of hashes
// is the order of their blocks.
func (f *hashFilter) at(h int64) (*[8]uint32, uint32) {
	u := uint64(h) ^ 1<<63
	i := (u >> 32) * uint64(len(f.blocks)) >> 32
	return &f.blocks[i], uint32((u * 0xbf58476d1ce4e5b9) >> 32)
}

func (f *hashFilter) add(h int64) {
	b, x := f.at(h)
	for i, s := range filterSalts {
		b[i] |= 1 << ((x * s) >> 27)
	}
}

// has reports whether h may have been added; false means it was not.
func (f *hashFilter) has(h int64) bool {
	b, x := f.at(h)
	for i, s := range filterSalts {
		if b[i]&(1<<((x*s)>>27)) == 0 {
			return false
		}
	}
	return true
}
