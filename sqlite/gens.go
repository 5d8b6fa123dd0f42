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
// one index lookup in that generation (a page read: the older generations'
// index parts are not in the writer's cache), and a new id is checked
// against every older generation (0.016% each at 24 bits, 0.134% at 16;
// docs/sqlite-writes.md, "Generations").
const filterBitsPerKey = 24

// generation is what a shard keeps in memory about one generation: a
// filter of the id hashes stored in it and the range of their timestamps.
// Both may hold more than the generation (a write rolled back): never less.
type generation struct {
	n            int64
	persisted    bool // sealed: its row in the generations table is current
	filter       *hashFilter
	minTS, maxTS int64 // Unix seconds; minTS > maxTS while empty
}

// generations is the shard writer's list of generations, oldest first:
// loaded by Open, then used and changed only by the writer, under the
// file's wmu. Queries read the generations from the file
// (file.overlapping).
type generations struct {
	bits   int // genBits
	list   []*generation
	groups []*filterGroup // the filters of the generations of capacity() rows
}

// loadGenerations reads the generations of the shard on conn (the write
// connection, before any write): a sealed generation from its row in the
// generations table, any other from its rows (its id hashes into its
// filter, and its time range); generations read from their rows that are
// sealed are then written to the table, so the next open reads them fast.
func loadGenerations(ctx context.Context, conn *sql.DB, bits int) (*generations, error) {
	gs := &generations{bits: bits}
	type savedRow struct {
		minTS, maxTS int64
		filter       []byte
	}
	saved := map[int64]savedRow{}
	rows, err := conn.QueryContext(ctx, `SELECT gen, min_ts, max_ts, filter FROM generations`)
	if err != nil {
		return nil, fmt.Errorf("read generations: %w", translate(err))
	}
	for rows.Next() {
		var n int64
		var r savedRow
		if err := rows.Scan(&n, &r.minTS, &r.maxTS, &r.filter); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read generations: %w", translate(err))
		}
		saved[n] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read generations: %w", translate(err))
	}
	rows.Close()
	// The generations of the rows, one index seek each.
	for n := int64(math.MinInt64); ; {
		err := conn.QueryRowContext(ctx, `SELECT gen FROM transactions WHERE gen > ? ORDER BY gen LIMIT 1`, n).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read generations: %w", translate(err))
		}
		if r, ok := saved[n]; ok {
			g := &generation{n: n, persisted: true, minTS: r.minTS, maxTS: r.maxTS}
			if g.filter, err = gs.decodeFilter(g, r.filter); err != nil {
				return nil, fmt.Errorf("read generation %d: %w", n, err)
			}
			gs.list = append(gs.list, g)
			continue
		}
		g, err := gs.readGeneration(ctx, conn, n)
		if err != nil {
			return nil, err
		}
		gs.list = append(gs.list, g)
	}
	// Seal what was read from rows, but the newest.
	if k := len(gs.list); k > 1 {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("seal generations: %w", translate(err))
		}
		if err := gs.seal(ctx, tx, gs.list[k-1].n); err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("seal generations: %w", translate(err))
		}
	}
	return gs, nil
}

// readGeneration reads generation n from its rows.
func (gs *generations) readGeneration(ctx context.Context, conn *sql.DB, n int64) (*generation, error) {
	var count int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM transactions WHERE gen = ?`, n).Scan(&count); err != nil {
		return nil, fmt.Errorf("read generation %d: %w", n, translate(err))
	}
	g := &generation{n: n, minTS: math.MaxInt64, maxTS: math.MinInt64}
	if count <= gs.capacity() {
		g.filter = gs.newFilter(g)
	} else {
		g.filter = newHashFilter(count) // generation 0 of a migrated store
	}
	rows, err := conn.QueryContext(ctx, `SELECT id_hash FROM transactions WHERE gen = ? AND id_hash IS NOT NULL`, n)
	if err != nil {
		return nil, fmt.Errorf("read generation %d: %w", n, translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("read generation %d: %w", n, translate(err))
		}
		g.filter.add(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read generation %d: %w", n, translate(err))
	}
	var lo, hi sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT min(ts) FROM transactions WHERE gen = ?`, n).Scan(&lo); err != nil {
		return nil, fmt.Errorf("read the time range of generation %d: %w", n, translate(err))
	}
	if err := conn.QueryRowContext(ctx, `SELECT max(ts) FROM transactions WHERE gen = ?`, n).Scan(&hi); err != nil {
		return nil, fmt.Errorf("read the time range of generation %d: %w", n, translate(err))
	}
	if lo.Valid && hi.Valid {
		g.minTS, g.maxTS = lo.Int64, hi.Int64
	}
	return g, nil
}

// seal writes, in tx, the generations older than n that are not written
// yet. The writer calls it for the generation it writes into: no row will
// go to an older one again (seqs only grow), so their filters are final.
func (gs *generations) seal(ctx context.Context, tx *sql.Tx, n int64) error {
	for _, g := range gs.list {
		if g.n >= n || g.persisted {
			continue
		}
		lo, hi := g.minTS, g.maxTS
		if lo > hi {
			lo, hi = 0, -1
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO generations (gen, min_ts, max_ts, filter) VALUES (?, ?, ?, ?)`,
			g.n, lo, hi, g.filter.encode()); err != nil {
			return fmt.Errorf("seal generation %d: %w", g.n, err)
		}
		g.persisted = true
	}
	return nil
}

// unseal drops the row of generation g, which the writer is about to
// insert into (after a rollback took back the rows of a newer one), so a
// later open reads it from its rows.
func (gs *generations) unseal(ctx context.Context, tx *sql.Tx, g *generation) error {
	if !g.persisted {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM generations WHERE gen = ?`, g.n); err != nil {
		return fmt.Errorf("unseal generation %d: %w", g.n, err)
	}
	g.persisted = false
	return nil
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
	bits := genBits
	if f.gens != nil {
		bits = f.gens.bits
	}
	gs, err := loadGenerations(ctx, f.write, bits)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.path, err)
	}
	f.gens = gs
	if f.genList == nil {
		f.listStmts = map[int]*sql.Stmt{}
		db, err := sql.Open("sqlite", dsn(f.path, genListCacheKiB, ""))
		if err != nil {
			return fmt.Errorf("open %s: %w", f.path, err)
		}
		db.SetMaxOpenConns(1)
		f.genList = &genList{db: db}
	}
	return nil
}

// capacity is the most rows a generation made by batches holds: its
// 2^bits seqs, and the batch that starts at its last one.
func (gs *generations) capacity() int { return 1<<gs.bits + workflow.MaxBatch }

// of returns the generation of the rows of a batch written after the row
// with seq before.
func (gs *generations) of(before int64) int64 { return before >> gs.bits }

// find returns the index of generation n in the list, or where it goes.
func (gs *generations) find(n int64) (int, bool) {
	return slices.BinarySearchFunc(gs.list, n, func(g *generation, n int64) int { return cmp.Compare(g.n, n) })
}

// open returns generation n, adding it (empty) if it is new.
func (gs *generations) open(n int64) *generation {
	if k := len(gs.list); k > 0 && gs.list[k-1].n == n {
		return gs.list[k-1]
	}
	i, found := gs.find(n)
	if found {
		return gs.list[i]
	}
	g := &generation{n: n, minTS: math.MaxInt64, maxTS: math.MinInt64}
	g.filter = gs.newFilter(g)
	gs.list = slices.Insert(gs.list, i, g)
	return g
}

// widen extends generation n's time range to include [lo, hi], in its
// row too (in tx) if it is sealed.
func (gs *generations) widen(ctx context.Context, tx *sql.Tx, n, lo, hi int64) error {
	i, found := gs.find(n)
	if !found {
		return fmt.Errorf("generation %d of a stored row is not loaded", n)
	}
	g := gs.list[i]
	if lo >= g.minTS && hi <= g.maxTS {
		return nil
	}
	g.minTS, g.maxTS = min(g.minTS, lo), max(g.maxTS, hi)
	if !g.persisted {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE generations SET min_ts = min(min_ts, ?), max_ts = max(max_ts, ?) WHERE gen = ?`, lo, hi, n); err != nil {
		return fmt.Errorf("widen generation %d: %w", n, err)
	}
	return nil
}

// gensSQL lists a shard's generations, one index seek each, with the time
// range of those that are sealed (NULL for the others).
const gensSQL = `WITH RECURSIVE g(n) AS (
		SELECT min(gen) FROM transactions
		UNION ALL SELECT (SELECT min(gen) FROM transactions WHERE gen > g.n) FROM g WHERE g.n IS NOT NULL)
	SELECT g.n, s.min_ts, s.max_ts FROM g LEFT JOIN generations s ON s.gen = g.n WHERE g.n IS NOT NULL`

// overlapping returns the generations of shard f that may hold rows with
// from <= ts <= to (Unix seconds), as committed: read from the file, not
// from the writer's memory, so another process's database handle sees the
// generations this one's writer made. An unsealed generation's time range
// is not stored: it may hold any.
func (f *file) overlapping(ctx context.Context, from, to int64) ([]int64, error) {
	list, err := f.genList.get(ctx)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, g := range list {
		if !g.lo.Valid || (g.lo.Int64 <= to && g.hi.Int64 >= from) {
			out = append(out, g.n)
		}
	}
	return out, nil
}

// genList is a shard's list of generations as its file holds them, kept
// until a commit: it is read again (a recursive skip-scan of an index, a
// seek a generation) only when PRAGMA data_version, on a connection of its
// own, says that another connection (this process's writer or any other)
// committed since.
type genList struct {
	mu      sync.Mutex
	db      *sql.DB // one connection
	conn    *sql.Conn
	version int64
	list    []genRange // nil: not read
}

// genRange is a generation and, if it is sealed, its time range.
type genRange struct {
	n      int64
	lo, hi sql.NullInt64
}

func (l *genList) get(ctx context.Context) ([]genRange, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		c, err := l.db.Conn(ctx)
		if err != nil {
			return nil, translate(err)
		}
		l.conn, l.list = c, nil
	}
	var v int64
	if err := l.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		l.reset()
		return nil, translate(err)
	}
	if l.list != nil && v == l.version {
		return l.list, nil
	}
	rows, err := l.conn.QueryContext(ctx, gensSQL)
	if err != nil {
		l.reset()
		return nil, translate(err)
	}
	defer rows.Close()
	list := []genRange{}
	for rows.Next() {
		var g genRange
		if err := rows.Scan(&g.n, &g.lo, &g.hi); err != nil {
			l.reset()
			return nil, translate(err)
		}
		list = append(list, g)
	}
	if err := rows.Err(); err != nil {
		l.reset()
		return nil, translate(err)
	}
	l.list, l.version = list, v
	return list, nil
}

// reset drops the connection (and with it the list) after an error.
func (l *genList) reset() {
	if l.conn != nil {
		l.conn.Close()
	}
	l.conn, l.list = nil, nil
}

func (l *genList) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reset()
	return l.db.Close()
}
