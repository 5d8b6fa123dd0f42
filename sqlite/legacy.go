package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Layouts of older data dirs, and how Open brings each to the current one
// (each is tested with a data dir the old code made, testdata/legacy):
//
//   - Before the shards (main file at user_version 1, no shard files), the
//     transactions were in the main file's transactions table: in its first
//     version with NOT NULL columns and a non-unique id_hash index, then
//     with nullable columns, a unique id_hash index and NULL hashes for
//     collisions. moveLegacyRows moves them into the shards.
//   - Shards before the volumes table (shard user_version 1) and a main file
//     before profiles, the console's tables and the webhook outbox (main
//     user_version 2 to 4): the numbered migrations add what is missing
//     (0002_volumes sums the rows stored).
//
// Each file's schema version is its PRAGMA user_version: the number of its
// last migration applied (SchemaVersion).

// legacyBatch is the rows moved per shard write transaction.
const legacyBatch = 5000

// moveLegacyRows moves the transactions a database made before the shards
// holds in its main file into the shards, exactly: each row keeps its id,
// values, file_id, outcome and ingested_at, goes to the shard its id's hash
// picks, in its old insertion order, and adds to that shard's volumes in
// the same write transaction. The main file's table is dropped once every
// row is in a committed shard transaction. A move interrupted by a crash
// is resumed by the next Open: rows already in their shard are skipped.
func (db *DB) moveLegacyRows(ctx context.Context) error {
	var tables int
	if err := db.main.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'transactions'`).Scan(&tables); err != nil {
		return fmt.Errorf("look for transactions in %s: %w", db.path, translate(err))
	}
	if tables == 0 {
		return nil
	}
	start := time.Now()
	var moved, present int64
	var after int64 = -1 << 63
	for {
		rows, last, err := db.readLegacyRows(ctx, after)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		after = last
		parts := make([][]legacyRow, len(db.shards))
		for _, r := range rows {
			k := db.shardOf(db.idHash(r.id))
			parts[k] = append(parts[k], r)
		}
		for k, part := range parts {
			if len(part) == 0 {
				continue
			}
			m, p, err := db.shards[k].insertLegacy(ctx, db.idHash, part)
			if err != nil {
				return fmt.Errorf("move transactions of %s into %s: %w", db.path, db.shards[k].path, err)
			}
			moved, present = moved+m, present+p
		}
	}
	// Every row is in a committed shard transaction: the old table goes.
	err := db.main.update(ctx, "", 0, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DROP TABLE transactions`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('legacy_rows_moved', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, strconv.FormatInt(moved+present, 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("drop the moved transactions table of %s: %w", db.path, err)
	}
	db.logger.Info("sqlite: moved the transactions of a database made before shards into its shards",
		"path", db.path, "rows", moved+present, "already_moved", present, "seconds", time.Since(start).Seconds())
	return nil
}

// legacyRow is a row of the main file's old transactions table.
type legacyRow struct {
	id                                 string
	amount, currency, merchant, status string
	fileID                             string
	amountMinor, ts, tsNS, ingested    int64
	outcome                            int64
}

// readLegacyRows returns the next legacyBatch rows of the old table after
// seq after, in insertion order, and the last one's seq.
func (db *DB) readLegacyRows(ctx context.Context, after int64) ([]legacyRow, int64, error) {
	rs, err := db.main.read.QueryContext(ctx, `SELECT seq, transaction_id, amount, amount_minor, currency, ts, ts_ns,
		merchant, status, file_id, ingested_at, outcome FROM transactions WHERE seq > ? ORDER BY seq LIMIT ?`, after, legacyBatch)
	if err != nil {
		return nil, 0, fmt.Errorf("read old transactions of %s: %w", db.path, translate(err))
	}
	defer rs.Close()
	var out []legacyRow
	var last int64
	for rs.Next() {
		var r legacyRow
		var (
			amount, currency, merchant, status, fileID sql.NullString
			minor, ts, tsNS, ingested, outcome         sql.NullInt64
		)
		if err := rs.Scan(&last, &r.id, &amount, &minor, &currency, &ts, &tsNS, &merchant, &status, &fileID, &ingested, &outcome); err != nil {
			return nil, 0, fmt.Errorf("read old transactions of %s: %w", db.path, translate(err))
		}
		r.amount, r.currency, r.merchant, r.status, r.fileID = amount.String, currency.String, merchant.String, status.String, fileID.String
		r.amountMinor, r.ts, r.tsNS, r.ingested, r.outcome = minor.Int64, ts.Int64, tsNS.Int64, ingested.Int64, outcome.Int64
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, 0, fmt.Errorf("read old transactions of %s: %w", db.path, translate(err))
	}
	return out, last, nil
}

// insertLegacy writes rows into the shard f in one committed transaction,
// skipping those it holds already (an interrupted move), and reports how
// many it inserted and skipped. An id whose hash another id has is stored
// with a NULL hash, as PutTransactions does.
func (f *file) insertLegacy(ctx context.Context, hash func(string) int64, rows []legacyRow) (inserted, present int64, err error) {
	err = f.update(ctx, "", 0, func(ctx context.Context, tx *sql.Tx) error {
		inserted, present = 0, 0
		vol := volumeDelta{}
		for _, r := range rows {
			h := hash(r.id)
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM transactions WHERE gen = 0 AND id_hash = ? AND transaction_id = ?
				UNION ALL SELECT 1 FROM transactions WHERE id_hash IS NULL AND transaction_id = ? LIMIT 1`, h, r.id, r.id).Scan(&one)
			if err == nil {
				present++
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			args := []any{r.id, r.amount, r.amountMinor, r.currency, r.ts, r.tsNS, r.merchant, r.status, r.fileID, r.ingested, r.outcome}
			res, err := tx.ExecContext(ctx, `INSERT INTO transactions (id_hash, `+txColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
				ON CONFLICT (gen, id_hash) DO NOTHING`, append([]any{h}, args...)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO transactions (id_hash, `+txColumns+`) VALUES (NULL,?,?,?,?,?,?,?,?,?,?,?)`, args...); err != nil {
					return err
				}
			}
			vol.add(r.ts, r.currency, 1, r.amountMinor)
			inserted++
		}
		for k, d := range vol {
			if _, err := tx.ExecContext(ctx, volumeSQL, k.day, k.currency, d[0], d[1]); err != nil {
				return fmt.Errorf("update volume of %s on day %d: %w", k.currency, k.day, err)
			}
		}
		return nil
	})
	return inserted, present, err
}
