package sqlite_test

import (
	"database/sql"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
)

// BenchmarkSQLiteFloor is the floor under the store's write path (issue 15,
// item 3; docs/performance.md): the same generated rows inserted by bare
// SQLite (the same driver, modernc.org/sqlite) into one file, with
// multi-row INSERT statements of 64 rows, 20,000 rows a transaction, and no
// fsync at all (synchronous=OFF): what one core writes with none of the
// store's durability, generations or aggregates, into a table with no
// index (the rows alone) and with the two any store of them needs, a unique
// index on the id's hash (duplicates) and one on the time (range queries),
// kept as rows go in or built after the load.
// The rows are made before the clock starts. Run it with:
//
//	go test ./sqlite -run '^$' -bench SQLiteFloor -benchtime 1x
func BenchmarkSQLiteFloor(b *testing.B) {
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TXPIPE_BENCH_ROWS")); err == nil {
		rows = v
	}
	txs := make([]txpipe.Transaction, rows)
	genBatch(rand.New(rand.NewPCG(1, 2)), "bench-file", txs)
	const indexes = `CREATE UNIQUE INDEX transactions_id_hash ON transactions (id_hash);
		CREATE INDEX transactions_ts ON transactions (ts, ts_ns)`
	for _, c := range []struct{ name, before, after string }{
		{"no-index", "", ""},
		{"id-and-time-indexes", indexes, ""},
		{"indexes-built-after", "", indexes},
	} {
		b.Run(c.name, func(b *testing.B) { floor(b, txs, c.before, c.after) })
	}
}

// floor inserts txs as BenchmarkSQLiteFloor says into a table with the
// indexes that the statements before create, then runs after (in the
// measured time): the indexes built from the rows in one sorted pass, the
// cheapest way SQLite makes an index, if it builds them.
func floor(b *testing.B, txs []txpipe.Transaction, before, after string) {
	rows := len(txs)
	const perStmt, perTx = 64, 20_000
	const cols = "(id_hash, transaction_id, amount, amount_minor, currency, ts, ts_ns, merchant, status, file_id, ingested_at)"
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", 11), ",") + ")"
	insert := "INSERT INTO transactions " + cols + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", perStmt), ",")
	hashes := make([]int64, rows) // the ids' hashes, as the rows, made before the clock starts
	for i, t := range txs {
		h := fnv.New64a()
		h.Write([]byte(t.ID))
		hashes[i] = int64(h.Sum64())
	}
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "floor.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-65536)")
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE transactions (
			seq INTEGER PRIMARY KEY, id_hash INTEGER, transaction_id TEXT, amount TEXT, amount_minor INTEGER,
			currency TEXT, ts INTEGER, ts_ns INTEGER, merchant TEXT, status TEXT, file_id TEXT, ingested_at INTEGER);
			` + before); err != nil {
			b.Fatal(err)
		}
		args := make([]any, 0, 11*perStmt)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		now := time.Now().UnixNano()
		for lo := 0; lo < rows; lo += perTx {
			tx, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.Prepare(insert)
			if err != nil {
				b.Fatal(err)
			}
			hi := min(lo+perTx, rows)
			for i := lo; i+perStmt <= hi; i += perStmt {
				args = args[:0]
				for k, t := range txs[i : i+perStmt] {
					args = append(args, hashes[i+k], t.ID, t.Amount, t.AmountMinor, t.Currency,
						t.Timestamp.Unix(), t.Timestamp.Nanosecond(), t.Merchant, t.Status, t.FileID, now)
				}
				if _, err := st.Exec(args...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		if after != "" {
			if _, err := db.Exec(after); err != nil {
				b.Fatal(err)
			}
		}
		wall, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM transactions`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if want := rows / perTx * (perTx / perStmt * perStmt); n != want {
			b.Fatalf("%d rows stored, want %d", n, want)
		}
		db.Close()
		b.ReportMetric(float64(n)/wall.Seconds(), "rows/s")
		b.ReportMetric(float64(n)/cpu.Seconds(), "rows/cpu-s")
		b.StartTimer()
	}
}
