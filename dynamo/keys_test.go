//go:build integration

package dynamo

import (
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
)

// TestStoredItemKeys reads a stored transaction back raw and checks the
// index keys agreed with the CDK stack (notes/aws-names.md): what another
// tool querying the table by-time would rely on.
func TestStoredItemKeys(t *testing.T) {
	c := client(t)
	table := newTxTable(t, c)
	s := NewTransactionStore(c, table, WithTimeShards(5))
	ts := time.Date(2026, 2, 28, 23, 30, 1, 5000, time.FixedZone("x", 3600)) // 22:30:01.000005 UTC
	tx := txpipe.Transaction{ID: "tx-raw-1", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: ts,
		Merchant: "M", Status: txpipe.TxPending, FileID: "file-1"}
	if _, err := s.PutTransactions(t.Context(), []txpipe.Transaction{tx}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"transaction_id": &types.AttributeValueMemberS{Value: tx.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	h.Write([]byte(tx.ID))
	want := map[string]string{
		"time_bucket": fmt.Sprintf("2026-02-28#%d", h.Sum32()%5),
		"time_key":    "2026-02-28T22:30:01.000005000Z#tx-raw-1",
		"timestamp":   "2026-02-28T22:30:01.000005000Z",
		"file_id":     "file-1",
		"outcome":     "inserted",
		"status":      "pending",
	}
	for name, w := range want {
		if got := str(out.Item, name); got != w {
			t.Errorf("attribute %s = %q, want %q", name, got, w)
		}
	}
	if n, ok := out.Item["amount_minor"].(*types.AttributeValueMemberN); !ok || n.Value != "100" {
		t.Errorf("amount_minor = %#v, want N 100", out.Item["amount_minor"])
	}
}

// TestCursorOfAnotherRange checks that a cursor only continues the query
// that made it.
func TestCursorOfAnotherRange(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.PutTransactions(t.Context(), makeTxs("cur", "f", base, 10)); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: base, To: base.Add(time.Hour), Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 4 || page.NextCursor == "" {
		t.Fatalf("first page: %d items, cursor %q; want 4 and a cursor", len(page.Items), page.NextCursor)
	}
	_, err = s.ListTransactions(t.Context(), txpipe.TxQuery{From: base.Add(time.Hour), To: base.Add(2 * time.Hour), Cursor: page.NextCursor})
	if got, want := txpipe.ErrorCode(err), txpipe.EINVALID; got != want {
		t.Errorf("cursor used on another range: %v (code %q), want %q", err, got, want)
	}
	rest, err := s.ListTransactions(t.Context(), txpipe.TxQuery{From: base, To: base.Add(time.Hour), Limit: 4, Cursor: page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Items) != 4 || rest.Items[0].ID != "cur-000004" {
		t.Errorf("second page starts at %v, want cur-000004", rest.Items)
	}
}
