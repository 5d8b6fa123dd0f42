package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/iso4217"
)

// volumeKey is a UTC day (days since 1970-01-01) and a currency.
type volumeKey struct {
	day      int64
	currency string
}

// volumeDelta is what a batch changes in the volumes table: rows and
// amount in minor units per day and currency.
type volumeDelta map[volumeKey]*[2]int64

// dayOf is the day number of a Unix time in seconds.
func dayOf(sec int64) int64 {
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return d
}

func (v volumeDelta) add(sec int64, currency string, rows, amountMinor int64) {
	k := volumeKey{dayOf(sec), currency}
	d := v[k]
	if d == nil {
		d = new([2]int64)
		v[k] = d
	}
	d[0] += rows
	d[1] += amountMinor
}

const volumeSQL = `INSERT INTO volumes (day, currency, rows, amount_minor) VALUES (?, ?, ?, ?)
	ON CONFLICT (day, currency) DO UPDATE SET rows = rows + excluded.rows, amount_minor = amount_minor + excluded.amount_minor`

// writeVolumes applies vol, what the rows written in tx change, in tx just
// before it commits. A batch's rows have random timestamps and currencies:
// written with each batch, the aggregate cost an upsert for nearly every
// row (11% of serve's CPU); summed over the whole write transaction it
// costs one per day and currency it touched.
func (f *file) writeVolumes(tx *sql.Tx, vol volumeDelta) error {
	if len(vol) == 0 {
		return nil
	}
	// The statement was prepared by the put that began vol: preparing one
	// now would wait for the write connection tx holds.
	f.mu.Lock()
	p := f.puts
	f.mu.Unlock()
	if p == nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "volumes of %s: statements not prepared", f.path)
	}
	return vol.write(context.Background(), tx, p.volume)
}

// volumeRowsSQL is volumeSQL for rows days and currencies at once.
func volumeRowsSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO volumes (day, currency, rows, amount_minor) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (day, currency) DO UPDATE SET rows = rows + excluded.rows, amount_minor = amount_minor + excluded.amount_minor")
	return b.String()
}

// write applies the delta in tx, the write transaction of the rows it
// counts, in key order, insertChunk days and currencies a statement
// (stmts: volumeRowsSQL by rows, as putStmts.insert). A commit touches a
// few thousand days and currencies; a statement each cost 6-7.5% of serve's
// CPU end to end (docs/performance.md, "Fifth round").
func (v volumeDelta) write(ctx context.Context, tx *sql.Tx, stmts map[int]*sql.Stmt) error {
	keys := make([]volumeKey, 0, len(v))
	for k, d := range v {
		if d[0] != 0 || d[1] != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b volumeKey) int {
		if c := cmp.Compare(a.day, b.day); c != 0 {
			return c
		}
		return strings.Compare(a.currency, b.currency)
	})
	args := make([]any, 0, 4*min(len(keys), insertChunk))
	for len(keys) > 0 {
		n := insertChunk
		for n > len(keys) {
			n /= 2
		}
		args = args[:0]
		for _, k := range keys[:n] {
			d := v[k]
			args = append(args, k.day, k.currency, d[0], d[1])
		}
		if _, err := tx.StmtContext(ctx, stmts[n]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("update volumes of %d days and currencies: %w", n, err)
		}
		keys = keys[n:]
	}
	return nil
}

// MaxVolumeDays is the longest range GET /volumes answers.
const MaxVolumeDays = 366 * 5

// Volumes returns the rows and amount per UTC day and currency of the
// transactions with from <= day < to (from and to are UTC midnights),
// ordered by day then currency. It reads the volumes table that
// PutTransactions keeps, never the transactions.
func (db *DB) Volumes(ctx context.Context, from, to time.Time) ([]txpipe.Volume, error) {
	lo, hi := dayOf(from.Unix()), dayOf(to.Unix())
	if err := db.syncShards(); err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	sums := map[volumeKey]*[2]int64{}
	var mu sync.Mutex
	errs := make([]error, len(db.shards))
	var wg sync.WaitGroup
	for k, s := range db.shards {
		wg.Go(func() {
			rows, err := s.read.QueryContext(ctx, `SELECT day, currency, rows, amount_minor FROM volumes WHERE day >= ? AND day < ? AND rows != 0`, lo, hi)
			if err != nil {
				errs[k] = translate(err)
				return
			}
			defer rows.Close()
			for rows.Next() {
				var key volumeKey
				var n, amount int64
				if err := rows.Scan(&key.day, &key.currency, &n, &amount); err != nil {
					errs[k] = translate(err)
					return
				}
				mu.Lock()
				d := sums[key]
				if d == nil {
					d = new([2]int64)
					sums[key] = d
				}
				d[0] += n
				d[1] += amount
				mu.Unlock()
			}
			errs[k] = translate(rows.Err())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	out := make([]txpipe.Volume, 0, len(sums))
	for k, d := range sums {
		out = append(out, txpipe.Volume{
			Day: time.Unix(k.day*86400, 0).UTC().Format(time.DateOnly), Currency: k.currency,
			Rows: d[0], AmountMinor: d[1], Amount: FormatMinor(d[1], k.currency),
		})
	}
	slices.SortFunc(out, func(a, b txpipe.Volume) int {
		if c := strings.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return out, nil
}

// FormatMinor writes an amount in minor units as a decimal with the
// currency's minor-unit digits (12345 USD is "123.45").
func FormatMinor(minor int64, currency string) string { return iso4217.FormatMinor(minor, currency) }
