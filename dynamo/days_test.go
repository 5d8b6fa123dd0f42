//go:build integration

package dynamo

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
)

// countingQuerier counts the Query calls the store makes.
type countingQuerier struct {
	q     querier
	calls atomic.Int64
}

func (c *countingQuerier) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.calls.Add(1)
	return c.q.Query(ctx, in, opts...)
}

// countingWriter counts the items the store sends to BatchWriteItem.
type countingWriter struct {
	w     batchWriter
	items atomic.Int64
}

func (c *countingWriter) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	for _, reqs := range in.RequestItems {
		c.items.Add(int64(len(reqs)))
	}
	return c.w.BatchWriteItem(ctx, in, opts...)
}

func tx(id, fileID string, ts time.Time) txpipe.Transaction {
	return txpipe.Transaction{ID: id, Amount: "1.00", AmountMinor: 100, Currency: "EUR", Timestamp: ts,
		Merchant: "M", Status: txpipe.TxCompleted, FileID: fileID}
}

// TestWideRangeVisitsOnlyDaysWithData lists a century that holds a few rows
// on a few days: every row comes back once, in order, across pages, at the
// cost of the days with data, not of the 36,525 days of the range.
func TestWideRangeVisitsOnlyDaysWithData(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	q := &countingQuerier{q: c}
	s.query = q
	day := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	from, to := day(2000, 1, 1, 0), day(2100, 1, 1, 0)
	// Two files, three batches, rows on five days; the edges of the range
	// are inside (from) and outside (to, and just before from).
	batches := [][]txpipe.Transaction{
		{tx("a-1", "f1", from), tx("a-2", "f1", day(2003, 3, 4, 10)), tx("a-3", "f1", day(2003, 3, 4, 9)),
			tx("out-before", "f1", from.Add(-time.Nanosecond))},
		{tx("b-1", "f2", day(2050, 7, 1, 12)), tx("b-2", "f2", day(2050, 7, 1, 12)), tx("out-after", "f2", to)},
		{tx("c-1", "f2", to.Add(-time.Nanosecond)), tx("c-2", "f2", day(2024, 2, 29, 23))},
	}
	for _, b := range batches {
		if _, err := s.PutTransactions(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a-1", "a-3", "a-2", "c-2", "b-1", "b-2", "c-1"}

	var got []string
	pages := 0
	query := txpipe.TxQuery{From: from, To: to, Limit: 2}
	for {
		page, err := s.ListTransactions(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, x := range page.Items {
			if x.ID == "" || strings.HasPrefix(x.ID, markerPrefix) || x.Amount == "" {
				t.Fatalf("page %d lists a day marker as a transaction: %+v", pages, x)
			}
			got = append(got, x.ID)
		}
		if page.NextCursor == "" {
			break
		}
		if pages > len(want) {
			t.Fatalf("more than %d pages", pages)
		}
		query.Cursor = page.NextCursor
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want %v", got, want)
	}
	// A page reads markers (one Query, there are 5 of them) and then the 8
	// shards of each day it visits; a shard asked for 2 rows that has 2
	// may need a second Query to learn it has no more. Without markers
	// this would be 36,525 x 8 Query calls a page.
	const daysWithData, shards = 5, DefaultTimeShards
	bound := int64(pages + 2*pages*daysWithData*shards)
	if n := q.calls.Load(); n > bound {
		t.Errorf("%d pages cost %d Query calls, want at most %d", pages, n, bound)
	} else {
		t.Logf("%d pages over 2000-2100 cost %d Query calls", pages, n)
	}

	// The whole century in one page: one marker query and 8 per day.
	q.calls.Store(0)
	page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: from, To: to, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(want) || page.NextCursor != "" {
		t.Errorf("one page of 100: %d items, cursor %q; want %d and no cursor", len(page.Items), page.NextCursor, len(want))
	}
	if got, want := q.calls.Load(), int64(1+daysWithData*shards); got != want {
		t.Errorf("one page over 2000-2100 cost %d Query calls, want %d", got, want)
	}
}

// TestDayMarkers reads the markers back raw, as another tool would, and
// checks that each day is marked once per store and that a marker's key
// cannot be written as a transaction.
func TestDayMarkers(t *testing.T) {
	c := client(t)
	table := newTxTable(t, c)
	s := NewTransactionStore(c, table)
	w := &countingWriter{w: c}
	s.write = w
	at := time.Date(2031, 12, 31, 23, 0, 0, 0, time.FixedZone("x", -3600)) // 2032-01-01 00:00 UTC

	if _, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx("m-1", "f1", at), tx("m-2", "f1", at.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.items.Load(), int64(2+2); got != want {
		t.Errorf("first batch wrote %d items, want 2 rows and 2 markers", got)
	}
	for _, day := range []string{"2032-01-01", "2031-12-31"} {
		out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: "\x00day\x00" + day}}})
		if err != nil {
			t.Fatal(err)
		}
		if b, k := str(out.Item, TimeBucketKey), str(out.Item, TimeSortKey); b != "#days" || k != day {
			t.Errorf("marker of %s: time_bucket %q time_key %q, want \"#days\" %q", day, b, k, day)
		}
	}
	// The same day again: rows only, the store remembers the marker.
	w.items.Store(0)
	if _, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx("m-3", "f2", at.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if got := w.items.Load(); got != 1 {
		t.Errorf("second batch on a marked day wrote %d items, want 1 row", got)
	}
	// Another process marks it again, harmlessly: still one marker a day.
	other := NewTransactionStore(c, table)
	if _, err := other.PutTransactions(t.Context(), []txpipe.Transaction{tx("m-4", "f3", at.Add(2*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	markers := 0
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			if isMarker(item) {
				markers++
			}
		}
	}
	if markers != 2 {
		t.Errorf("%d markers in the table, want 2 (one a day)", markers)
	}

	// A marker's key as a transaction id is refused, and the marker stays.
	_, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx("\x00day\x002032-01-01", "f4", at)})
	if got, want := txpipe.ErrorCode(err), txpipe.EINVALID; got != want {
		t.Errorf("PutTransactions of a marker's id: %v (code %q), want %q", err, got, want)
	}
	page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: at.Add(-24 * time.Hour), To: at.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range page.Items {
		ids = append(ids, x.ID)
	}
	if got, want := strings.Join(ids, " "), "m-2 m-1 m-3 m-4"; got != want {
		t.Errorf("listed %q, want %q", got, want)
	}
}

// TestEmptyMarkedDay lists a range whose only marked day has no rows (its
// rows failed to land after the marker did, or moved to another day).
func TestEmptyMarkedDay(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	ts := time.Date(2040, 5, 5, 5, 0, 0, 0, time.UTC)
	if _, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx("e-1", "f1", ts)}); err != nil {
		t.Fatal(err)
	}
	// The transaction moves to the next day; 2040-05-05 keeps its marker.
	if _, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx("e-1", "f2", ts.AddDate(0, 0, 1))}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: ts.AddDate(-1, 0, 0), To: ts.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != "e-1" || !page.Items[0].Timestamp.Equal(ts.AddDate(0, 0, 1)) {
		t.Errorf("listed %+v, want e-1 on 2040-05-06 only", page.Items)
	}
}

// TestMarkStoredDays backfills the markers of a table whose rows were
// written without them: before, a query does not see the rows; after, it
// lists them all.
func TestMarkStoredDays(t *testing.T) {
	c := client(t)
	table := newTxTable(t, c)
	s := NewTransactionStore(c, table)
	base := time.Date(2025, 12, 31, 23, 59, 59, 998_000_000, time.UTC)
	txs := makeTxs("old", "f1", base, 5) // over 2025-12-31 and 2026-01-01
	putAll(t, s, txs)
	for _, day := range []string{"2025-12-31", "2026-01-01"} {
		// What a table written before the markers looks like.
		if _, err := c.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: markerPrefix + day}}}); err != nil {
			t.Fatal(err)
		}
	}
	q := txpipe.TxQuery{From: base.AddDate(-1, 0, 0), To: base.AddDate(1, 0, 0)}
	if page, err := NewTransactionStore(c, table).ListTransactions(t.Context(), q); err != nil || len(page.Items) != 0 {
		t.Fatalf("before the backfill: %d items, %v; want none (the days are not marked)", len(page.Items), err)
	}
	n, err := NewTransactionStore(c, table).MarkStoredDays(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("MarkStoredDays found %d days, want 2", n)
	}
	page, err := s.ListTransactions(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range page.Items {
		ids = append(ids, x.ID)
	}
	if got, want := strings.Join(ids, " "), "old-000000 old-000001 old-000002 old-000003 old-000004"; got != want {
		t.Errorf("after the backfill: listed %q, want %q", got, want)
	}
}
