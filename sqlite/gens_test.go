package sqlite_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/storetest"
)

// openSmallGenerations opens a new database whose generations are 2^bits
// rows, so a few rows make many.
func openSmallGenerations(t *testing.T, bits int) *sqlite.DB {
	db := openDB(t)
	sqlite.SetGenerationBits(db, bits)
	return db
}

// The store's contract holds when every few rows start a generation.
func TestTransactionStoreSmallGenerations(t *testing.T) {
	t.Parallel()
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return openSmallGenerations(t, 1) })
}

// TestListMergesGenerations pages through rows spread over about 30
// generations a shard, each page merged by one query a shard and by several
// (more generations than a query merges): every row once, in time order,
// with small and large pages.
func TestListMergesGenerations(t *testing.T) {
	t.Parallel()
	db := openSmallGenerations(t, 4)
	rng := rand.New(rand.NewPCG(5, 6))
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var txs []txpipe.Transaction
	ids := rng.Perm(1500)
	for i := range 1500 {
		// Each batch of 50 in its own month; some share a timestamp.
		month := jan.AddDate(0, i/50%12, 0)
		txs = append(txs, txpipe.Transaction{
			ID: fmt.Sprintf("tx-%05d", ids[i]), Amount: "1.00", AmountMinor: 100, Currency: "EUR",
			Timestamp: month.Add(time.Duration(rng.IntN(40*24)) * time.Hour), Merchant: "m", Status: txpipe.TxCompleted, FileID: "f",
		})
	}
	putInBatches(t, db, txs)
	if err := db.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if g := sqlite.Generations(db); slices.Min(g) < 25 {
		t.Fatalf("generations a shard = %v, want 25 or more", g)
	}
	want := slices.Clone(txs)
	slices.SortFunc(want, func(a, b txpipe.Transaction) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), strings.Compare(a.ID, b.ID))
	})
	from, to := jan.AddDate(0, 2, 10), jan.AddDate(0, 9, 3)
	want = slices.DeleteFunc(want, func(x txpipe.Transaction) bool { return x.Timestamp.Before(from) || !x.Timestamp.Before(to) })
	for _, arms := range []int{0, 1, 7} {
		sqlite.SetListArms(db, arms)
		for _, limit := range []int{37, 1000} {
			var got []string
			q := txpipe.TxQuery{From: from, To: to, Limit: limit}
			for {
				page, err := db.ListTransactions(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range page.Items {
					got = append(got, x.ID)
				}
				if page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			if len(got) != len(want) {
				t.Fatalf("arms %d, limit %d: %d rows listed, want %d", arms, limit, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i].ID {
					t.Fatalf("arms %d, limit %d: row %d is %s, want %s", arms, limit, i, got[i], want[i].ID)
				}
			}
		}
	}
}

func TestTransactionStoreSmallGenerationsHashCollisions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the contract with small generations runs once under -short (TestTransactionStoreSmallGenerations)")
	}
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore {
		db := openSmallGenerations(t, 2)
		sqlite.SetIDHash(db, func(id string) int64 { return int64(len(id) % 3) })
		return db
	})
}

func TestTransactionFiltersSmallGenerations(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the contract with small generations runs once under -short (TestTransactionStoreSmallGenerations)")
	}
	storetest.TestTransactionFilters(t, func(t *testing.T) storetest.TransactionStore { return openSmallGenerations(t, 1) })
}

// TestGenerationsStoreEachIDOnce writes a file over many generations, then
// a file that repeats a third of its ids unchanged, changes a third (moving
// their timestamps to another month) and adds new ones; before and after a
// reopen, which rebuilds the generations' filters from the rows: the counts
// are exact, every id is listed once, with its latest values, in the
// ranges of its latest timestamp.
func TestGenerationsStoreEachIDOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	db := reopen(t, path)
	sqlite.SetGenerationBits(db, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	third := 1000
	if testing.Short() {
		third = 400 // still about 40 generations a shard
	}
	n := 3 * third
	tx := func(id int, file string, ts time.Time, minor int64) txpipe.Transaction {
		return txpipe.Transaction{
			ID: fmt.Sprintf("tx-%06d", id), Amount: fmt.Sprintf("%d.%02d", minor/100, minor%100), AmountMinor: minor,
			Currency: "EUR", Timestamp: ts, Merchant: "m", Status: txpipe.TxCompleted, FileID: file,
		}
	}
	var first []txpipe.Transaction
	for i := range n {
		first = append(first, tx(i, "file-a", jan.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour)))), 100+int64(i)))
	}
	if c := putInBatches(t, db, first); c != (txpipe.Counts{Inserted: int64(n)}) {
		t.Fatalf("first file: %+v, want %d inserted", c, n)
	}
	for k, g := range sqlite.Generations(db) {
		if g < 10 {
			t.Fatalf("shard %d has %d generations after %d rows, want many (generations of 16 rows)", k, g, n)
		}
	}
	// The second file: the first third of the ids unchanged, the second
	// changed and moved to March, as many new; in random order.
	mar := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var second []txpipe.Transaction
	want := map[string]txpipe.Transaction{}
	for _, t := range first {
		want[t.ID] = t
	}
	for i := range third {
		same := first[i]
		same.FileID = "file-b" // unchanged: stays file-a's
		second = append(second, same)
		moved := tx(third+i, "file-b", mar.Add(time.Duration(i)*time.Minute), 7)
		second = append(second, moved)
		want[moved.ID] = moved
		added := tx(n+i, "file-b", mar.Add(time.Duration(i)*time.Second), 9)
		second = append(second, added)
		want[added.ID] = added
	}
	rng.Shuffle(len(second), func(i, j int) { second[i], second[j] = second[j], second[i] })
	wantCounts := txpipe.Counts{Inserted: int64(third), Updated: int64(third), Unchanged: int64(third)}
	if c := putInBatches(t, db, second); c != wantCounts {
		t.Fatalf("second file: %+v, want %+v", c, wantCounts)
	}
	check := func(db *sqlite.DB) {
		t.Helper()
		seen := map[string]bool{}
		for _, r := range []struct{ from, to time.Time }{{jan, mar}, {mar, mar.AddDate(0, 1, 0)}} {
			for _, got := range listRows(t, db, r.from, r.to) {
				w, ok := want[got.ID]
				switch {
				case !ok:
					t.Fatalf("listed %s, never written", got.ID)
				case seen[got.ID]:
					t.Fatalf("%s listed twice", got.ID)
				case !got.Timestamp.Equal(w.Timestamp) || got.AmountMinor != w.AmountMinor || got.FileID != w.FileID:
					t.Fatalf("%s listed at %v, %d minor units, file %s; want %v, %d, %s", got.ID, got.Timestamp, got.AmountMinor, got.FileID, w.Timestamp, w.AmountMinor, w.FileID)
				}
				seen[got.ID] = true
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("listed %d ids, want %d", len(seen), len(want))
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, path)
	defer db.Close()
	sqlite.SetGenerationBits(db, 4)
	check(db)
	// The second file's run resumed: the counts of its first write again,
	// nothing written twice.
	if c := putInBatches(t, db, second); c != wantCounts {
		t.Fatalf("second file written again after a reopen: %+v, want %+v", c, wantCounts)
	}
	check(db)
}

// TestGenerationsSealedFilters: sealed generations' filters are read back
// from the generations table on open, and a generation written into again
// (here by a reopen with larger generations, whose rows then go to
// generation 0) is read from its rows the next time: the ids written into
// it since are found, never stored twice.
func TestGenerationsSealedFilters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	ctx := t.Context()
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	file := func(name string, from, n int) []txpipe.Transaction {
		var out []txpipe.Transaction
		for i := from; i < from+n; i++ {
			out = append(out, txpipe.Transaction{ID: fmt.Sprintf("id-%05d", i), Amount: "1.00", AmountMinor: 100, Currency: "EUR",
				Timestamp: day.Add(time.Duration(i) * time.Second), Merchant: "m", Status: txpipe.TxCompleted, FileID: name})
		}
		return out
	}
	n, m := 2000, 500 // file a's rows, file b's new and repeated rows
	if testing.Short() {
		n, m = 800, 200 // still 25 generations a shard
	}
	db := reopen(t, path)
	sqlite.SetGenerationBits(db, 4)
	if c := putInBatches(t, db, file("a", 0, n)); c.Inserted != int64(n) {
		t.Fatalf("file a: %+v", c)
	}
	if err := db.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	sealed, err := sqlite.SealedGenerations(db)
	if err != nil {
		t.Fatal(err)
	}
	for k, g := range sealed {
		if g < 10 {
			t.Fatalf("shard %d has %d sealed generations after %d rows in generations of 16, want many", k, g, n)
		}
	}
	db.Close()

	// Generations of 2^19 rows: the writes go to generation 0, sealed.
	db = reopen(t, path)
	b := append(file("b", n, m), file("b", 0, m)...)
	for i := range b {
		b[i].FileID = "b"
	}
	want := txpipe.Counts{Inserted: int64(m), Unchanged: int64(m)}
	if c := putInBatches(t, db, b); c != want {
		t.Fatalf("file b: %+v, want %+v", c, want)
	}
	db.Close()

	// Back to small generations: the writes go to a new generation, and
	// generation 0 must know file b's new ids.
	db = reopen(t, path)
	defer db.Close()
	sqlite.SetGenerationBits(db, 4)
	if c := putInBatches(t, db, b); c != want {
		t.Fatalf("file b again: %+v, want %+v (its first write's counts)", c, want)
	}
	if got := countRows(t, db, day, day.AddDate(0, 0, 1)); got != n+m {
		t.Fatalf("listed %d transactions, want %d (each id once)", got, n+m)
	}
}

// TestGenerationsSeenByAnotherHandle: a second handle on the same files
// (another process, as the crash tests' checks and the CLI are) lists the
// rows of generations the first one's writer made after it opened.
func TestGenerationsSeenByAnotherHandle(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	ctx := t.Context()
	writer := reopen(t, path)
	defer writer.Close()
	sqlite.SetGenerationBits(writer, 3)
	reader := reopen(t, path)
	defer reader.Close()
	day := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	for round := 1; round <= 3; round++ {
		var txs []txpipe.Transaction
		for i := range 20 {
			id := (round-1)*20 + i
			txs = append(txs, txpipe.Transaction{ID: fmt.Sprintf("seen-%03d", id), Amount: "1.00", AmountMinor: 100, Currency: "EUR",
				Timestamp: day.Add(time.Duration(id) * time.Minute), Merchant: "m", Status: txpipe.TxCompleted, FileID: "f"})
		}
		if _, err := writer.PutTransactions(ctx, txs); err != nil {
			t.Fatal(err)
		}
		if err := writer.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, reader, day, day.AddDate(0, 0, 1)); n != 20*round {
			t.Fatalf("round %d: the other handle lists %d rows, want %d", round, n, 20*round)
		}
	}
	if g := sqlite.Generations(writer); g[0] < 3 && g[1] < 3 {
		t.Fatalf("generations %v, want several per shard", g)
	}
}

// putInBatches writes txs in batches of 50 rows (many batches, so small
// generations fill and seal as they go) and sums the counts.
func putInBatches(t *testing.T, db *sqlite.DB, txs []txpipe.Transaction) txpipe.Counts {
	t.Helper()
	var c txpipe.Counts
	for start := 0; start < len(txs); start += 50 {
		got, err := db.PutTransactions(t.Context(), txs[start:min(len(txs), start+50)])
		if err != nil {
			t.Fatal(err)
		}
		c = c.Add(got)
	}
	return c
}
