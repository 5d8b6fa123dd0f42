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

const insertCols = 12

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO transactions (id_hash, " + txColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (id_hash) DO NOTHING")
	return b.String()
}

const updateSQL = `UPDATE OR FAIL transactions SET amount = ?, amount_minor = ?, currency = ?, ts = ?, ts_ns = ?,
	merchant = ?, status = ?, file_id = ?, ingested_at = ?, outcome = ? WHERE seq = ?`

const storedColumns = "seq, transaction_id, amount, amount_minor, currency, ts, ts_ns, merchant, status, file_id, outcome"

const lookupSQL = `SELECT ` + storedColumns + ` FROM transactions WHERE id_hash IN (SELECT value FROM json_each(?))`

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
}

func scanStored(r interface{ Scan(...any) error }) (stored, error) {
	var s stored
	err := r.Scan(&s.seq, &s.id, &s.amount, &s.amountMinor, &s.currency, &s.ts, &s.tsNS, &s.merchant, &s.status, &s.fileID, &s.outcome)
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
	volume         *sql.Stmt // written at commit (see file.writeVolumes)
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
	if p.volume, err = f.stmt(ctx, volumeSQL); err != nil {
		return nil, err
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
		// Rows inserted by this batch get a seq above the largest before it.
		var before int64
		if err := tx.StmtContext(ctx, st.maxSeq).QueryRowContext(ctx).Scan(&before); err != nil {
			return fmt.Errorf("read last seq: %w", err)
		}
		all, err := insertNew(ctx, tx, st, rows)
		if err != nil {
			return err
		}
		if f.wvol == nil {
			f.wvol = volumeDelta{}
		}
		vol := f.wvol
		if all {
			c = txpipe.Counts{Inserted: int64(len(rows))}
			for i := range rows {
				vol.add(rows[i].sec, rows[i].t.Currency, 1, rows[i].t.AmountMinor)
			}
		} else if c, err = upsertRest(ctx, tx, st, rows, before, vol); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return txpipe.Counts{}, err
	}
	return c, nil
}

// insertNew inserts the rows of the batch (sorted by hash) whose hash is
// not stored yet, and reports whether it inserted all it tried. Of rows
// sharing a hash, only the first is tried.
func insertNew(ctx context.Context, tx *sql.Tx, st *putStmts, rows []putRow) (all bool, err error) {
	args := make([]any, 0, insertChunk*insertCols)
	pending := 0
	var tried, inserted int64
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
		if i > 0 && rows[i].hash == rows[i-1].hash {
			continue
		}
		r := &rows[i]
		t := r.t
		args = append(args, r.hash, t.ID, t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeInserted)
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
	return inserted == tried && tried == int64(len(rows)), nil
}

// upsertRest finishes a batch some of whose rows insertNew did not insert
// (stored before, or their hash is another id's): rows with a seq above
// before are the ones it inserted; the others are compared and updated.
func upsertRest(ctx context.Context, tx *sql.Tx, st *putStmts, rows []putRow, before int64, vol volumeDelta) (txpipe.Counts, error) {
	var c txpipe.Counts
	var hashes strings.Builder
	hashes.WriteByte('[')
	for i := range rows {
		if i > 0 {
			hashes.WriteByte(',')
		}
		hashes.WriteString(strconv.FormatInt(rows[i].hash, 10))
	}
	hashes.WriteByte(']')
	have := make(map[string]stored, len(rows))
	q, err := tx.StmtContext(ctx, st.lookup).QueryContext(ctx, hashes.String())
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
	}
	if err := q.Err(); err != nil {
		return c, fmt.Errorf("look up: %w", err)
	}
	q.Close()

	for i := range rows {
		r := &rows[i]
		t := r.t
		s, ok := have[t.ID]
		if ok && s.seq > before {
			c.Inserted++ // by insertNew
			vol.add(r.sec, t.Currency, 1, t.AmountMinor)
			continue
		}
		if !ok {
			// The hash is another id's: look for the id among the rows
			// stored without a hash.
			s, err = scanStored(tx.StmtContext(ctx, st.lookupUnhashed).QueryRowContext(ctx, t.ID))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.StmtContext(ctx, st.insert[1]).ExecContext(ctx,
					nil, t.ID, t.Amount, t.AmountMinor, t.Currency, r.sec, r.nsec, t.Merchant, t.Status, t.FileID, r.ingested, outcomeInserted); err != nil {
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

const listSQL = `SELECT ` + txColumns + ` FROM transactions
	WHERE (ts, ts_ns) >= (?, ?) AND (ts, ts_ns) < (?, ?) AND (ts, ts_ns, transaction_id) > (?, ?, ?)
	AND (? = '' OR merchant = ?) AND (? = '' OR currency = ?)
	ORDER BY ts, ts_ns, transaction_id LIMIT ?`

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
	// The shards answer in parallel, each with its first rows after the
	// cursor; the page is the first limit+1 of their merge. Ids are spread
	// evenly over the shards, so each is first asked for a little more than
	// its share; a shard that had more rows than it was asked for bounds
	// what the merge knows, and is asked again for limit+1 if the page goes
	// past that bound.
	n := len(db.shards)
	share := (limit+1)/n + (limit+1)/(4*n) + 64
	if share > limit+1 || n == 1 {
		share = limit + 1
	}
	parts := make([][]txpipe.Transaction, n)
	asked := make([]int, n)
	for k := range asked {
		asked[k] = share
	}
	for {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for k, s := range db.shards {
			if parts[k] != nil {
				continue
			}
			wg.Go(func() {
				parts[k], errs[k] = s.list(ctx, lo, after, q, asked[k])
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
		}
		items := mergeByTime(slices.Clone(parts), limit+1)
		again := false
		if len(items) > 0 {
			last := &items[len(items)-1]
			for k := range parts {
				// A shard that returned all it was asked for may have rows
				// before the page's last one that it did not return.
				if asked[k] <= limit && len(parts[k]) == asked[k] && compareTx(&parts[k][len(parts[k])-1], last) < 0 {
					parts[k], asked[k], again = nil, limit+1, true
				}
			}
			if !again && len(items) < limit+1 {
				for k := range parts {
					if asked[k] <= limit && len(parts[k]) == asked[k] {
						parts[k], asked[k], again = nil, limit+1, true
					}
				}
			}
		}
		if again {
			continue
		}
		page := txpipe.TxPage{Items: items}
		if len(page.Items) > limit {
			page.Items = page.Items[:limit]
			last := page.Items[limit-1]
			page.NextCursor = cursor{sec: last.Timestamp.Unix(), nsec: int64(last.Timestamp.Nanosecond()), id: last.ID}.encode()
		}
		return page, nil
	}
}

// list returns shard f's first n transactions that pass q's filters after
// the cursor after, from lo (the larger of the cursor and the range's
// start) to before q.To.
func (f *file) list(ctx context.Context, lo, after cursor, q txpipe.TxQuery, n int) ([]txpipe.Transaction, error) {
	rows, err := f.read.QueryContext(ctx, listSQL,
		lo.sec, lo.nsec, q.To.Unix(), q.To.Nanosecond(),
		after.sec, after.nsec, after.id, q.Merchant, q.Merchant, q.Currency, q.Currency, n)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	items := make([]txpipe.Transaction, 0, min(n, 128))
	for rows.Next() {
		var t txpipe.Transaction
		var sec, nsec, ingested int64
		var outcome int
		if err := rows.Scan(&t.ID, &t.Amount, &t.AmountMinor, &t.Currency, &sec, &nsec, &t.Merchant, &t.Status, &t.FileID, &ingested, &outcome); err != nil {
			return nil, translate(err)
		}
		t.Timestamp = time.Unix(sec, nsec).UTC()
		t.IngestedAt = time.Unix(0, ingested).UTC()
		items = append(items, t)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return items, nil
}

// compareTx orders transactions as the query does: by timestamp, then id.
func compareTx(a, b *txpipe.Transaction) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// mergeByTime merges lists sorted by compareTx into the first n of their
// union. An id is in one shard only, so no two items are equal.
func mergeByTime(lists [][]txpipe.Transaction, n int) []txpipe.Transaction {
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	out := make([]txpipe.Transaction, 0, min(n, total))
	for len(out) < n {
		best := -1
		for k, l := range lists {
			if len(l) > 0 && (best < 0 || compareTx(&l[0], &lists[best][0]) < 0) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		out = append(out, lists[best][0])
		lists[best] = lists[best][1:]
	}
	return out
}
