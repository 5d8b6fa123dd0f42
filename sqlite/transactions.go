package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// Write outcomes stored with a row: what the write of its file_id did.
const (
	outcomeInserted = 0
	outcomeUpdated  = 1
)

const txColumns = "transaction_id, amount, amount_minor, currency, ts, ts_ns, merchant, status, file_id, ingested_at, outcome"

// insertChunk is the most rows one INSERT statement carries (12 parameters
// a row). Smaller remainders use statements of half as many rows, down to
// 1, so a batch of any size needs a handful of prepared statements.
const insertChunk = 256

const insertCols = 13

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO transactions (gen, id_hash, " + txColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (gen, id_hash) DO NOTHING")
	return b.String()
}

const updateSQL = `UPDATE OR FAIL transactions SET amount = ?, amount_minor = ?, currency = ?, ts = ?, ts_ns = ?,
	merchant = ?, status = ?, file_id = ?, ingested_at = ?, outcome = ? WHERE seq = ?`

const storedColumns = "seq, transaction_id, amount, amount_minor, currency, ts, ts_ns, merchant, status, file_id, outcome, gen, id_hash"

// lookupSQL finds rows by (generation, id hash) pairs, a JSON array of
// two-element arrays.
const lookupSQL = `SELECT ` + storedColumns + ` FROM transactions
	WHERE (gen, id_hash) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))`

const lookupUnhashedSQL = `SELECT ` + storedColumns + ` FROM transactions WHERE id_hash IS NULL AND transaction_id = ?`

// idHash is the 64-bit FNV-1a hash of a transaction id, as a signed
// integer for SQLite.
func idHash(id string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int64(h)
}

// stored is what PutTransactions compares a written row with.
type stored struct {
	seq         int64
	id          string
	amount      string
	amountMinor int64
	currency    string
	ts, tsNS    int64
	merchant    string
	status      string
	fileID      string
	outcome     int
	gen         int64
	hash        sql.NullInt64
}

func scanStored(r interface{ Scan(...any) error }) (stored, error) {
	var s stored
	err := r.Scan(&s.seq, &s.id, &s.amount, &s.amountMinor, &s.currency, &s.ts, &s.tsNS, &s.merchant, &s.status, &s.fileID, &s.outcome, &s.gen, &s.hash)
	return s, err
}

// putRow is a transaction of a batch being written.
type putRow struct {
	t        *txpipe.Transaction
	hash     int64
	sec      int64
	nsec     int64
	ingested int64
}

// putStmts are the statements PutTransactions uses, prepared on the write
// connection.
type putStmts struct {
	insert         map[int]*sql.Stmt // by rows per statement
	update         *sql.Stmt
	lookup         *sql.Stmt
	lookupUnhashed *sql.Stmt
	maxSeq         *sql.Stmt
	volume         map[int]*sql.Stmt // by rows per statement, written at commit (see file.writeVolumes)
}

func (f *file) putStmts(ctx context.Context) (*putStmts, error) {
	f.mu.Lock()
	p := f.puts
	f.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := f.preparePutStmts(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.puts = p
	f.mu.Unlock()
	return p, nil
}

func (f *file) preparePutStmts(ctx context.Context) (*putStmts, error) {
	var p putStmts
	var err error
	p.insert = map[int]*sql.Stmt{}
	for n := insertChunk; n > 0; n /= 2 {
		if p.insert[n], err = f.stmt(ctx, insertSQL(n)); err != nil {
			return nil, err
		}
	}
	if p.update, err = f.stmt(ctx, updateSQL); err != nil {
		return nil, err
	}
	if p.lookup, err = f.stmt(ctx, lookupSQL); err != nil {
		return nil, err
	}
	if p.lookupUnhashed, err = f.stmt(ctx, lookupUnhashedSQL); err != nil {
		return nil, err
	}
	if p.maxSeq, err = f.stmt(ctx, `SELECT coalesce(max(seq), 0) FROM transactions`); err != nil {
		return nil, err
	}
	p.volume = map[int]*sql.Stmt{}
	for n := insertChunk; n > 0; n /= 2 {
		if p.volume[n], err = f.stmt(ctx, volumeRowsSQL(n)); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// PutTransactions upserts txs, all of one file, and counts what it did (see
// workflow.TransactionWriter).
//
// Rows are appended in insertion order, ids found through a small unique
// index of their 64-bit hash, spread over the shards by that hash, and
// group-committed rarely; unchanged rows are not written. Why, with the
// measurements: docs/sqlite-writes.md.
func (db *DB) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	var c txpipe.Counts
	if len(txs) == 0 {
		return c, nil
	}
	if len(txs) > workflow.MaxBatch {
		return c, txpipe.Errorf(txpipe.EINVALID, "batch of %d transactions, at most %d", len(txs), workflow.MaxBatch)
	}
	// A tenant's rows go to its own shards (tenants.go).
	if v, err := db.forTenant(ctx, txpipe.TenantOfFileID(txs[0].FileID), true); err != nil {
		return c, fmt.Errorf("write transactions of file %s: %w", txs[0].FileID, err)
	} else if v != db {
		return v.PutTransactions(ctx, txs)
	}
	now := db.now().UTC().UnixNano()
	rows := make([]putRow, len(txs))
	for i := range txs {
		t := &txs[i]
		r := putRow{t: t, hash: db.idHash(t.ID), sec: t.Timestamp.Unix(), nsec: int64(t.Timestamp.Nanosecond()), ingested: now}
		if !t.IngestedAt.IsZero() {
			r.ingested = t.IngestedAt.UnixNano()
		}
		rows[i] = r
	}
	slices.SortFunc(rows, func(a, b putRow) int {
		if a.hash != b.hash {
			return cmp.Compare(a.hash, b.hash)
		}
		return strings.Compare(a.t.ID, b.t.ID)
	})
	for i := 1; i < len(rows); i++ {
		if rows[i].t.ID == rows[i-1].t.ID {
			return c, txpipe.Errorf(txpipe.EINVALID, "transaction %q twice in one batch", rows[i].t.ID)
		}
	}
	fileID := txs[0].FileID
	if err := db.lost.check(fileID); err != nil {
		return c, err
	}
	// The rows of each shard, still sorted by hash.
	parts := make([][]putRow, len(db.shards))
	for i := range rows {
		k := db.shardOf(rows[i].hash)
		if parts[k] == nil {
			parts[k] = make([]putRow, 0, len(rows)/len(db.shards)+len(rows)/8+1)
		}
		parts[k] = append(parts[k], rows[i])
	}
	counts := make([]txpipe.Counts, len(db.shards))
	errs := make([]error, len(db.shards))
	var wg sync.WaitGroup
	for k := range parts {
		if len(parts[k]) == 0 {
			continue
		}
		wg.Go(func() { counts[k], errs[k] = db.shards[k].put(ctx, fileID, parts[k]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return txpipe.Counts{}, fmt.Errorf("write %d transactions of file %s: %w", len(rows), fileID, err)
	}
	for _, sc := range counts {
		c = c.Add(sc)
	}
	return c, nil
}

// shardOf is the shard of an id hash. The hash is mixed first: the low bits
// of FNV-1a depend on few bits of the id.
func (db *DB) shardOf(hash int64) int {
	return int((uint64(hash) * 0x9e3779b97f4a7c15 >> 32) % uint64(len(db.shards)))
}

// put upserts rows, sorted by hash, into the shard f, group-committed.
func (f *file) put(ctx context.Context, fileID string, rows []putRow) (txpipe.Counts, error) {
	var c txpipe.Counts
	// Statements are prepared before the write transaction takes the one
	// write connection.
	st, err := f.putStmts(ctx)
	if err != nil {
		return c, err
	}
	if fileID == "" {
		fileID = "(no file id)" // a deferred write names its file
	}
	err = f.update(ctx, fileID, len(rows), func(ctx context.Context, tx *sql.Tx) error {
		// Rows inserted by this batch get a seq above the largest before it,
		// and go to the generation that seq names (gens.go).
		var before int64
		if err := tx.StmtContext(ctx, st.maxSeq).QueryRowContext(ctx).Scan(&before); err != nil {
			return fmt.Errorf("read last seq: %w", err)
		}
		g := f.gens.open(f.gens.of(before))
		// A row whose hash an older generation's filter holds is looked up
		// there; the others are new unless g holds them, which its unique
		// index tells as they are inserted.
		cands, maybeOld := f.gens.named(g.n, rows)
		if err := f.gens.unseal(ctx, tx, g); err != nil {
			return err
		}
		if err := f.gens.seal(ctx, tx, g.n); err != nil {
			return err
		}
		lo, hi := rows[0].sec, rows[0].sec
		for i := range rows {
			g.filter.add(rows[i].hash)
			lo, hi = min(lo, rows[i].sec), max(hi, rows[i].sec)
		}
		if err := f.gens.widen(ctx, tx, g.n, lo, hi); err != nil {
			return err
		}
		all, err := insertNew(ctx, tx, st, rows, maybeOld, g.n)
		if err != nil {
			return err
		}
		if f.wvol == nil {
			f.wvol = volumeDelta{}
		}
		vol := f.wvol
		if all && len(cands) == 0 {
			c = txpipe.Counts{Inserted: int64(len(rows))}
			for i := range rows {
				vol.add(rows[i].sec, rows[i].t.Currency, 1, rows[i].t.AmountMinor)
			}
			return nil
		}
		// Rows insertNew tried are known inserted when it inserted all.
		known := make([]bool, len(rows))
		if all {
			for i := range rows {
				known[i] = !maybeOld[i]
			}
		}
		c, err = upsertRest(ctx, tx, st, rows, known, before, g.n, cands, f.gens, vol)
		return err
	})
	if err != nil {
		return txpipe.Counts{}, err
	}
	return c, nil
}

// insertNew inserts into generation gen the rows of the batch (sorted by
// hash) not marked skip whose hash gen does not hold yet, and reports
// whether it inserted every row it was given to try. Of rows sharing a
// hash, only the first is tried.
func insertNew(ctx context.Context, tx *sql.Tx, st *putStmts, rows []putRow, skip []bool, gen int64) (all bool, err error) {
	args := make([]any, 0, insertChunk*insertCols)
	pending := 0
	var tried, inserted, want int64
	flush := func(n int) error {
		res, err := tx.StmtContext(ctx, st.insert[n]).ExecContext(ctx, args[:n*insertCols]...)
		if err != nil {
			return fmt.Errorf("insert %d rows: %w", n, err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert %d rows: %w", n, err)
		}
		tried += int64(n)
		inserted += affected
		args = append(args[:0], args[n*insertCols:]...)
		pending -= n
		return nil
	}
	for i := range rows {
		if skip[i] {
			continue
		}
		want++
		if i > 0 && rows[i].hash == rows[i-1].hash {
			continue
		}
		r := &rows[i]
		t := r.t
		args = append(args, gen, r.hash, t.ID, t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeInserted)
		pending++
		if pending == insertChunk {
			if err := flush(insertChunk); err != nil {
				return false, err
			}
		}
	}
	for n := insertChunk / 2; pending > 0; n /= 2 {
		for pending >= n {
			if err := flush(n); err != nil {
				return false, err
			}
		}
	}
	return inserted == tried && tried == want, nil
}

// upsertRest finishes a batch some of whose rows are not known inserted
// (known): they are looked up in generation gen and in the older
// generations their hash may be in (cands: rows by generation); rows with a
// seq above before are the ones insertNew inserted, the others are compared
// and updated, or inserted now.
func upsertRest(ctx context.Context, tx *sql.Tx, st *putStmts, rows []putRow, known []bool, before, gen int64, cands map[int64][]int, gens *generations, vol volumeDelta) (txpipe.Counts, error) {
	var c txpipe.Counts
	have := map[string]stored{}
	taken := map[int64]bool{} // hashes stored, by whichever id
	// One query for the rows not known inserted, in generation gen, and
	// for the rows older generations' filters named, there.
	var pairs strings.Builder
	pairs.WriteByte('[')
	add := func(g int64, i int) {
		if pairs.Len() > 1 {
			pairs.WriteByte(',')
		}
		pairs.WriteByte('[')
		pairs.WriteString(strconv.FormatInt(g, 10))
		pairs.WriteByte(',')
		pairs.WriteString(strconv.FormatInt(rows[i].hash, 10))
		pairs.WriteByte(']')
	}
	for i := range rows {
		if !known[i] {
			add(gen, i)
		}
	}
	for g, idx := range cands {
		for _, i := range idx {
			add(g, i)
		}
	}
	pairs.WriteByte(']')
	q, err := tx.StmtContext(ctx, st.lookup).QueryContext(ctx, pairs.String())
	if err != nil {
		return c, fmt.Errorf("look up: %w", err)
	}
	for q.Next() {
		s, err := scanStored(q)
		if err != nil {
			q.Close()
			return c, fmt.Errorf("look up: %w", err)
		}
		have[s.id] = s
		taken[s.hash.Int64] = true
	}
	if err := q.Err(); err != nil {
		q.Close()
		return c, fmt.Errorf("look up: %w", err)
	}
	q.Close()

	for i := range rows {
		r := &rows[i]
		t := r.t
		if known[i] {
			c.Inserted++
			vol.add(r.sec, t.Currency, 1, t.AmountMinor)
			continue
		}
		s, ok := have[t.ID]
		if ok && s.seq > before {
			c.Inserted++ // by insertNew
			vol.add(r.sec, t.Currency, 1, t.AmountMinor)
			continue
		}
		if !ok && !taken[r.hash] {
			// Not stored, and its hash is free: an older generation's
			// filter named it in vain.
			res, err := tx.StmtContext(ctx, st.insert[1]).ExecContext(ctx,
				gen, r.hash, t.ID, t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeInserted)
			if err != nil {
				return c, fmt.Errorf("insert %s: %w", t.ID, err)
			}
			taken[r.hash] = true
			if n, err := res.RowsAffected(); err != nil {
				return c, fmt.Errorf("insert %s: %w", t.ID, err)
			} else if n == 1 {
				c.Inserted++
				vol.add(r.sec, t.Currency, 1, t.AmountMinor)
				continue
			}
		}
		if !ok {
			// The hash is another id's: look for the id among the rows
			// stored without a hash.
			var err error
			s, err = scanStored(tx.StmtContext(ctx, st.lookupUnhashed).QueryRowContext(ctx, t.ID))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.StmtContext(ctx, st.insert[1]).ExecContext(ctx,
					gen, nil, t.ID, t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeInserted); err != nil {
					return c, fmt.Errorf("insert %s: %w", t.ID, err)
				}
				c.Inserted++
				vol.add(r.sec, t.Currency, 1, t.AmountMinor)
				continue
			case err != nil:
				return c, fmt.Errorf("look up %s: %w", t.ID, err)
			}
		}
		same := s.amount == t.Amount && s.amountMinor == t.AmountMinor && s.currency == t.Currency &&
			s.ts == r.sec && s.tsNS == r.nsec && s.merchant == t.Merchant && s.status == t.Status
		switch {
		case same && s.fileID == t.FileID:
			// Written by this file before: report that write.
			if s.outcome == outcomeUpdated {
				c.Updated++
			} else {
				c.Inserted++
			}
			continue
		case same:
			c.Unchanged++
			continue
		}
		c.Updated++
		vol.add(s.ts, s.currency, -1, -s.amountMinor)
		vol.add(r.sec, t.Currency, 1, t.AmountMinor)
		// The row stays in its generation, whose time range now covers
		// its new timestamp.
		if err := gens.widen(ctx, tx, s.gen, r.sec, r.sec); err != nil {
			return c, err
		}
		if _, err := tx.StmtContext(ctx, st.update).ExecContext(ctx,
			t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeUpdated, s.seq); err != nil {
			return c, fmt.Errorf("update %s: %w", t.ID, err)
		}
	}
	return c, nil
}

// cursor is the position after the last row of a page.
type cursor struct {
	sec, nsec int64
	id        string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + strconv.FormatInt(c.sec, 10) + ":" + strconv.FormatInt(c.nsec, 10) + ":" + c.id))
}

func decodeCursor(s string) (cursor, error) {
	bad := txpipe.Errorf(txpipe.EINVALID, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.SplitN(string(b), ":", 4)
	if len(parts) != 4 || parts[0] != "1" || parts[3] == "" {
		return cursor{}, bad
	}
	sec, err1 := strconv.ParseInt(parts[1], 10, 64)
	nsec, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || nsec < 0 || nsec >= 1e9 {
		return cursor{}, bad
	}
	return cursor{sec: sec, nsec: nsec, id: parts[3]}, nil
}

// listArm reads one generation's rows of the range after the cursor, in the
// index's (time) order; listSQL merges arms (parameters ?10 on are their
// generations).
const listArm = `SELECT ` + txColumns + ` FROM transactions
	WHERE gen = ?%d AND (ts, ts_ns) >= (?1, ?2) AND (ts, ts_ns) < (?3, ?4) AND (ts, ts_ns, transaction_id) > (?5, ?6, ?7)
	AND (?8 = '' OR merchant = ?8) AND (?9 = '' OR currency = ?9)`

// maxArms is the most generations one query merges (SQLite's limit on a
// compound SELECT is 500), unless the shard's arms is set (by tests).
const maxArms = 256

// listSQL is the query of arms generations' rows merged by time: SQLite
// merges the ordered arms as coroutines, so it reads about as many rows as
// the caller steps, whichever generations hold them. The limit is a
// constant (the largest page and the row after it): SQLite plans for a
// bound LIMIT's value, so a statement bound to another page size than the
// last would be prepared again.
func listSQL(arms int) string {
	q := make([]string, arms)
	for i := range q {
		q[i] = fmt.Sprintf(listArm, 10+i)
	}
	return strings.Join(q, " UNION ALL ") + fmt.Sprintf(" ORDER BY ts, ts_ns, transaction_id LIMIT %d", txpipe.MaxTxLimit+1)
}

// ListTransactions returns the transactions with q.From <= timestamp <
// q.To, oldest first (ties by id), q.Limit at a time (100 when 0, at most
// 1000), from the position q.Cursor names. NextCursor is empty on the last
// page.
func (db *DB) ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	limit := q.PageSize()
	// The empty id sorts before every id, so the zero cursor starts at From.
	after := cursor{sec: q.From.Unix(), nsec: int64(q.From.Nanosecond())}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return txpipe.TxPage{}, err
		}
		after = c
	}
	// A tenant's rows are in its own shards (tenants.go).
	if v, err := db.forTenant(ctx, q.Tenant, false); err != nil || v == nil {
		return txpipe.TxPage{}, err
	} else if v != db {
		return v.ListTransactions(ctx, q)
	}
	if err := db.syncShards(); err != nil {
		return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
	}
	// The index range starts at the cursor, so a page costs the same at
	// any depth of the result.
	lo := cursor{sec: q.From.Unix(), nsec: int64(q.From.Nanosecond())}
	if after.sec > lo.sec || (after.sec == lo.sec && after.nsec > lo.nsec) {
		lo = after
	}
	// Each shard merges its generations that may hold rows of the range,
	// and the page is the first limit+1 rows of the shards' merge. The
	// shards read their expected share of the page at once, in parallel
	// (each row is a random table page); a shard whose share falls short
	// is read on, a row at a time, as the merge takes its rows. A query
	// takes its reader connections in shard order, before it uses any, so
	// concurrent queries cannot each hold one that another waits for.
	var streams []*shardRows
	defer func() {
		for _, r := range streams {
			r.close()
		}
	}()
	for _, s := range db.shards {
		gens, err := s.overlapping(ctx, lo.sec, q.To.Unix())
		if err != nil {
			return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
		}
		if len(gens) == 0 {
			continue
		}
		// Statements are prepared (on a connection of the pool) before the
		// query holds one.
		qs, err := s.listQueries(ctx, gens)
		if err != nil {
			return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
		}
		c, err := s.read.Conn(ctx)
		if err != nil {
			return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", translate(err))
		}
		streams = append(streams, &shardRows{conn: c, qs: qs})
	}
	if len(streams) > 0 {
		share := (limit + len(streams)) / len(streams)
		var wg sync.WaitGroup
		for _, r := range streams[1:] {
			wg.Go(func() { r.err = r.start(ctx, lo, after, q, limit+1, share) })
		}
		streams[0].err = streams[0].start(ctx, lo, after, q, limit+1, share)
		wg.Wait()
		for _, r := range streams {
			if r.err != nil {
				return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", r.err)
			}
		}
	}
	var page txpipe.TxPage
	for len(page.Items) <= limit {
		best := -1
		for k, r := range streams {
			if err := r.fill(); err != nil {
				return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
			}
			if len(r.cur) > 0 && (best < 0 || compareTx(&r.cur[0], &streams[best].cur[0]) < 0) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		page.Items = append(page.Items, streams[best].cur[0])
		streams[best].cur = streams[best].cur[1:]
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = cursor{sec: last.Timestamp.Unix(), nsec: int64(last.Timestamp.Nanosecond()), id: last.ID}.encode()
	}
	return page, nil
}

// shardRows is a shard's rows of a page in time order: cur, read already,
// then those of rows, if still open.
type shardRows struct {
	conn *sql.Conn
	qs   []listQuery
	tx   *sql.Tx
	rows *sql.Rows
	cur  []txpipe.Transaction
	err  error // of start
}

// start reads the first share of the first n transactions of the shard
// that pass q's filters after the cursor after, from lo (the larger of the
// cursor and the range's start) to before q.To, in a read transaction on
// r.conn, and leaves the query open for the rest; with more than one query
// (more generations than one merges), it reads each whole in turn and
// merges them.
func (r *shardRows) start(ctx context.Context, lo, after cursor, q txpipe.TxQuery, n, share int) error {
	// The transaction runs the statements prepared on the pool on conn.
	tx, err := r.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return translate(err)
	}
	r.tx = tx
	if len(r.qs) == 1 {
		if r.rows, err = list(ctx, tx, r.qs[0], lo, after, q); err != nil {
			return err
		}
		r.cur = make([]txpipe.Transaction, 0, share)
		for len(r.cur) < share {
			t, ok, err := r.next()
			if err != nil || !ok {
				return err
			}
			r.cur = append(r.cur, t)
		}
		return nil
	}
	var lists [][]txpipe.Transaction
	for _, lq := range r.qs {
		rows, err := list(ctx, tx, lq, lo, after, q)
		if err != nil {
			return err
		}
		var l []txpipe.Transaction
		for len(l) < n && rows.Next() {
			t, err := scanTx(rows)
			if err != nil {
				rows.Close()
				return err
			}
			l = append(l, t)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return translate(err)
		}
		lists = append(lists, l)
	}
	for len(r.cur) < n {
		best := -1
		for k, l := range lists {
			if len(l) > 0 && (best < 0 || compareTx(&l[0], &lists[best][0]) < 0) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		r.cur = append(r.cur, lists[best][0])
		lists[best] = lists[best][1:]
	}
	return nil
}

// next reads the next row of r.rows, closing it after the last.
func (r *shardRows) next() (txpipe.Transaction, bool, error) {
	if r.rows == nil {
		return txpipe.Transaction{}, false, nil
	}
	if !r.rows.Next() {
		err := r.rows.Err()
		r.rows.Close()
		r.rows = nil
		return txpipe.Transaction{}, false, translate(err)
	}
	t, err := scanTx(r.rows)
	return t, err == nil, err
}

// fill reads the next row into cur when cur is empty.
func (r *shardRows) fill() error {
	if len(r.cur) > 0 {
		return nil
	}
	t, ok, err := r.next()
	if ok {
		r.cur = append(r.cur[:0], t)
	}
	return err
}

// close ends the read and gives the connection back.
func (r *shardRows) close() {
	if r.rows != nil {
		r.rows.Close()
	}
	if r.tx != nil {
		r.tx.Rollback()
	}
	r.conn.Close()
}

// listQuery is a transactions query of a shard: the statement merging
// len(gens) generations or more (padded), and the generations.
type listQuery struct {
	st   *sql.Stmt
	gens []int64
}

// arms is the number of generations lq's statement merges.
func (lq listQuery) arms() int {
	arms := 1
	for arms < len(lq.gens) {
		arms *= 2
	}
	return arms
}

// listQueries returns the queries that merge generations gens of shard f:
// one, or several when there are more than one merges.
func (f *file) listQueries(ctx context.Context, gens []int64) ([]listQuery, error) {
	most := cmp.Or(f.arms, maxArms)
	var qs []listQuery
	for len(gens) > 0 {
		g := gens[:min(len(gens), most)]
		gens = gens[len(g):]
		// The arms are padded to a power of two, so that few statements
		// are prepared.
		lq := listQuery{gens: g}
		st, err := f.listStmt(ctx, lq.arms())
		if err != nil {
			return nil, err
		}
		lq.st = st
		qs = append(qs, lq)
	}
	return qs, nil
}

// list runs query lq in tx: the transactions of its generations that pass
// q's filters after the cursor after, from lo to before q.To, in time
// order (at most a page and a row: the caller reads as many as it needs).
func list(ctx context.Context, tx *sql.Tx, lq listQuery, lo, after cursor, q txpipe.TxQuery) (*sql.Rows, error) {
	args := []any{lo.sec, lo.nsec, q.To.Unix(), q.To.Nanosecond(), after.sec, after.nsec, after.id, q.Merchant, q.Currency}
	// Padding arms ask for generation -1, which holds no rows.
	for len(args) < 9+lq.arms() {
		g := int64(-1)
		if i := len(args) - 9; i < len(lq.gens) {
			g = lq.gens[i]
		}
		args = append(args, g)
	}
	rows, err := tx.StmtContext(ctx, lq.st).QueryContext(ctx, args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows, nil
}

// scanTx reads a transaction from the current row of a list query.
func scanTx(rows *sql.Rows) (txpipe.Transaction, error) {
	var t txpipe.Transaction
	var sec, nsec, ingested int64
	var outcome int
	if err := rows.Scan(&t.ID, &t.Amount, &t.AmountMinor, &t.Currency, &sec, &nsec, &t.Merchant, &t.Status, &t.FileID, &ingested, &outcome); err != nil {
		return t, translate(err)
	}
	t.Timestamp = time.Unix(sec, nsec).UTC()
	t.IngestedAt = time.Unix(0, ingested).UTC()
	return t, nil
}

// listStmt returns the prepared transactions query merging arms
// generations.
func (f *file) listStmt(ctx context.Context, arms int) (*sql.Stmt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "database %s is closed", f.path)
	}
	if st, ok := f.listStmts[arms]; ok {
		return st, nil
	}
	st, err := f.read.PrepareContext(ctx, listSQL(arms))
	if err != nil {
		return nil, translate(err)
	}
	f.listStmts[arms] = st
	return st, nil
}

// compareTx orders transactions as the query does: by timestamp, then id.
func compareTx(a, b *txpipe.Transaction) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
