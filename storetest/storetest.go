// Package storetest is the contract test suite of txpipe's storage ports.
// Each function runs one body of tests against a backend, so the embedded
// adapters (sqlite, localfs) and the AWS adapters (DynamoDB, S3) are held
// to the same behaviour, as litestream's replica_client_test.go does.
//
// A backend's test calls, for example:
//
//	func TestTransactionStore(t *testing.T) {
//		storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore {
//			return openTestDB(t)
//		})
//	}
//
// open is called once per subtest. The suites write their own random
// transaction ids, file ids and keys, and query time windows of their own,
// so open may return a fresh store or a shared one.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// TransactionStore is the transactions table as the suite uses it: the
// workflow's write side plus the query the HTTP API serves.
type TransactionStore interface {
	workflow.TransactionWriter
	ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error)
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// window returns a random hour-aligned instant between 2001 and 2040, so
// every subtest queries a time range no other subtest writes to.
func window(t testing.TB) time.Time {
	t.Helper()
	base := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	return base.Add(time.Duration(mrand.IntN(24*365*39)) * time.Hour)
}

// tx returns a valid transaction.
func tx(id, fileID string, ts time.Time, minor int64) txpipe.Transaction {
	return txpipe.Transaction{
		ID:          id,
		Amount:      fmt.Sprintf("%d.%02d", minor/100, minor%100),
		AmountMinor: minor,
		Currency:    "USD",
		Timestamp:   ts,
		Merchant:    "Acme Café, \"Main\" St",
		Status:      txpipe.TxCompleted,
		FileID:      fileID,
		IngestedAt:  time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
	}
}

func put(t *testing.T, s workflow.TransactionWriter, txs []txpipe.Transaction) txpipe.Counts {
	t.Helper()
	c, err := s.PutTransactions(t.Context(), txs)
	if err != nil {
		t.Fatalf("PutTransactions(%d rows): %v", len(txs), err)
	}
	return c
}

func checkCounts(t *testing.T, what string, got, want txpipe.Counts) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: counts = %+v, want %+v", what, got, want)
	}
}

// listAll pages through q with the given page size and returns every item,
// checking the cursor rules on the way.
func listAll(t *testing.T, s TransactionStore, q txpipe.TxQuery) []txpipe.Transaction {
	t.Helper()
	var all []txpipe.Transaction
	limit := q.Limit
	if limit <= 0 {
		limit = txpipe.DefaultTxLimit
	}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("ListTransactions: more than 10000 pages, the cursor does not advance")
		}
		page, err := s.ListTransactions(t.Context(), q)
		if err != nil {
			t.Fatalf("ListTransactions(%+v): %v", q, err)
		}
		if len(page.Items) > limit {
			t.Fatalf("ListTransactions: %d items on a page, limit %d", len(page.Items), limit)
		}
		if len(page.Items) < limit && page.NextCursor != "" {
			t.Fatalf("ListTransactions: short page (%d < %d) has next cursor %q", len(page.Items), limit, page.NextCursor)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		if page.NextCursor == q.Cursor {
			t.Fatalf("ListTransactions: next cursor %q equals the cursor given", page.NextCursor)
		}
		q.Cursor = page.NextCursor
	}
}

// sameTx compares the stored values of a transaction, times by instant.
func sameTx(a, b txpipe.Transaction) bool {
	return a.ID == b.ID && a.Amount == b.Amount && a.AmountMinor == b.AmountMinor &&
		a.Currency == b.Currency && a.Timestamp.Equal(b.Timestamp) && a.Merchant == b.Merchant &&
		a.Status == b.Status && a.FileID == b.FileID && a.IngestedAt.Equal(b.IngestedAt)
}

func byTimeThenID(a, b txpipe.Transaction) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// TestTransactionStore runs the contract of the transactions table.
//
// Besides the doc of workflow.TransactionWriter it checks that a store keeps
// a transaction's IngestedAt as given (adapters set it only when it is zero)
// and returns timestamps in UTC with their nanoseconds.
func TestTransactionStore(t *testing.T, open func(t *testing.T) TransactionStore) {
	t.Run("CountsInsertUpdateUnchanged", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1, f2 := "f1-"+randomHex(t, 8), "f2-"+randomHex(t, 8)

		first := []txpipe.Transaction{
			tx(p+"same", f1, base.Add(1*time.Second), 100),
			tx(p+"amount", f1, base.Add(2*time.Second), 200),
			tx(p+"currency", f1, base.Add(3*time.Second), 300),
			tx(p+"timestamp", f1, base.Add(4*time.Second), 400),
			tx(p+"merchant", f1, base.Add(5*time.Second), 500),
			tx(p+"status", f1, base.Add(6*time.Second), 600),
			tx(p+"subsecond", f1, base.Add(7*time.Second), 700),
		}
		checkCounts(t, "first put", put(t, s, first), txpipe.Counts{Inserted: 7})

		second := slices.Clone(first)
		later := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
		for i := range second {
			second[i].FileID = f2
			second[i].IngestedAt = later
		}
		second[1].Amount, second[1].AmountMinor = "2.01", 201
		second[2].Currency = "EUR"
		second[3].Timestamp = second[3].Timestamp.Add(time.Minute)
		second[4].Merchant = "Other merchant"
		second[5].Status = txpipe.TxPending
		second[6].Timestamp = second[6].Timestamp.Add(time.Millisecond)
		second = append(second, tx(p+"new", f2, base.Add(8*time.Second), 800))
		checkCounts(t, "second put", put(t, s, second), txpipe.Counts{Inserted: 1, Updated: 6, Unchanged: 1})

		items := listAll(t, s, txpipe.TxQuery{From: base, To: base.Add(time.Hour)})
		if got, want := len(items), 8; got != want {
			t.Fatalf("listed %d transactions, want %d", got, want)
		}
		want := slices.Clone(second)
		want[0] = first[0] // unchanged: keeps its FileID and IngestedAt
		slices.SortFunc(want, byTimeThenID)
		for i := range want {
			if !sameTx(items[i], want[i]) {
				t.Errorf("item %d = %+v, want %+v", i, items[i], want[i])
			}
		}
	})

	t.Run("IdempotentPerFile", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1, f2 := "f1-"+randomHex(t, 8), "f2-"+randomHex(t, 8)

		var a []txpipe.Transaction
		for i := range 20 {
			a = append(a, tx(fmt.Sprintf("%s%03d", p, i), f1, base.Add(time.Duration(i)*time.Second), int64(i)))
		}
		checkCounts(t, "f1 put", put(t, s, a), txpipe.Counts{Inserted: 20})
		checkCounts(t, "f1 put again", put(t, s, a), txpipe.Counts{Inserted: 20})
		stored := listAll(t, s, txpipe.TxQuery{From: base, To: base.Add(time.Hour)})

		// f2 leaves rows 0-4 unchanged, updates 5-14, inserts 20-24 and
		// does not touch 15-19; its run restarts between its two batches.
		var b []txpipe.Transaction
		for i := range 25 {
			if i >= 15 && i < 20 {
				continue
			}
			x := tx(fmt.Sprintf("%s%03d", p, i), f2, base.Add(time.Duration(i)*time.Second), int64(i))
			x.IngestedAt = x.IngestedAt.Add(time.Hour)
			if i >= 5 && i < 15 {
				x.Merchant = "changed"
			}
			b = append(b, x)
		}
		b1, b2 := b[:8], b[8:]
		c1 := put(t, s, b1)
		checkCounts(t, "f2 batch 1", c1, txpipe.Counts{Updated: 3, Unchanged: 5})
		checkCounts(t, "f2 batch 1 again", put(t, s, b1), c1)
		c2 := put(t, s, b2)
		checkCounts(t, "f2 batch 2", c2, txpipe.Counts{Inserted: 5, Updated: 7})
		checkCounts(t, "f2 batch 2 again", put(t, s, b2), c2)
		checkCounts(t, "f2 all again", put(t, s, b), txpipe.Counts{Inserted: 5, Updated: 10, Unchanged: 5})

		items := listAll(t, s, txpipe.TxQuery{From: base, To: base.Add(time.Hour)})
		if got, want := len(items), 25; got != want {
			t.Fatalf("listed %d transactions, want %d", got, want)
		}
		for i, it := range items {
			switch {
			case i < 5 || (i >= 15 && i < 20):
				if !sameTx(it, stored[i]) {
					t.Errorf("row %d = %+v, want it kept as %+v", i, it, stored[i])
				}
			default:
				if it.FileID != f2 || !it.IngestedAt.Equal(b[0].IngestedAt) {
					t.Errorf("row %d: FileID, IngestedAt = %s, %v; want %s, %v", i, it.FileID, it.IngestedAt, f2, b[0].IngestedAt)
				}
			}
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		s := open(t)
		checkCounts(t, "empty put", put(t, s, nil), txpipe.Counts{})
	})

	t.Run("FullBatch", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1 := "f1-" + randomHex(t, 8)
		txs := make([]txpipe.Transaction, workflow.MaxBatch)
		for i := range txs {
			txs[i] = tx(p+randomHex(t, 8), f1, base.Add(time.Duration(i)*time.Millisecond), int64(i))
		}
		checkCounts(t, "full batch", put(t, s, txs), txpipe.Counts{Inserted: workflow.MaxBatch})
		checkCounts(t, "full batch again", put(t, s, txs), txpipe.Counts{Inserted: workflow.MaxBatch})
		for i := range txs {
			txs[i].FileID = "f2-" + f1
			if i%2 == 0 {
				txs[i].Status = txpipe.TxFailed
			}
		}
		checkCounts(t, "full batch, half changed, new file", put(t, s, txs),
			txpipe.Counts{Updated: workflow.MaxBatch / 2, Unchanged: workflow.MaxBatch / 2})
	})

	t.Run("TimestampsUTCAndPrecise", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1 := "f1-" + randomHex(t, 8)
		zone := time.FixedZone("UTC+05:30", 5*3600+1800)
		want := []time.Time{
			base.Add(time.Second),                        // whole second
			base.Add(time.Second + 500*time.Millisecond), // sorts after it, though "…01Z" > "…01.5Z" as text
			base.Add(time.Second + 123456789),            // nanoseconds
			base.Add(2 * time.Second).In(zone),           // given in another zone
			base.Add(3*time.Second + 1),                  // one nanosecond
		}
		var txs []txpipe.Transaction
		for i, ts := range want {
			txs = append(txs, tx(fmt.Sprintf("%s%d", p, i), f1, ts, 1))
		}
		checkCounts(t, "put", put(t, s, txs), txpipe.Counts{Inserted: int64(len(txs))})
		items := listAll(t, s, txpipe.TxQuery{From: base, To: base.Add(time.Hour)})
		slices.SortFunc(txs, byTimeThenID)
		if got, want := len(items), len(txs); got != want {
			t.Fatalf("listed %d transactions, want %d", got, want)
		}
		for i, it := range items {
			if it.ID != txs[i].ID || !it.Timestamp.Equal(txs[i].Timestamp) {
				t.Errorf("item %d = %s at %v, want %s at %v", i, it.ID, it.Timestamp, txs[i].ID, txs[i].Timestamp)
			}
			if it.Timestamp.Location() != time.UTC {
				t.Errorf("item %d: timestamp %v not in UTC", i, it.Timestamp)
			}
			if it.IngestedAt.Location() != time.UTC {
				t.Errorf("item %d: ingested_at %v not in UTC", i, it.IngestedAt)
			}
		}
	})

	t.Run("ListRangeOrderAndPaging", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1 := "f1-" + randomHex(t, 8)
		from, to := base.Add(time.Minute), base.Add(2*time.Minute)
		var txs []txpipe.Transaction
		add := func(id string, ts time.Time) {
			txs = append(txs, tx(p+id, f1, ts, int64(len(txs))))
		}
		add("before", from.Add(-time.Nanosecond))
		add("at-from", from)
		add("at-to", to)
		add("after", to.Add(time.Second))
		add("last", to.Add(-time.Nanosecond))
		// 200 rows, in groups of up to 3 with the same timestamp, ids in
		// random order so ties must be broken by id.
		for i := range 200 {
			add(randomHex(t, 4)+fmt.Sprint(i), from.Add(time.Duration(i/3+1)*time.Millisecond))
		}
		mrand.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
		checkCounts(t, "put", put(t, s, txs), txpipe.Counts{Inserted: int64(len(txs))})

		var want []txpipe.Transaction
		for _, x := range txs {
			if !x.Timestamp.Before(from) && x.Timestamp.Before(to) {
				want = append(want, x)
			}
		}
		slices.SortFunc(want, byTimeThenID)
		if got, w := len(want), 202; got != w {
			t.Fatalf("test setup: %d rows in range, want %d", got, w)
		}

		page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		if got, w := len(page.Items), txpipe.DefaultTxLimit; got != w {
			t.Errorf("default limit: %d items, want %d", got, w)
		}
		if page.NextCursor == "" {
			t.Error("default limit: no next cursor on a full first page")
		}

		for _, limit := range []int{1, 7, 101, 202, 1000} {
			got := listAll(t, s, txpipe.TxQuery{From: from, To: to, Limit: limit})
			if len(got) != len(want) {
				t.Errorf("limit %d: listed %d transactions, want %d", limit, len(got), len(want))
				continue
			}
			for i := range want {
				if !sameTx(got[i], want[i]) {
					t.Errorf("limit %d: item %d = %s at %v, want %s at %v", limit, i, got[i].ID, got[i].Timestamp, want[i].ID, want[i].Timestamp)
					break
				}
			}
		}

		empty, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: to.Add(time.Hour), To: to.Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(empty.Items) != 0 || empty.NextCursor != "" {
			t.Errorf("empty range: %d items, cursor %q; want none", len(empty.Items), empty.NextCursor)
		}
	})

	t.Run("ListMaxLimit", func(t *testing.T) {
		s := open(t)
		base := window(t)
		p := randomHex(t, 6) + "-"
		f1 := "f1-" + randomHex(t, 8)
		const n = txpipe.MaxTxLimit + 50
		for start := 0; start < n; start += workflow.MaxBatch {
			var txs []txpipe.Transaction
			for i := start; i < min(n, start+workflow.MaxBatch); i++ {
				txs = append(txs, tx(fmt.Sprintf("%s%05d", p, i), f1, base.Add(time.Duration(i)*time.Millisecond), 1))
			}
			put(t, s, txs)
		}
		page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: base, To: base.Add(time.Hour), Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(page.Items), txpipe.MaxTxLimit; got != want {
			t.Errorf("limit 5000: %d items, want at most %d", got, want)
		}
		if page.NextCursor == "" {
			t.Fatal("limit 5000: no next cursor with rows left")
		}
		rest, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: base, To: base.Add(time.Hour), Limit: 5000, Cursor: page.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(rest.Items), n-txpipe.MaxTxLimit; got != want {
			t.Errorf("second page: %d items, want %d", got, want)
		}
		if rest.NextCursor != "" {
			t.Errorf("second page: next cursor %q, want none", rest.NextCursor)
		}
	})

	t.Run("BadCursor", func(t *testing.T) {
		s := open(t)
		base := window(t)
		for _, cursor := range []string{"!!not a cursor!!", "AAAA", "eyJ0IjoiMjAyNCJ9", strings.Repeat("z", 300)} {
			_, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: base, To: base.Add(time.Hour), Cursor: cursor})
			if got, want := txpipe.ErrorCode(err), txpipe.EINVALID; got != want {
				t.Errorf("cursor %q: error %v (code %q), want code %q", cursor, err, got, want)
			}
		}
	})
}

func status(fileID string) *txpipe.FileStatus {
	created := time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC)
	return &txpipe.FileStatus{
		Events:     []txpipe.StatusEvent{{At: created, Status: txpipe.StatusValidated, Step: "Validate", Message: "1000000 rows <valid>"}},
		FileID:     fileID,
		Status:     txpipe.StatusValidated,
		Filename:   "transactions, \"march\" – ünïcode.csv",
		SHA256:     strings.Repeat("ab", 32),
		SizeBytes:  81234567,
		Rows:       1000000,
		ErrorCount: 0,
		Errors:     []txpipe.ErrorItem{},
		Attempts:   0,
		CreatedAt:  created,
		UpdatedAt:  created,
		// How it was read, and a two-step declaration's format: kept as
		// they are.
		Dialect: &txpipe.Dialect{Delimiter: "\t", Encoding: "utf-16le", BOM: true},
		Profile: "bank",
		Format:  &txpipe.DeclaredFormat{Delimiter: "tab", Encoding: "utf-16le", Profile: "bank", Sheet: "März"},
	}
}

func sameStatus(t *testing.T, what string, got, want *txpipe.FileStatus) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("%s: created/updated = %v/%v, want %v/%v", what, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	if len(g.Errors) != len(w.Errors) {
		t.Errorf("%s: %d errors, want %d", what, len(g.Errors), len(w.Errors))
	} else {
		for i := range w.Errors {
			if g.Errors[i] != w.Errors[i] {
				t.Errorf("%s: error %d = %+v, want %+v", what, i, g.Errors[i], w.Errors[i])
			}
		}
	}
	if len(g.Events) != len(w.Events) {
		t.Errorf("%s: %d events, want %d", what, len(g.Events), len(w.Events))
	} else {
		for i := range w.Events {
			if ge, we := g.Events[i], w.Events[i]; !ge.At.Equal(we.At) || ge.Status != we.Status || ge.Step != we.Step || ge.Attempt != we.Attempt || ge.Message != we.Message {
				t.Errorf("%s: event %d = %+v, want %+v", what, i, ge, we)
			}
		}
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.Errors, w.Errors = nil, nil
	g.Events, w.Events = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: status = %+v, want %+v", what, g, w)
	}
}

// TestStatusStore runs the contract of the status table.
func TestStatusStore(t *testing.T, open func(t *testing.T) workflow.StatusStore) {
	t.Run("ConcurrentIdenticalUploadsOneRun", func(t *testing.T) { testConcurrentIntake(t, open(t)) })
	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := open(t)
		id := randomHex(t, 16)
		st := status(id)
		got, created, err := s.CreateStatus(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !created {
			t.Error("CreateStatus of a new file: created = false")
		}
		sameStatus(t, "CreateStatus result", got, st)
		stored, err := s.GetStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "GetStatus", stored, st)
		if stored.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt %v not in UTC", stored.CreatedAt)
		}
	})

	t.Run("CreateTwiceReturnsExisting", func(t *testing.T) {
		s := open(t)
		id := randomHex(t, 16)
		first := status(id)
		if _, _, err := s.CreateStatus(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := status(id)
		second.Filename = "another name.csv"
		second.Status = txpipe.StatusRejected
		got, created, err := s.CreateStatus(t.Context(), second)
		if err != nil {
			t.Fatal(err)
		}
		if created {
			t.Error("second CreateStatus: created = true")
		}
		sameStatus(t, "second CreateStatus result", got, first)
		stored, err := s.GetStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "GetStatus after second create", stored, first)
	})

	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		_, err := s.GetStatus(t.Context(), randomHex(t, 16))
		if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
			t.Errorf("GetStatus of a missing file: error %v (code %q), want code %q", err, got, want)
		}
	})

	t.Run("UpdateConditional", func(t *testing.T) {
		s := open(t)
		id := randomHex(t, 16)
		st := status(id)
		if _, _, err := s.CreateStatus(t.Context(), st); err != nil {
			t.Fatal(err)
		}

		processing := *st
		processing.Status = txpipe.StatusProcessing
		processing.Attempts = 1
		processing.UpdatedAt = st.UpdatedAt.Add(time.Second)
		if err := s.UpdateStatus(t.Context(), &processing, txpipe.StatusValidated, txpipe.StatusFailed); err != nil {
			t.Fatalf("UpdateStatus VALIDATED -> PROCESSING: %v", err)
		}

		// A late retry that expects VALIDATED loses.
		late := processing
		late.Status = txpipe.StatusProcessing
		late.Attempts = 7
		err := s.UpdateStatus(t.Context(), &late, txpipe.StatusValidated)
		if got, want := txpipe.ErrorCode(err), txpipe.ECONFLICT; got != want {
			t.Errorf("UpdateStatus from VALIDATED of a PROCESSING file: error %v (code %q), want code %q", err, got, want)
		}

		done := processing
		done.Status = txpipe.StatusCompleted
		done.SetCounts(txpipe.Counts{Inserted: 700000, Updated: 200000, Unchanged: 100000})
		done.UpdatedAt = processing.UpdatedAt.Add(9 * time.Second)
		if err := s.UpdateStatus(t.Context(), &done, txpipe.StatusProcessing); err != nil {
			t.Fatalf("UpdateStatus PROCESSING -> COMPLETED: %v", err)
		}
		stored, err := s.GetStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "GetStatus after updates", stored, &done)

		// A finished file cannot be moved back.
		back := done
		back.Status = txpipe.StatusProcessing
		err = s.UpdateStatus(t.Context(), &back, txpipe.StatusValidated, txpipe.StatusProcessing, txpipe.StatusFailed)
		if got, want := txpipe.ErrorCode(err), txpipe.ECONFLICT; got != want {
			t.Errorf("UpdateStatus of a COMPLETED file: error %v (code %q), want code %q", err, got, want)
		}
		stored, err = s.GetStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "GetStatus after conflicts", stored, &done)
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		s := open(t)
		st := status(randomHex(t, 16))
		err := s.UpdateStatus(t.Context(), st, txpipe.StatusValidated)
		if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
			t.Errorf("UpdateStatus of a missing file: error %v (code %q), want code %q", err, got, want)
		}
		if _, err := s.GetStatus(t.Context(), st.FileID); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
			t.Errorf("GetStatus after UpdateStatus of a missing file: error %v, want ENOTFOUND", err)
		}
	})

	t.Run("ErrorsAndFailureRoundTrip", func(t *testing.T) {
		s := open(t)
		id := randomHex(t, 16)
		st := status(id)
		st.Status = txpipe.StatusRejected
		st.ErrorCount = 12345
		for i := range txpipe.MaxReportedErrors {
			st.Errors = append(st.Errors, txpipe.ErrorItem{
				Line: i + 2, Column: "amount", Value: fmt.Sprintf("1,%03d \"€\"\t", i), Message: "not a plain decimal",
			})
		}
		if _, _, err := s.CreateStatus(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		stored, err := s.GetStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "rejected record", stored, st)

		id2 := randomHex(t, 16)
		failed := status(id2)
		if _, _, err := s.CreateStatus(t.Context(), failed); err != nil {
			t.Fatal(err)
		}
		failed.Status = txpipe.StatusFailed
		failed.Failure = "transform: write batch of 1000 for file x: database is locked"
		failed.Attempts = 3
		if err := s.UpdateStatus(t.Context(), failed, txpipe.StatusValidated); err != nil {
			t.Fatal(err)
		}
		stored, err = s.GetStatus(t.Context(), id2)
		if err != nil {
			t.Fatal(err)
		}
		sameStatus(t, "failed record", stored, failed)
	})
}

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	rng *mrand.ChaCha8
	n   int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	_, _ = r.rng.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

// content returns a reader of n pseudo-random bytes and their hex SHA-256.
func content(t *testing.T, n int64) (func() io.Reader, string) {
	t.Helper()
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	mk := func() io.Reader { return &patternReader{rng: mrand.NewChaCha8(seed), n: n} }
	h := sha256.New()
	if _, err := io.Copy(h, mk()); err != nil {
		t.Fatal(err)
	}
	return mk, hex.EncodeToString(h.Sum(nil))
}

func readKey(t *testing.T, s workflow.FileStore, key string) (string, int64) {
	t.Helper()
	rc, err := s.OpenFile(t.Context(), key)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// failingReader returns err after n bytes.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestFileStore runs the contract of the file store. Keys are hex SHA-256
// sums of the bytes, as the workflow uses them.
func TestFileStore(t *testing.T, open func(t *testing.T) workflow.FileStore) {
	t.Run("PutOpenLargeStream", func(t *testing.T) {
		s := open(t)
		const size = 6<<20 + 12345
		mk, key := content(t, size)
		if err := s.PutFile(t.Context(), key, mk()); err != nil {
			t.Fatalf("PutFile: %v", err)
		}
		sum, n := readKey(t, s, key)
		if n != size || sum != key {
			t.Errorf("OpenFile: %d bytes with sha256 %s, want %d bytes with %s", n, sum, size, key)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		mk, key := content(t, 0)
		if err := s.PutFile(t.Context(), key, mk()); err != nil {
			t.Fatalf("PutFile: %v", err)
		}
		if sum, n := readKey(t, s, key); n != 0 || sum != key {
			t.Errorf("OpenFile: %d bytes with sha256 %s, want 0 bytes", n, sum)
		}
	})

	t.Run("OpenMissing", func(t *testing.T) {
		s := open(t)
		_, key := content(t, 10)
		_, err := s.OpenFile(t.Context(), key)
		if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
			t.Errorf("OpenFile of a missing key: error %v (code %q), want code %q", err, got, want)
		}
	})

	t.Run("OverwriteSameKey", func(t *testing.T) {
		s := open(t)
		mk, key := content(t, 100000)
		for i := range 3 {
			if err := s.PutFile(t.Context(), key, mk()); err != nil {
				t.Fatalf("PutFile #%d: %v", i+1, err)
			}
		}
		if sum, n := readKey(t, s, key); n != 100000 || sum != key {
			t.Errorf("OpenFile: %d bytes with sha256 %s, want 100000 bytes with %s", n, sum, key)
		}
	})

	t.Run("ManyKeys", func(t *testing.T) {
		s := open(t)
		keys := map[string]int64{}
		for i := range 5 {
			mk, key := content(t, int64(1000*i+1))
			if err := s.PutFile(t.Context(), key, mk()); err != nil {
				t.Fatal(err)
			}
			keys[key] = int64(1000*i + 1)
		}
		for key, size := range keys {
			if sum, n := readKey(t, s, key); n != size || sum != key {
				t.Errorf("OpenFile(%s): %d bytes with sha256 %s", key, n, sum)
			}
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		s := open(t)
		mk, key := content(t, 1<<20)
		boom := errors.New("client went away")
		err := s.PutFile(t.Context(), key, &failingReader{r: mk(), err: boom})
		if err == nil {
			t.Fatal("PutFile with a failing reader: no error")
		}
		_, err = s.OpenFile(t.Context(), key)
		if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
			t.Errorf("OpenFile after a failed put: error %v (code %q), want code %q", err, got, want)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		mk, key := content(t, 1<<20)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.PutFile(ctx, key, mk()); err == nil {
			// A store may finish a put it started; it must then hold the bytes.
			if sum, n := readKey(t, s, key); sum != key {
				t.Errorf("PutFile with a canceled context stored %d bytes with sha256 %s", n, sum)
			}
		}
	})
}

// memFiles is a FileStore in memory, for the intake subtest.
type memFiles struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memFiles) PutFile(ctx context.Context, key string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[key] = b
	return nil
}

func (m *memFiles) OpenFile(ctx context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[key]
	if !ok {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", key)
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// countingStarter counts the runs started.
type countingStarter struct{ n atomic.Int64 }

func (c *countingStarter) StartRun(ctx context.Context, st workflow.RunState) error {
	c.n.Add(1)
	return nil
}

// testConcurrentIntake submits the same bytes 20 times at once through the
// intake over the store: the status record's conditional write lets exactly
// one start the file's run; the others answer with its record.
func testConcurrentIntake(t *testing.T, statuses workflow.StatusStore) {
	files := &memFiles{files: map[string][]byte{}}
	starter := &countingStarter{}
	in := &workflow.Intake{Files: files, Statuses: statuses, Runs: starter}
	data := "transaction_id,amount,currency,timestamp,merchant,status\n" + "same-" + randomHex(t, 8) + ",1.00,USD,2026-01-02T03:04:05Z,Shop,completed\n"
	sum := sha256.Sum256([]byte(data))
	const n = 20
	var created atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			st, c, err := in.Submit(context.Background(), workflow.Upload{
				Filename: fmt.Sprintf("same-%d.csv", i), File: strings.NewReader(data), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
			})
			if err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
			if c {
				created.Add(1)
			}
			if st.Status != txpipe.StatusValidated && st.Status != txpipe.StatusProcessing {
				t.Errorf("submit %d: status %s", i, st.Status)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := created.Load(); got != 1 {
		t.Errorf("%d of %d concurrent identical uploads created the file, want 1", got, n)
	}
	if got := starter.n.Load(); got != 1 {
		t.Errorf("%d runs started for %d concurrent identical uploads, want 1", got, n)
	}
}

// FileLister is the status table with the console's file list.
type FileLister interface {
	workflow.StatusStore
	ListFiles(ctx context.Context, q txpipe.FileQuery) (txpipe.FilePage, error)
}

// TestFileList runs the contract of the file list: newest first, filters
// by status and by a part of the name (any case), cursor paging, records
// without errors or events. Records are created within the last hours.
func TestFileList(t *testing.T, open func(t *testing.T) FileLister) {
	s := open(t)
	token := randomHex(t, 6)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var want []string // newest first
	for i := range 7 {
		st := status(randomHex(t, 16))
		st.Filename = fmt.Sprintf("<b>%s</b>-%d.csv", token, i)
		st.CreatedAt = now.Add(-time.Duration(i) * time.Minute)
		st.UpdatedAt = st.CreatedAt
		if i%3 == 0 {
			st.Status = txpipe.StatusRejected
			st.ErrorCount = 1
			st.Errors = []txpipe.ErrorItem{{Line: 2, Column: "amount", Value: "x", Message: "not a decimal"}}
		}
		if _, _, err := s.CreateStatus(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		want = append(want, st.FileID)
	}
	list := func(q txpipe.FileQuery) []txpipe.FileStatus {
		t.Helper()
		var all []txpipe.FileStatus
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatalf("ListFiles(%+v): more than 50 pages", q)
			}
			p, err := s.ListFiles(t.Context(), q)
			if err != nil {
				t.Fatalf("ListFiles(%+v): %v", q, err)
			}
			if len(p.Items) > q.Limit {
				t.Fatalf("ListFiles(%+v): %d items, more than the limit", q, len(p.Items))
			}
			all = append(all, p.Items...)
			if p.NextCursor == "" {
				return all
			}
			q.Cursor = p.NextCursor
		}
	}
	ids := func(l []txpipe.FileStatus) []string {
		var out []string
		for _, st := range l {
			out = append(out, st.FileID)
		}
		return out
	}
	got := list(txpipe.FileQuery{Name: strings.ToUpper(token), Limit: 2})
	if !slices.Equal(ids(got), want) {
		t.Errorf("ListFiles(name, limit 2) = %v, want %v (newest first)", ids(got), want)
	}
	for _, st := range got {
		if len(st.Errors) != 0 || len(st.Events) != 0 {
			t.Errorf("ListFiles: record %s has %d errors and %d events, want none in a list", st.FileID, len(st.Errors), len(st.Events))
		}
	}
	rejected := list(txpipe.FileQuery{Name: token, Status: txpipe.StatusRejected, Limit: 50})
	if w := []string{want[0], want[3], want[6]}; !slices.Equal(ids(rejected), w) {
		t.Errorf("ListFiles(REJECTED) = %v, want %v", ids(rejected), w)
	}
	if got := list(txpipe.FileQuery{Name: token + "-nothing", Limit: 50}); len(got) != 0 {
		t.Errorf("ListFiles(no match) = %v, want none", ids(got))
	}
	if _, err := s.ListFiles(t.Context(), txpipe.FileQuery{Cursor: "not a cursor!"}); txpipe.ErrorCode(err) != txpipe.EINVALID {
		t.Errorf("ListFiles(bad cursor) = %v, want an %s error", err, txpipe.EINVALID)
	}
}

// TestTransactionFilters runs the merchant and currency filters of the
// transactions query, across pages.
func TestTransactionFilters(t *testing.T, open func(t *testing.T) TransactionStore) {
	s := open(t)
	start := window(t)
	fileID := randomHex(t, 16)
	var txs []txpipe.Transaction
	var wantAcmeEUR []string
	for i := range 40 {
		x := tx(randomHex(t, 8), fileID, start.Add(time.Duration(i)*time.Second), int64(100+i))
		if i%2 == 0 {
			x.Merchant = "Acme"
		}
		if i%4 < 2 {
			x.Currency = "EUR"
		}
		if x.Merchant == "Acme" && x.Currency == "EUR" {
			wantAcmeEUR = append(wantAcmeEUR, x.ID)
		}
		txs = append(txs, x)
	}
	put(t, s, txs)
	got := listAll(t, s, txpipe.TxQuery{From: start, To: start.Add(time.Hour), Limit: 3, Merchant: "Acme", Currency: "EUR"})
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if !slices.Equal(ids, wantAcmeEUR) {
		t.Errorf("Acme in EUR, 3 a page: %v, want %v", ids, wantAcmeEUR)
	}
	got = listAll(t, s, txpipe.TxQuery{From: start, To: start.Add(time.Hour), Limit: 7, Currency: "USD"})
	if len(got) != 20 {
		t.Errorf("USD: %d rows, want 20", len(got))
	}
}
