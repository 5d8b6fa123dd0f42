package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
)

// TestListConcurrentPages pages through the same range from many goroutines
// at once, more than a shard has reader connections, with one query a
// shard and with several (more generations than a query merges): each
// sees every row once, in the order one goroutine alone sees them, and
// none waits forever for a connection another query holds.
func TestListConcurrentPages(t *testing.T) {
	t.Parallel()
	db := openSmallGenerations(t, 4)
	rng := rand.New(rand.NewPCG(7, 8))
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var txs []txpipe.Transaction
	for i := range 400 {
		txs = append(txs, txpipe.Transaction{
			ID: fmt.Sprintf("tx-%05d", i), Amount: "1.00", AmountMinor: 100, Currency: "EUR",
			Timestamp: jan.Add(time.Duration(rng.IntN(30*24)) * time.Hour), Merchant: "m", Status: txpipe.TxCompleted, FileID: "f",
		})
	}
	putInBatches(t, db, txs)
	if err := db.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	list := func(limit int) ([]string, error) {
		var ids []string
		q := txpipe.TxQuery{From: jan, To: jan.AddDate(0, 1, 0), Limit: limit}
		for {
			page, err := db.ListTransactions(t.Context(), q)
			if err != nil {
				return nil, err
			}
			for _, x := range page.Items {
				ids = append(ids, x.ID)
			}
			if page.NextCursor == "" {
				return ids, nil
			}
			q.Cursor = page.NextCursor
		}
	}
	for _, arms := range []int{0, 3} {
		sqlite.SetListArms(db, arms)
		want, err := list(1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(txs) {
			t.Fatalf("arms %d: %d rows listed, want %d", arms, len(want), len(txs))
		}
		const clients = 10
		errs := make(chan error, clients)
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				got, err := list(5 + c)
				if err == nil && !slices.Equal(got, want) {
					err = fmt.Errorf("client %d listed %d rows, not the %d one client lists in its order", c, len(got), len(want))
				}
				errs <- err
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("arms %d: %d concurrent clients not done after a minute", arms, clients)
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("arms %d: %v", arms, err)
			}
		}
	}
}
